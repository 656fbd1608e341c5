// Package server wires one natsraft node: the actor that drives the Raft
// core (raft/) over the Pebble store (store/) and the NATS transport
// (natstransport/), and applies committed entries to the key-value state
// machine (kv/). The client APIs (server/natsapi, server/httpapi,
// server/etcdapi) are thin adapters over the service layer in api.go.
//
// # The node actor
//
// Everything that touches Raft state runs on one goroutine (actor/), which
// handles its mailbox in batches (loop.go):
//
//  1. Step every event of the batch: ticks, peers' messages, client
//     writes (Propose), linearizable reads (ReadIndex), membership changes.
//     A leader holds client writes while its last append is uncommitted
//     and proposes them together once it commits (loop.go, propose).
//  2. While the core has a Ready: send Ready.Messages (a leader's appends
//     may leave before its own sync, dissertation §10.2.1); on the leader,
//     apply the committed entries already stored and answer their callers
//     (splitDurable); persist the hard state, entries and any snapshot
//     with the state machine's restore of it in one Pebble batch with one
//     sync (persist); send Ready.MessagesAfterSync (votes, acks); apply
//     the other committed entries (on a follower, all: it acknowledges
//     first) in one indexed batch that also records the applied index
//     (apply.go), then answer the waiting callers; release reads whose
//     index is applied; Advance.
//
// A burst of client writes thus costs one log append, one fsync and one
// message per peer; under load, a batch is every write that arrived while
// the previous one was being replicated. A storage error panics: the actor stops the node
// (fail-stop) rather than go on with state it cannot trust.
//
// # Log entries
//
// A normal entry carries the proposer's ID and a sequence number before the
// encoded kv.Request (entry.go), so the node that proposed it answers its
// caller once it is applied; other nodes only apply it. The sequence
// starts at random on every start, so entries of an earlier run never
// answer callers of this one. Conf change entries carry the member's name.
//
// # Snapshots
//
// The key-value state lives in the store's Pebble database, written with
// the applied index, so the applied state is the snapshot: compacting the
// log copies nothing. Every Config.SnapshotEntries/2 applied entries the
// actor compacts the log to the previous such point, keeping a tail for
// followers slightly behind (snapshot.go). For a follower too far behind,
// the core asks for a snapshot: the actor takes a Pebble snapshot (the
// exact state at the applied index), a goroutine encodes it, and the
// image goes over NATS; the follower restores it in the batch that
// installs it.
package server
