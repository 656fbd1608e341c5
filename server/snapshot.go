package server

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/cockroachdb/pebble"

	"github.com/natsraft/natsraft/actor"
	"github.com/natsraft/natsraft/raft"
	"github.com/natsraft/natsraft/store"
)

// Log compaction and snapshots (§7) without a second copy of the state:
// the key-value state lives in the store's Pebble database next to the
// log, with the applied index written in the same batches, so the applied
// state is itself the snapshot. Compacting the log writes no image; an
// image is encoded only when a follower needs one, from a Pebble snapshot.
//
// A snapshot's data is the membership with names, then the key-value
// state (kv.Store.SnapshotFrom):
//
//	+----------------+------------------------+----------------------+
//	| members length | members (msgpack)      | kv snapshot          |
//	| 4 bytes (BE)   |                        | rest                 |
//	+----------------+------------------------+----------------------+

// checkpoint is an applied index and the membership in force at it: a
// point the log may later be compacted to (the store records the
// membership as the snapshot's).
type checkpoint struct {
	index uint64
	conf  raft.ConfState
}

// maybeCompactLog runs after each apply. Every SnapshotEntries/2 applied
// entries it compacts the log to the previous such point, and records
// this one: the log thus keeps between SnapshotEntries/2 and
// SnapshotEntries applied entries, a tail from which a follower slightly
// behind catches up without an image. The compaction is not synced: the
// state machine's batches that cover it precede it in Pebble's WAL, so
// they are durable whenever it is. While an image is being encoded or
// sent, compaction waits, so that the image's index stays in the log and
// the follower can go on from it with entries.
func (n *Node) maybeCompactLog() {
	applied := n.store.Applied()
	if applied < n.nextCheckpoint || n.snapshotBuilding || n.snapshotsSending > 0 {
		return
	}
	if c := n.checkpoint; c != nil {
		must(n.store.Compact(c.index, c.conf), "compacting log")
		if n.outgoing != nil && n.outgoing.Metadata.Index < c.index {
			n.outgoing = nil // followers would need entries it lacks
		}
	}
	n.checkpoint = &checkpoint{index: applied, conf: n.members.confState()}
	n.nextCheckpoint = applied + max(n.cfg.SnapshotEntries/2, 1)
}

// raftStorage is the raft.Storage the core reads: the store, whose
// Snapshot holds metadata only, with Snapshot answered by the node.
type raftStorage struct {
	*store.Store
	n *Node
}

// Snapshot implements raft.Storage on the actor. It returns the image
// encoded last if followers can still go on from it with entries; if not,
// it starts encoding one and says to retry (the core does at the next
// heartbeat response).
func (s raftStorage) Snapshot() (raft.Snapshot, error) {
	n := s.n
	first, err := n.store.FirstIndex()
	if err != nil {
		return raft.Snapshot{}, err
	}
	if o := n.outgoing; o != nil && o.Metadata.Index+1 >= first {
		return *o, nil
	}
	n.outgoing = nil
	if !n.snapshotBuilding {
		n.buildSnapshot()
	}
	return raft.Snapshot{}, raft.ErrSnapshotTemporarilyUnavailable
}

// buildSnapshot encodes an image of the state at the applied index. The
// Pebble snapshot taken here, on the actor between applies, holds exactly
// that state; a goroutine encodes it while the node goes on, and the
// result comes back as an evSnapshotBuilt event.
func (n *Node) buildSnapshot() {
	applied := n.store.Applied()
	term, err := n.store.Term(applied)
	must(err, "reading the applied entry's term")
	members, err := n.members.encode()
	must(err, "encoding members")
	md := raft.SnapshotMetadata{Index: applied, Term: term, ConfState: n.members.confState()}
	built := &builtSnapshot{snap: raft.Snapshot{Metadata: md}}
	pebbleSnap := n.store.DB().NewSnapshot()
	n.snapshotBuilding = true
	n.snapshotWriters.Add(1)
	go func() {
		defer n.snapshotWriters.Done()
		defer pebbleSnap.Close()
		built.snap.Data, built.err = n.snapshotData(pebbleSnap, members)
		if err := n.actor.Send(actor.System, event{kind: evSnapshotBuilt, snapshot: built}); err != nil {
			n.log.Warn("snapshot built after the node stopped", "index", md.Index)
		}
	}()
}

// builtSnapshot is an image encoded off the actor.
type builtSnapshot struct {
	snap raft.Snapshot
	err  error
}

// snapshotBuilt keeps the image for the core's next Snapshot call.
func (n *Node) snapshotBuilt(b *builtSnapshot) {
	n.snapshotBuilding = false
	must(b.err, "building snapshot")
	n.outgoing = &b.snap
	n.log.Info("snapshot built for a follower", "index", b.snap.Metadata.Index, "bytes", len(b.snap.Data))
}

// noteSnapshotsSent counts the images handed to the transport; they are
// in flight until it reports each (evSnapshotSent).
func (n *Node) noteSnapshotsSent(msgs []raft.Message) {
	for i := range msgs {
		if msgs[i].Type == raft.MsgSnap {
			n.snapshotsSending++
		}
	}
}

// snapshotTransferred reports a transfer's outcome to the core, and lets
// the image go once no transfer uses it: it may be as large as the store,
// and a follower that needs one later gets a fresher one.
func (n *Node) snapshotTransferred(to uint64, ok bool) {
	n.snapshotsSending--
	if n.snapshotsSending == 0 {
		n.outgoing = nil
	}
	n.rn.ReportSnapshot(to, !ok)
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

// restoreSnapshot writes into b, the batch that installs snap (a leader
// sent it), the state machine's switch to snap's image: the key-value
// state, the members and the applied index. One batch makes the switch
// atomic: a crash leaves the old state and log or the new ones. It
// returns the new member table, for snapshotInstalled once b commits.
func (n *Node) restoreSnapshot(b *store.Batch, snap raft.Snapshot) *memberTable {
	r := bytes.NewReader(snap.Data)
	var length [4]byte
	_, err := io.ReadFull(r, length[:])
	must(err, "reading snapshot header")
	members := make([]byte, binary.BigEndian.Uint32(length[:]))
	_, err = io.ReadFull(r, members)
	must(err, "reading snapshot members")
	table := newMemberTable()
	must(table.decode(members), "decoding snapshot members")
	must(n.kv.Restore(r, b.Pebble()), "restoring key-value state")
	must(table.save(b.Pebble()), "saving members")
	b.SetApplied(snap.Metadata.Index)
	return table
}

// snapshotInstalled makes memory follow an installed snapshot.
func (n *Node) snapshotInstalled(snap raft.Snapshot, table *memberTable) {
	n.kv.Committed()
	n.members = table
	if n.tr != nil {
		n.tr.SetMembers(n.acceptedPeers())
	}
	n.checkpoint, n.outgoing = nil, nil
	n.nextCheckpoint = snap.Metadata.Index + max(n.cfg.SnapshotEntries/2, 1)
	n.log.Info("installed snapshot", "index", snap.Metadata.Index, "bytes", len(snap.Data))
}
