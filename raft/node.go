package raft

import "errors"

// Errors returned by Node's methods, testable with errors.Is.
var (
	// ErrProposalDropped: the proposal cannot be accepted now (no leader
	// known, a leadership transfer in progress, forwarding disabled, or this
	// node is not a member). The caller may retry.
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrConfChangePending: a membership change is still uncommitted; only
	// one may be in flight at a time (dissertation §4.1).
	ErrConfChangePending = errors.New("raft: a membership change is already in progress")
	// ErrConfChangeInvalid: the change would leave no voter, demote a voter,
	// or names no node.
	ErrConfChangeInvalid = errors.New("raft: invalid membership change")
	// ErrStepLocalMsg: a local-only message type arrived through Step from the network.
	ErrStepLocalMsg = errors.New("raft: cannot step a local message from the network")
	// ErrInvalidMessage: a message that is malformed for its type.
	ErrInvalidMessage = errors.New("raft: invalid message")
)

// Rand is the source of randomness for election timeouts. A seeded source
// makes a run replayable; *math/rand/v2.Rand satisfies it.
type Rand interface {
	IntN(n int) int
}

// Config configures one node of the core.
type Config struct {
	// ID identifies this node; never None.
	ID uint64
	// ElectionTicks is the minimum election timeout in ticks; the actual
	// timeout is drawn from [ElectionTicks, 2*ElectionTicks) (§5.2).
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval; it must be less
	// than ElectionTicks.
	HeartbeatTicks int
	// Storage is the node's durable state; it is read at start and after.
	Storage Storage
	// Applied is the last index the state machine has applied, for a
	// restart; CommittedEntries start after it.
	Applied uint64
	// MaxMsgBytes caps the entries bytes of one MsgApp (at least one entry
	// is always sent).
	MaxMsgBytes uint64
	// MaxInflightMsgs bounds the appends in flight to one follower while
	// pipelining (tracker.StateReplicate).
	MaxInflightMsgs int
	// MaxCommittedBytes caps the bytes of CommittedEntries in one Ready.
	MaxCommittedBytes uint64
	// PreVote enables the pre-election of dissertation §9.6.
	PreVote bool
	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum in an election timeout, and makes followers that recently
	// heard from a leader ignore vote requests (dissertation §6.2, §4.2.3).
	CheckQuorum bool
	// DisableProposalForwarding makes followers drop proposals instead of
	// forwarding them to the leader.
	DisableProposalForwarding bool
	// Rand draws election timeouts. Required.
	Rand Rand
	// Logger receives the core's notable events; nil discards them.
	Logger Logger
}

// Logger is the core's log sink; log/slog's *Logger satisfies it.
type Logger interface {
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
}

func (c *Config) validate() error {
	switch {
	case c.ID == None:
		return errors.New("raft: config: ID must not be zero")
	case c.HeartbeatTicks <= 0:
		return errors.New("raft: config: HeartbeatTicks must be positive")
	case c.ElectionTicks <= c.HeartbeatTicks:
		return errors.New("raft: config: ElectionTicks must exceed HeartbeatTicks")
	case c.Storage == nil:
		return errors.New("raft: config: Storage is required")
	case c.Rand == nil:
		return errors.New("raft: config: Rand is required")
	case c.MaxInflightMsgs <= 0:
		return errors.New("raft: config: MaxInflightMsgs must be positive")
	}
	if c.MaxMsgBytes == 0 {
		c.MaxMsgBytes = 1 << 20
	}
	if c.MaxCommittedBytes == 0 {
		c.MaxCommittedBytes = 8 << 20
	}
	if c.Logger == nil {
		c.Logger = discardLogger{}
	}
	return nil
}

type discardLogger struct{}

func (discardLogger) Info(string, ...any) {}
func (discardLogger) Warn(string, ...any) {}

// Ready is the work the driver must do, in this order (see doc.go):
//  1. persist HardState, Entries and Snapshot (one batch, one sync);
//     Messages may be sent before or during this step;
//  2. send MessagesAfterSync;
//  3. apply CommittedEntries in order (after restoring Snapshot if any);
//  4. serve ReadStates once the applied index reaches their Index;
//  5. call Advance.
type Ready struct {
	// SoftState is non-nil when leader or role changed.
	SoftState *SoftState
	// HardState is to be persisted; zero when unchanged.
	HardState HardState
	// Entries are to be appended to the log, replacing any stored entries
	// at or after Entries[0].Index.
	Entries []Entry
	// Snapshot, when not nil, is to be installed: persist it, discard the
	// log it covers, and restore the state machine from it.
	Snapshot *Snapshot
	// Messages do not depend on this Ready's HardState or Entries being
	// durable (a leader's appends and heartbeats, dissertation §10.2.1) and
	// may be sent at once.
	Messages []Message
	// MessagesAfterSync acknowledge or request persistent state (votes,
	// append responses); they must only be sent once step 1 is durable
	// (Figure 2: respond to RPCs only after updating stable storage).
	MessagesAfterSync []Message
	// CommittedEntries are to be applied to the state machine, in order.
	CommittedEntries []Entry
	// ReadStates are read points confirmed by a quorum (dissertation §6.4).
	ReadStates []ReadState
	// MustSync reports whether step 1 needs an fsync (a term, vote or
	// entries changed); a commit-index-only change may be written lazily.
	MustSync bool
}

// IsEmpty reports whether rd holds no work.
func (rd *Ready) IsEmpty() bool {
	return rd.SoftState == nil && rd.HardState.IsEmpty() && len(rd.Entries) == 0 &&
		rd.Snapshot == nil && len(rd.Messages) == 0 && len(rd.MessagesAfterSync) == 0 &&
		len(rd.CommittedEntries) == 0 && len(rd.ReadStates) == 0
}

// ProgressState is how the leader replicates to one follower.
type ProgressState uint8

const (
	// ProgressProbe: one append at a time until the follower's match is found.
	ProgressProbe ProgressState = iota
	// ProgressReplicate: appends are pipelined, up to MaxInflightMsgs.
	ProgressReplicate
	// ProgressSnapshot: a snapshot is being sent; appends wait.
	ProgressSnapshot
)

var progressStateNames = [...]string{"probe", "replicate", "snapshot"}

func (s ProgressState) String() string { return progressStateNames[s] }

// PeerStatus is the leader's view of one member.
type PeerStatus struct {
	ID        uint64
	Match     uint64
	Next      uint64
	State     ProgressState
	IsLearner bool
	// RecentActive reports whether the peer was heard from in the current
	// election timeout (CheckQuorum).
	RecentActive bool
}

// Status is a snapshot of a node's state, for reporting.
type Status struct {
	ID uint64
	HardState
	SoftState
	Applied        uint64
	LastIndex      uint64
	Membership     ConfState
	LeadTransferee uint64
	// Peers is filled on the leader only, sorted by ID.
	Peers []PeerStatus
}
