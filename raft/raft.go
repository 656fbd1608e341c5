package raft

import (
	"fmt"

	"github.com/natsraft/natsraft/raft/tracker"
)

// campaignTransfer marks vote requests caused by a leadership transfer:
// voters grant them even while they believe a leader is alive (§3.10).
var campaignTransfer = []byte("transfer")

// raft is one node's consensus state. Only the Node facade calls it.
type raft struct {
	id  uint64
	cfg Config

	// term is currentTerm (Figure 2, persistent). Invariant: never decreases.
	term uint64
	// vote is votedFor in term (Figure 2, persistent), or None.
	vote uint64
	log  *raftLog

	role Role
	// lead is the leader of term as far as this node knows, or None.
	lead uint64

	members membership
	// progress is the leader's nextIndex[]/matchIndex[] per member,
	// including itself (Figure 2, volatile state on leaders).
	progress map[uint64]*tracker.Progress
	// votes records the answers to this node's (pre-)vote requests.
	votes map[uint64]bool

	// electionElapsed counts ticks since the last valid leader contact
	// (followers), the start of the campaign (candidates), or the last
	// CheckQuorum round (leaders).
	electionElapsed int
	// heartbeatElapsed counts ticks since the leader's last heartbeat.
	heartbeatElapsed int
	// electionTimeoutTicks is drawn from [ElectionTicks, 2*ElectionTicks)
	// at each reset (§5.2 randomized election timeouts).
	electionTimeoutTicks int

	// leadTransferee is the target of a leadership transfer in progress
	// (dissertation §3.10), or None. The leader refuses proposals meanwhile.
	leadTransferee uint64
	// pendingConfIndex is the index of the latest conf change the leader
	// may have in its uncommitted log; a new one is refused until it is
	// committed (dissertation §4.1).
	pendingConfIndex uint64
	// broadcastPending defers appends so that every proposal stepped
	// before the next Ready shares one MsgApp per follower.
	broadcastPending bool

	reads readIndexState

	msgs          []Message
	msgsAfterSync []Message
}

func newRaft(cfg Config) (*raft, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l, err := newLog(cfg.Storage, cfg.MaxCommittedBytes)
	if err != nil {
		return nil, err
	}
	hs, cs, err := cfg.Storage.InitialState()
	if err != nil {
		return nil, err
	}
	r := &raft{id: cfg.ID, cfg: cfg, log: l, members: newMembership(cs)}
	if err := r.loadState(hs); err != nil {
		return nil, err
	}
	if err := r.replayConfChanges(); err != nil {
		return nil, err
	}
	if cfg.Applied > 0 {
		if cfg.Applied > r.log.committed {
			return nil, fmt.Errorf("raft: applied index %d is beyond the persisted commit %d", cfg.Applied, r.log.committed)
		}
		r.log.appliedTo(max(cfg.Applied, r.log.applied))
	}
	r.becomeFollower(r.term, None)
	return r, nil
}

// loadState restores the persistent state, refusing one that contradicts
// the log (a commit index past the last entry means lost writes).
func (r *raft) loadState(hs HardState) error {
	if hs.IsEmpty() {
		return nil
	}
	if hs.Commit < r.log.committed || hs.Commit > r.log.lastIndex() {
		return fmt.Errorf("raft: persisted commit %d is out of range [%d, %d]", hs.Commit, r.log.committed, r.log.lastIndex())
	}
	r.term, r.vote = hs.Term, hs.Vote
	r.log.committed = hs.Commit
	return nil
}

// replayConfChanges rebuilds the configuration from the log on restart.
func (r *raft) replayConfChanges() error {
	const chunkBytes = 4 << 20
	for lo, last := r.log.firstIndex(), r.log.lastIndex(); lo <= last; {
		ents, err := r.log.slice(lo, last+1, chunkBytes)
		if err != nil {
			return fmt.Errorf("raft: replaying log from %d: %w", lo, err)
		}
		r.members.observe(ents)
		lo += uint64(len(ents))
	}
	return nil
}

func (r *raft) hardState() HardState {
	return HardState{Term: r.term, Vote: r.vote, Commit: r.log.committed}
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, Role: r.role} }

// promotable reports whether this node may campaign: it must be a voter
// and must not be in the middle of installing a snapshot.
func (r *raft) promotable() bool {
	return r.members.current.IsVoter(r.id) && r.log.unstable.snapshot == nil
}

// send queues m. Responses that acknowledge persistent state, and vote
// requests that carry our persisted vote for ourselves, go to the after-
// sync queue: Figure 2 requires stable storage to be updated before a
// server responds to an RPC, or a crash could make it vote twice in a term
// or forget entries it acknowledged (dissertation §3.8).
func (r *raft) send(m Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.Type {
	case MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp:
		if m.Term == 0 {
			panic(fmt.Sprintf("raft: %s must carry an explicit term", m.Type))
		}
	case MsgProp, MsgReadIndex, MsgTransferLeader:
		// Forwarded requests carry no term: they are not RPCs of a term.
	default:
		m.Term = r.term
	}
	switch m.Type {
	case MsgAppResp, MsgVote, MsgVoteResp, MsgPreVoteResp, MsgHeartbeatResp:
		r.msgsAfterSync = append(r.msgsAfterSync, m)
	default:
		r.msgs = append(r.msgs, m)
	}
}

// reset prepares for a new role in term: a new term forgets the vote
// (Figure 2: votedFor is per term).
func (r *raft) reset(term uint64) {
	if term < r.term {
		panic(fmt.Sprintf("raft: term would go back from %d to %d", r.term, term))
	}
	if term != r.term {
		r.term = term
		r.vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.electionTimeoutTicks = r.cfg.ElectionTicks + r.cfg.Rand.IntN(r.cfg.ElectionTicks)
	r.leadTransferee = None
	r.votes = map[uint64]bool{}
	r.progress = nil
	r.broadcastPending = false
	r.reads.reset()
}

func (r *raft) becomeFollower(term, lead uint64) {
	r.reset(term)
	r.lead = lead
	r.role = RoleFollower
	r.cfg.Logger.Info("raft: became follower", "id", r.id, "term", r.term, "leader", lead)
}

func (r *raft) becomePreCandidate() {
	// A pre-candidate keeps its term and vote (dissertation §9.6): only a
	// real election may disturb the cluster.
	r.lead = None
	r.votes = map[uint64]bool{}
	r.role = RolePreCandidate
	r.cfg.Logger.Info("raft: became pre-candidate", "id", r.id, "term", r.term)
}

func (r *raft) becomeCandidate() {
	if r.role == RoleLeader {
		panic("raft: a leader cannot become a candidate")
	}
	r.reset(r.term + 1)
	r.vote = r.id
	r.role = RoleCandidate
	r.cfg.Logger.Info("raft: became candidate", "id", r.id, "term", r.term)
}

// becomeLeader takes over in the current term and appends a no-op: an
// entry of its own term lets it commit everything before it (§5.4.2) and
// know its commit index for reads (dissertation §6.4).
func (r *raft) becomeLeader() {
	if r.role == RoleFollower {
		panic("raft: a follower cannot become leader without an election")
	}
	r.reset(r.term)
	r.lead = r.id
	r.role = RoleLeader
	r.progress = map[uint64]*tracker.Progress{}
	last := r.log.lastIndex()
	for _, id := range r.members.current.members() {
		r.progress[id] = tracker.New(last+1, r.cfg.MaxInflightMsgs, r.members.current.IsLearner(id))
	}
	self := r.selfProgress()
	self.Match = r.log.unstable.offset - 1 // only what is durable counts (§10.2.1)
	self.BecomeReplicate()
	r.appendEntries([]Entry{{Type: EntryNormal}})
	// No conf change until the no-op commits: any uncommitted change in
	// the inherited log may still be pending, and a leader must commit an
	// entry of its own term before it appends a change (the fix to the
	// single-server change bug, dissertation §4.1 errata). Counting only
	// the inherited log let a new leader append a change while another
	// branch held a different uncommitted change, with disjoint majorities.
	// Found by raft/sim seed 2240; regression seeds 591 and 6132 (two
	// leaders in one term).
	r.pendingConfIndex = r.log.lastIndex()
	r.cfg.Logger.Info("raft: became leader", "id", r.id, "term", r.term)
}

// selfProgress is the leader's own entry, kept even when the leader has
// removed itself and commits the removal (dissertation §4.2.2).
func (r *raft) selfProgress() *tracker.Progress {
	pr := r.progress[r.id]
	if pr == nil {
		pr = tracker.New(r.log.lastIndex()+1, r.cfg.MaxInflightMsgs, false)
		r.progress[r.id] = pr
	}
	return pr
}

// Step is the single entry point of every message (§5.1: "if RPC request
// or response contains term T > currentTerm: set currentTerm = T, convert
// to follower"), dispatching on role after the term checks.
func (r *raft) Step(m Message) error {
	if err := validateMessage(m); err != nil {
		return err
	}
	switch {
	case m.Term == 0:
		// Local message, or a request forwarded without a term.
	case m.Term > r.term:
		if !r.stepHigherTerm(m) {
			return nil
		}
	case m.Term < r.term:
		r.stepLowerTerm(m)
		return nil
	}
	switch m.Type {
	case MsgHup:
		r.hup(false)
	case MsgVote, MsgPreVote:
		r.handleVoteRequest(m)
	default:
		return r.stepByRole(m)
	}
	return nil
}

func (r *raft) stepByRole(m Message) error {
	switch r.role {
	case RoleLeader:
		return r.stepLeader(m)
	case RoleCandidate, RolePreCandidate:
		return r.stepCandidate(m)
	default:
		return r.stepFollower(m)
	}
}

// stepHigherTerm applies the term rule to m from a later term; it reports
// whether m should then be processed.
func (r *raft) stepHigherTerm(m Message) bool {
	if m.Type == MsgVote || m.Type == MsgPreVote {
		// Leader stickiness (dissertation §4.2.3, §9.6): while we heard
		// from a live leader within the minimum election timeout, a vote
		// request is ignored, so removed or partitioned servers cannot
		// disrupt the cluster. A transfer overrides it.
		transfer := string(m.Context) == string(campaignTransfer)
		inLease := r.cfg.CheckQuorum && r.lead != None && r.electionElapsed < r.cfg.ElectionTicks
		if inLease && !transfer {
			return false
		}
	}
	switch {
	case m.Type == MsgPreVote:
		// Pre-votes never change our term.
	case m.Type == MsgPreVoteResp && !m.Reject:
		// The granted future term is ours only once we campaign for real.
	case m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap:
		r.becomeFollower(m.Term, m.From)
	default:
		r.becomeFollower(m.Term, None)
	}
	return true
}

// stepLowerTerm answers a message from an earlier term. A stale leader is
// told the current term so it steps down; without this, with CheckQuorum
// or PreVote, a node partitioned in a higher term could never rejoin
// (its vote requests are ignored while the leader is sticky).
func (r *raft) stepLowerTerm(m Message) {
	switch m.Type {
	case MsgApp, MsgHeartbeat:
		if r.cfg.CheckQuorum || r.cfg.PreVote {
			r.send(Message{To: m.From, Type: MsgAppResp})
		}
	case MsgPreVote:
		r.send(Message{To: m.From, Type: MsgPreVoteResp, Term: r.term, Reject: true})
	}
}

// validateMessage rejects messages that are malformed for their type, so a
// bad peer cannot corrupt our state: entries must be contiguous after the
// previous index and no newer than the message's term.
func validateMessage(m Message) error {
	if !m.Type.IsValid() {
		return fmt.Errorf("%w: unknown type %d", ErrInvalidMessage, m.Type)
	}
	if m.Type == MsgSnap && m.Snapshot.IsEmpty() {
		return fmt.Errorf("%w: %s without a snapshot", ErrInvalidMessage, m.Type)
	}
	if m.Type != MsgApp && m.Type != MsgProp && len(m.Entries) > 0 {
		return fmt.Errorf("%w: %s carries entries", ErrInvalidMessage, m.Type)
	}
	if m.Type == MsgApp {
		prevTerm := m.LogTerm
		for i, e := range m.Entries {
			if e.Index != m.Index+1+uint64(i) || e.Term > m.Term || e.Term < prevTerm {
				return fmt.Errorf("%w: entry %d of MsgApp after %d has index %d term %d", ErrInvalidMessage, i, m.Index, e.Index, e.Term)
			}
			prevTerm = e.Term
		}
	}
	return nil
}
