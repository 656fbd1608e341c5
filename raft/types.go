package raft

import "fmt"

// None is the ID of no node: no leader known, no vote cast.
const None uint64 = 0

// EntryType says how the state machine must read an Entry's Data.
type EntryType uint8

const (
	// EntryNormal carries opaque application data (empty for the leader's
	// no-op of §5.4.2 / dissertation §6.4).
	EntryNormal EntryType = iota
	// EntryConfChange carries an encoded ConfChange (dissertation §4.1).
	EntryConfChange
)

// Entry is one record of the replicated log (§5.3).
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// PayloadBytes is the size used for message and batch limits.
func (e *Entry) PayloadBytes() uint64 { return uint64(len(e.Data)) + entryOverheadBytes }

// entryOverheadBytes approximates the encoded fixed fields of an Entry.
const entryOverheadBytes = 24

// HardState is the state every node persists before it responds to any RPC
// (Figure 2, "Persistent state on all servers"), plus the commit index so a
// restart need not wait for the leader to learn what was already committed.
type HardState struct {
	Term   uint64 // currentTerm: latest term this node has seen
	Vote   uint64 // votedFor: candidate that received this node's vote in Term, or None
	Commit uint64 // highest log index known to be committed
}

// IsEmpty reports whether h is the zero HardState.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// ConfState is a cluster membership: the voters, whose majority decides, and
// the learners, who receive the log but neither vote nor count towards any
// quorum (dissertation §4.2.1). Invariant: no ID is in both lists.
type ConfState struct {
	Voters   []uint64
	Learners []uint64
}

// SnapshotMetadata identifies the last entry a snapshot covers and the
// membership in force at that entry (§7: "last included index/term", and the
// latest configuration as of that index).
type SnapshotMetadata struct {
	Index     uint64
	Term      uint64
	ConfState ConfState
}

// Snapshot is a state-machine image covering the log up to Metadata.Index.
type Snapshot struct {
	Metadata SnapshotMetadata
	Data     []byte
}

// IsEmpty reports whether s covers no entry at all.
func (s *Snapshot) IsEmpty() bool { return s == nil || s.Metadata.Index == 0 }

// MessageType names a Raft message. Network types echo the paper's RPCs;
// local types (MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus) never leave
// a node.
type MessageType uint8

const (
	MsgHup            MessageType = iota // local: start an election (or pre-election)
	MsgBeat                              // local: leader sends heartbeats
	MsgProp                              // proposal; forwarded from followers to the leader
	MsgApp                               // AppendEntries (§5.3)
	MsgAppResp                           // AppendEntries response
	MsgVote                              // RequestVote (§5.2)
	MsgVoteResp                          // RequestVote response
	MsgPreVote                           // PreVote (dissertation §9.6)
	MsgPreVoteResp                       // PreVote response
	MsgSnap                              // InstallSnapshot (§7)
	MsgHeartbeat                         // empty AppendEntries carrying commit and a read round
	MsgHeartbeatResp                     // heartbeat response
	MsgTimeoutNow                        // leadership transfer: start an election now (dissertation §3.10)
	MsgTransferLeader                    // request to transfer leadership to the node in Index
	MsgReadIndex                         // ReadIndex request, forwarded from followers (dissertation §6.4)
	MsgReadIndexResp                     // ReadIndex answer to a follower
	MsgUnreachable                       // local: the driver could not reach From
	MsgSnapStatus                        // local: the driver finished (or failed) sending a snapshot to From
	msgTypeCount
)

var messageTypeNames = [...]string{
	MsgHup: "MsgHup", MsgBeat: "MsgBeat", MsgProp: "MsgProp", MsgApp: "MsgApp",
	MsgAppResp: "MsgAppResp", MsgVote: "MsgVote", MsgVoteResp: "MsgVoteResp",
	MsgPreVote: "MsgPreVote", MsgPreVoteResp: "MsgPreVoteResp", MsgSnap: "MsgSnap",
	MsgHeartbeat: "MsgHeartbeat", MsgHeartbeatResp: "MsgHeartbeatResp",
	MsgTimeoutNow: "MsgTimeoutNow", MsgTransferLeader: "MsgTransferLeader",
	MsgReadIndex: "MsgReadIndex", MsgReadIndexResp: "MsgReadIndexResp",
	MsgUnreachable: "MsgUnreachable", MsgSnapStatus: "MsgSnapStatus",
}

func (t MessageType) String() string {
	if t < msgTypeCount {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// IsLocal reports whether t is generated and consumed inside one node.
func (t MessageType) IsLocal() bool {
	return t == MsgHup || t == MsgBeat || t == MsgUnreachable || t == MsgSnapStatus
}

// IsValid reports whether t is a known message type.
func (t MessageType) IsValid() bool { return t < msgTypeCount }

// Message is every RPC, response and local event of the core. Field use by
// type:
//
//	MsgApp:           Index/LogTerm = prevLogIndex/prevLogTerm, Entries, Commit = leaderCommit
//	MsgAppResp:       Index = last index matched (or the rejected prevLogIndex), Reject,
//	                  RejectHint/LogTerm = the follower's conflict hint (§5.3 fast back-off)
//	MsgVote, MsgPreVote: Index/LogTerm = candidate's lastLogIndex/lastLogTerm,
//	                  Context = campaignTransfer when caused by a leadership transfer
//	MsgVoteResp, MsgPreVoteResp: Reject
//	MsgSnap:          Snapshot
//	MsgHeartbeat:     Commit, Index = read-confirmation round (dissertation §6.4)
//	MsgHeartbeatResp: Index = the round echoed back
//	MsgReadIndex:     Context = the caller's request context
//	MsgReadIndexResp: Index = read index, Context = request context, Reject = no leader could serve it
//	MsgTransferLeader: Index = the node to hand leadership to (From is the
//	                  requester, so the transport can authenticate it when forwarded)
//	MsgSnapStatus:    Reject = sending the snapshot failed
type Message struct {
	Type       MessageType
	To         uint64
	From       uint64
	Term       uint64
	LogTerm    uint64
	Index      uint64
	Entries    []Entry
	Commit     uint64
	Snapshot   *Snapshot
	Reject     bool
	RejectHint uint64
	Context    []byte
}

// ReadState is a linearizable read point: once the state machine has applied
// Index, a read for RequestCtx may be served (dissertation §6.4 step 4).
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// Role is the part a node plays in its current term.
type Role uint8

const (
	RoleFollower Role = iota
	RoleCandidate
	RoleLeader
	RolePreCandidate
)

var roleNames = [...]string{"follower", "candidate", "leader", "pre-candidate"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// SoftState is volatile state worth reporting: who leads and what we are.
type SoftState struct {
	Lead uint64
	Role Role
}
