package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/natsraft/natsraft/raft"
)

// A snapshot's data is the membership with names, then the key-value
// state (kv.Store.Snapshot):
//
//	+----------------+------------------------+----------------------+
//	| members length | members (msgpack)      | kv snapshot          |
//	| 4 bytes (BE)   |                        | rest                 |
//	+----------------+------------------------+----------------------+

// maybeSnapshot takes a snapshot and compacts the log once enough entries
// were applied since the last one (§7). It runs on the actor right after
// apply, so the state is exactly that of the applied index.
//
// NB: the snapshot is built on the actor's goroutine; a large store
// pauses the node while it is written. Building it from a Pebble snapshot
// on another goroutine is the fix when stores grow.
func (n *Node) maybeSnapshot() {
	applied := n.store.Applied()
	if applied < n.lastSnapshotIndex+n.cfg.SnapshotEntries {
		return
	}
	data, err := n.snapshotData()
	must(err, "building snapshot")
	_, err = n.store.CreateSnapshot(applied, n.members.confState(), data)
	must(err, "saving snapshot")
	// Keep a tail of the log so followers slightly behind catch up from
	// entries instead of a whole snapshot.
	if keep := n.cfg.SnapshotEntries / 2; applied > keep {
		must(n.store.Compact(applied-keep), "compacting log")
	}
	n.lastSnapshotIndex = applied
	n.log.Info("snapshot taken", "index", applied, "bytes", len(data))
}

func (n *Node) snapshotData() ([]byte, error) {
	members, err := n.members.encode()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	var length [4]byte
	binary.BigEndian.PutUint32(length[:], uint32(len(members)))
	buf.Write(length[:])
	buf.Write(members)
	if err := n.kv.Snapshot(&buf); err != nil {
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
