// Package raft is the consensus core of natsraft: a deterministic Raft
// state machine, following the Raft paper (Ongaro & Ousterhout, extended
// version; "§5.x" below) and the Raft dissertation (Ongaro 2014,
// "dissertation §x.y").
//
// The core does no I/O, starts no goroutine, reads no clock and uses no
// global randomness: time is Tick, randomness is Config.Rand, and all
// input arrives through Node's methods. The same seed and the same inputs
// give the same outputs, which is what the simulator in raft/sim relies on.
//
// # The driver's duties
//
// A driver (the node actor in server/, the simulator, the tests) owns a
// Node and loops: feed it input (Tick, Step, Propose, ProposeConfChange,
// ReadIndex, TransferLeadership), then, while HasReady, take a Ready and
// do, in this order:
//
//  1. Persist Ready.HardState, Ready.Entries and Ready.Snapshot: one
//     write batch and one sync when Ready.MustSync. A Ready.Snapshot's
//     restore of the state machine best goes in the same batch, which
//     makes the switch atomic. Entries replace any
//     stored entries from Entries[0].Index on. Ready.Messages may be sent
//     before or while this happens: they are a leader's appends,
//     heartbeats and snapshots, which depend on nothing being durable
//     here (dissertation §10.2.1: the leader writes its log in parallel
//     with replication; its own copy counts towards a quorum only after
//     Advance reports it durable).
//  2. Send Ready.MessagesAfterSync: votes and vote requests, append and
//     heartbeat responses. They acknowledge state written in step 1
//     (Figure 2: "respond to RPCs only after updating stable storage"),
//     so a node that crashes cannot vote twice or forget an entry it
//     acknowledged.
//  3. If Ready.Snapshot is set and step 1 did not restore the state
//     machine from it, do so now. Then apply Ready.CommittedEntries, in order, exactly once (persist the
//     applied index with the state machine's changes, so a restart
//     resumes exactly there and passes it as Config.Applied).
//  4. Serve each Ready.ReadStates entry once the applied index reaches its
//     Index (dissertation §6.4).
//  5. Call Advance.
//
// The driver may compact the log up to the applied index once the state
// machine's effects of the entries are durable (storage's business; the
// core reads FirstIndex). Storage.InitialState's ConfState is then the
// membership in force at FirstIndex()-1: the core replays the conf
// changes of the entries after it. Storage.Snapshot may build its image
// lazily: ErrSnapshotTemporarilyUnavailable makes the leader retry at the
// follower's next heartbeat response.
// It tracks the membership for snapshots by applying committed
// EntryConfChange entries with ConfState.Apply.
//
// # What is implemented
//
// Leader election with randomized timeouts (§5.2) and PreVote
// (dissertation §9.6); CheckQuorum and leader stickiness (dissertation
// §6.2, §4.2.3); log replication (§5.3) with the term-skipping back-off,
// pipelining bounded by MaxInflightMsgs, a per-message byte limit and
// probing after a rejection; the commit rule of §5.4.2 with a no-op on
// election; proposal batching (every proposal stepped before a Ready
// travels in one MsgApp per follower); snapshots and InstallSnapshot (§7);
// single-server membership changes with learners (dissertation §4);
// leadership transfer (dissertation §3.10); ReadIndex reads (dissertation
// §6.4), batched into heartbeat rounds; proposal and read forwarding.
//
// # Divergences from the paper and the dissertation
//
//   - Membership changes take effect when appended, as in dissertation §4.1,
//     and are undone if the entry is truncated; unlike etcd/raft, which
//     applies them when committed. A leader accepts a change only after it
//     committed an entry of its own term (the fix for the single-server
//     change bug the dissertation's errata describe) and only one at a time.
//   - The hard state also persists the commit index, so a restarted node
//     re-applies committed entries without waiting for a leader.
//   - AppendEntries rejections carry a hint (index and term) that lets
//     the leader skip a whole conflicting term, as §5.3 suggests.
//   - Heartbeats carry a read round, not a per-read context: reads stepped
//     together share one round of heartbeats.
//   - Publishing over NATS never reports loss, so a follower in pipelined
//     replication that makes no progress over a whole heartbeat round while
//     appends are in flight is probed again (the appends were lost).
//   - A learner is promoted only when the leader heard from it in the last
//     election timeout and its log is within 1024 entries of the commit
//     index (dissertation §4.2.1 says learners catch up first; this makes
//     the leader enforce it).
//   - MsgTransferLeader names the target in Index and the requester in
//     From, so a forwarded request can be authenticated by its sender.
//   - A removed leader keeps leading until its removal commits, but does not
//     count itself in quorums meanwhile (dissertation §4.2.2); it then steps
//     down without naming a successor.
package raft
