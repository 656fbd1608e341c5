// Package natstransport carries Raft messages between nodes as msgpack over
// core NATS publish (no request-reply: every response is its own message),
// and starts the embedded nats-server of the single binary and the tests.
//
// # Use
//
// A node connects (Connect: reconnects forever, counts events), creates one
// Transport per Raft group (New), hands it the Messages of every Ready
// (Send), and receives batches in Config.Handler. Membership changes go to
// SetMembers; the outcome of each snapshot transfer comes back through
// Config.SnapshotStatus, for raft's ReportSnapshot.
//
// # Subjects and lanes
//
// Every node subscribes to three subjects per group (see subjects.go):
//
//	natsraft.<cluster>.raft.<group>.<node>.ctrl   heartbeats, votes, pre-votes, TimeoutNow,
//	                                              ReadIndex, TransferLeader; snapshot acks
//	natsraft.<cluster>.raft.<group>.<node>.app    MsgApp, MsgAppResp, MsgProp
//	natsraft.<cluster>.raft.<group>.<node>.snap   snapshot chunks
//
// Each lane has its own subscription, so its own delivery goroutine in the
// NATS client: a handler slowed by appends, or a snapshot being reassembled,
// never delays a heartbeat or a vote (election storms are the known cost of
// sharing one queue). Send publishes one envelope per destination per lane
// (more only when they would exceed max_payload). Raft tolerates the
// reordering between lanes: every message is idempotent against the term
// and log state it carries.
//
// # Wire format
//
// Every NATS message is one envelope: a msgpack array whose first field is
// the wire version. Field lists, in order:
//
//	Envelope   [ version=1 | kind | cluster | group | from | to | body ]
//	           uint          uint   str       str     uint   uint
//	  kind 1 batch: body = [ Message, ... ]             lanes ctrl, app
//	  kind 2 chunk: body = Chunk                        lane snap
//	  kind 3 ack:   body = Ack                          lane ctrl of the snapshot's sender
//
//	Message    [ type | term | logTerm | index | commit | reject | rejectHint | context | entries   | snapshot ]
//	           uint   uint   uint      uint    uint     bool     uint         bin|nil   [Entry...]  Snapshot|nil
//	Entry      [ term | index | type | data ]
//	           uint   uint    uint   bin|nil
//	Snapshot   [ index | term | voters   | learners | data ]
//	           uint    uint   [uint...]  [uint...]  bin|nil
//	Chunk      [ transfer | offset | total | totalCRC | chunkCRC | data | header ]
//	           uint       uint     uint    uint       uint       bin    Message|nil
//	Ack        [ transfer | offset | status ]
//	           uint       uint     uint: 1 progress, 2 resend from offset, 3 done, 4 abort
//
// Messages carry no From and To: the envelope's from and to apply to all.
// Integers use msgpack's shortest form. A decoder accepts a struct with
// more fields than it knows and skips the extras (nested at most 8 deep),
// so a later version may append fields without changing the version; a
// different version is dropped. The nested structs are versioned by their
// envelope.
//
// # Snapshots
//
// A MsgSnap handed to Send goes to a transfer goroutine (one per peer at a
// time; a second MsgSnap to a busy peer is dropped, since raft waits for the
// first's outcome). The image travels in chunks below the server's
// max_payload (Config.Snapshot.ChunkBytes, 256 KiB by default), each with
// its CRC-32C and the image's total size and CRC-32C; the first chunk also
// carries the MsgSnap with the snapshot's metadata. Up to WindowChunks
// chunks are unacknowledged (go-back-N):
//
//	sender                                 receiver (one partial image per sender)
//	chunk off=0 (+header)   ------------>  start image              <-- progress 256K
//	chunk off=256K          ----X (lost)
//	chunk off=512K          ------------>  gap at 256K              <-- resend 256K
//	chunk off=256K          ------------>  append                   <-- progress 512K
//	...                                    last chunk: verify whole, deliver MsgSnap
//	                                                                <-- done
//
// A gap or a corrupt chunk makes the receiver ask to resend from what it
// holds; with no acknowledgement for AckTimeout the sender resumes from the
// last acknowledged offset (so a transfer survives a NATS reconnect);
// RetriesMax timeouts in a row fail it. The receiver delivers one
// raft.Message with the whole Snapshot to Handler, then acknowledges done
// (repeated if the done is lost). A receiver refuses images over
// Limits.SnapshotBytesMax at the first chunk and discards a partial image
// idle for IdleTimeout.
//
// # Untrusted input
//
// Everything from the wire is untrusted. An envelope is dropped, and
// counted by DropReason in Stats, when it is malformed msgpack, of another
// version or kind, of another cluster or group, addressed to another node,
// or sent by a node outside the member set; a message of an unknown or
// local type, or of a type that does not belong on its lane, is dropped
// alone. Every length (messages, entries, data, context, IDs, snapshot
// size) is checked against Limits before anything is allocated, and no
// list may claim more elements than there are bytes left. The decoder is
// fuzzed (FuzzDecodeBatch).
//
// nats.go hands each subscription callback its own copy of the payload;
// decoded entries, contexts and chunk data alias that copy, so the Handler
// owns what it receives and nothing points into the client's read buffer.
// A received batch costs two allocations (the message slice and each
// message's entry slice), whatever the number of entries.
//
// # For the node
//
//   - Handler runs on up to three goroutines at once and must be quick:
//     push into the network mailbox (dropping when full is fine: Raft
//     tolerates loss) and return. It may still run briefly during Close.
//   - SnapshotStatus must not block, and must not be dropped: raft keeps
//     the peer in the snapshot state until it hears the outcome.
//   - Send does not block on peers, but it runs the encoder and copies into
//     the client's buffer: call it from the node actor after the Ready's
//     durable write (vote and append responses must follow the sync). It
//     keeps nothing but a MsgSnap's Snapshot.Data, which must stay
//     unmodified until SnapshotStatus reports.
//   - Raft's per-message byte limit should stay well below max_payload; a
//     single message larger than max_payload is dropped (DropTooLarge).
//   - SetMembers takes voters and learners; a node that joins must be given
//     the existing members before it can hear from the leader.
//   - Decoded Entry.Data and Context alias one buffer per NATS message; do
//     not modify them (they may be stored and applied as they are).
package natstransport
