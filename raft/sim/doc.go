// Package sim is a deterministic simulator for the Raft core, in the style
// of TigerBeetle's VOPR: a whole cluster, its clock, network and disks
// simulated in one goroutine, every choice drawn from one seed, and
// checkers that run after every step.
//
// # Running it
//
//	go test ./raft/sim                                  # the default swarm (400 seeds from seed 1)
//	RAFT_SIM_SEEDS=5000 go test ./raft/sim -run '^TestSimulation$'    # a long run
//	RAFT_SIM_SEED=1234 RAFT_SIM_SEEDS=1 go test ./raft/sim -run '^TestSimulation$' -v  # replay one seed
//
// RAFT_SIM_SEED is the first seed and RAFT_SIM_SEEDS the number of seeds.
// A failing seed prints the violation, the end of a trace of the run (the
// whole trace is written to a file, named in the output) and the command
// that replays it. With -v every seed prints its parameters first, then a
// summary of what it did; TestSimulation ends with the mean election time.
// RAFT_SIM_TRACE=1 writes a trace of every run; RAFT_SIM_RULE_CHECKS=0
// checks the properties only (see below). A seed replays exactly with the
// same code: a change to the simulator or the core changes what a seed
// does, which is why TestSimulationRegressions records, for each fixed
// bug, a seed that finds it with the code of its time.
//
// # A run
//
// Options are derived from the seed (swarm testing: each seed draws its own
// fault mix, printed first). The cluster starts with 3 or 5 voters. The
// safety phase runs the faults below for SafetyTicks ticks. The liveness
// phase then heals the network (no loss, duplication or partition, one
// tick of delay), restarts every member and stops the faults; the cluster
// must converge (a leader known to every member, every member caught up),
// elect a new leader each time the leader is killed (three times; the
// ticks from the first election timeout to the new leader are the
// reported election time), and apply every client write and answer every
// read within bounds. Last, the client history of the whole run is checked
// for linearizability with porcupine.
//
// Each tick, every running node, in a random order, is driven as the real
// driver drives it: transport callbacks (ReportUnreachable,
// ReportSnapshot), the messages due, one Tick (unless its slow clock skips
// it), then one Ready cycle: Messages are sent at once, the writes go to
// the disk, and at the sync (immediately, or up to DiskLatencyTicksMax
// ticks later while the node keeps stepping and ticking) the writes become
// durable, MessagesAfterSync are sent, CommittedEntries are applied,
// ReadStates are served once applied, and Advance is called.
//
// # Fault model
//
//   - Network: each message is lost, duplicated, and delayed (a minimum plus
//     an exponential, and a rare long tail), so messages reorder. Messages
//     are copied as if serialized. Partitions cut link directions: a split
//     into two sides, a bridge (two sides that only talk through one node),
//     an isolated leader, a deaf or mute node, random one-way cuts. They
//     last at least PartitionTicksMin ticks; a message is dropped if its link
//     is cut when it is sent or when it is due. A newly elected leader may be
//     isolated at once (leader flapping). A sender learns of a cut link
//     (ReportUnreachable) and of how a snapshot transfer ended.
//   - Disk: a node's durable state is its MemoryStorage, written only at a
//     sync; a crash loses every write not synced. The durable state machine
//     is the latest snapshot (taken at the applied index with the membership
//     in force there); a restart resumes from it with Config.Applied and
//     re-applies the committed entries after it.
//   - Crashes: of a random node or the leader, never of a majority of the
//     voters except for whole-cluster crashes, and inside a Ready cycle (after
//     Messages were sent but before the sync, after the sync but before the
//     acknowledgements, or before applying). Nodes restart after a while.
//   - Clocks: a node may skip ticks (a slow clock).
//   - Operator: snapshots and log compaction on every node; membership
//     changes on the leader (add a learner, an empty new node; promote a
//     caught-up learner; remove a learner or a voter, the leader too; never
//     fewer than 3 voters nor more than 5, node IDs never reused); leadership
//     transfers through the leader or a follower.
//   - Clients: writes (Propose, forwarded by followers) and linearizable
//     reads (ReadIndex) on a replicated map, with timeouts. A client stays
//     connected to one node until an operation fails or times out (so it
//     may keep reading from a deposed leader); some clients only read. A
//     write that timed out is open-ended in the history: it returns when
//     it first took effect on any node (it was committed by then), or
//     never.
//
// # Checks
//
// After every step and on every Ready, the checker (see checker.go) holds
// the global record of the run: every entry appended anywhere, every entry
// known committed, what every state machine applied, the leader of each
// term and its log at election. It checks the properties of the paper's
// Figure 3 (election safety, leader append-only, log matching, leader
// completeness, state machine safety), that committed entries are never
// lost across crashes and restarts, and that every committed entry is
// stable (no node lacking it could be elected: the state Figure 8 warns
// of, caught when the unsafe commit happens). It also checks the rules
// that guard them: the §5.4.2 commit rule, the §5.4.1 vote rule, that
// votes and append acknowledgements leave only once durable, and that the
// durable hard state never goes back. RAFT_SIM_RULE_CHECKS=0 leaves the
// rules out, to see whether a broken rule shows as a broken property.
package sim
