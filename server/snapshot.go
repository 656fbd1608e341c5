package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble"

	"github.com/natsraft/natsraft/actor"
	"github.com/natsraft/natsraft/raft"
)

// A snapshot's data is the membership with names, then the key-value
// state (kv.Store.Snapshot):
//
//	+----------------+------------------------+----------------------+
//	| members length | members (msgpack)      | kv snapshot          |
//	| 4 bytes (BE)   |                        | rest                 |
//	+----------------+------------------------+----------------------+

// maybeSnapshot starts a snapshot once enough entries were applied since
// the last one (§7). The image is read from a Pebble snapshot taken here,
// on the actor, right after apply: it holds exactly the state at the
// applied index, while a goroutine encodes it and the node goes on. The
// result comes back as an evSnapshotBuilt event, which records it and
// compacts the log.
func (n *Node) maybeSnapshot() {
	applied := n.store.Applied()
	if n.snapshotBuilding || applied < n.lastSnapshotIndex+n.cfg.SnapshotEntries {
		return
	}
	members, err := n.members.encode()
	must(err, "encoding members")
	built := &builtSnapshot{index: applied, conf: n.members.confState()}
	pebbleSnap := n.store.DB().NewSnapshot()
	n.snapshotBuilding = true
	n.snapshotWriters.Add(1)
	go func() {
		defer n.snapshotWriters.Done()
		defer pebbleSnap.Close()
		built.data, built.err = n.snapshotData(pebbleSnap, members)
		if err := n.actor.Send(actor.System, event{kind: evSnapshotBuilt, snapshot: built}); err != nil {
			n.log.Warn("snapshot built after the node stopped", "index", built.index)
		}
	}()
}

// builtSnapshot is a snapshot image encoded off the actor.
type builtSnapshot struct {
	index uint64
	conf  raft.ConfState
	data  []byte
	err   error
}

// snapshotBuilt records a snapshot and compacts the log, keeping a tail so
// followers slightly behind catch up from entries instead of an image.
func (n *Node) snapshotBuilt(b *builtSnapshot) {
	n.snapshotBuilding = false
	must(b.err, "building snapshot")
	if b.index <= n.lastSnapshotIndex {
		return // a leader's snapshot was installed meanwhile
	}
	_, err := n.store.CreateSnapshot(b.index, b.conf, b.data)
	must(err, "saving snapshot")
	if keep := n.cfg.SnapshotEntries / 2; b.index > keep {
		must(n.store.Compact(b.index-keep), "compacting log")
	}
	n.lastSnapshotIndex = b.index
	n.log.Info("snapshot taken", "index", b.index, "bytes", len(b.data))
}

// snapshotData encodes the members, then the key-value state held by r.
func (n *Node) snapshotData(r pebble.Reader, members []byte) ([]byte, error) {
	var buf bytes.Buffer
	var length [4]byte
	binary.BigEndian.PutUint32(length[:], uint32(len(members)))
	buf.Write(length[:])
	buf.Write(members)
	if err := n.kv.SnapshotFrom(r, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// restoreSnapshot replaces the state machine with a snapshot's (a leader
// sent it, or a restart found the applied state behind the snapshot).
func (n *Node) restoreSnapshot(snap raft.Snapshot) {
	r := bytes.NewReader(snap.Data)
	var length [4]byte
	_, err := io.ReadFull(r, length[:])
	must(err, "reading snapshot header")
	members := make([]byte, binary.BigEndian.Uint32(length[:]))
	_, err = io.ReadFull(r, members)
	must(err, "reading snapshot members")
	table := newMemberTable()
	must(table.decode(members), "decoding snapshot members")

	b := n.store.NewIndexedBatch()
	defer b.Close()
	must(n.kv.Restore(r, b.Pebble()), "restoring key-value state")
	must(table.save(b.Pebble()), "saving members")
	b.SetApplied(snap.Metadata.Index)
	must(b.Commit(), "committing restored state")
	n.kv.Committed()
	n.members = table
	if n.tr != nil {
		n.tr.SetMembers(n.acceptedPeers())
	}
	n.lastSnapshotIndex = snap.Metadata.Index
	n.log.Info("restored snapshot", "index", snap.Metadata.Index, "bytes", len(snap.Data))
}

// restoreFromSnapshotIfBehind finishes an install that a crash cut short:
// the snapshot was persisted but the state machine not yet restored.
func (n *Node) restoreFromSnapshotIfBehind() (err error) {
	snap, err := n.store.Snapshot()
	if err != nil {
		return err
	}
	if snap.IsEmpty() || n.store.Applied() >= snap.Metadata.Index {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("server: restoring snapshot at start: %v", r)
		}
	}()
	n.restoreSnapshot(snap)
	return nil
}
