package raft

import (
	"cmp"
	"fmt"
	"slices"
)

// Node is the core's public face: a thread-unsafe state machine that the
// driver feeds (Tick, Step, Propose, ...) and drains (Ready, Advance). It
// does no I/O, starts no goroutine and reads no clock.
type Node struct {
	r *raft
	// prevSoftState and prevHardState are what the driver last received.
	prevSoftState SoftState
	prevHardState HardState
	// handedOut records what the last Ready gave the driver, so Advance
	// acknowledges exactly that, whatever was stepped in between.
	handedOut handedOut
}

// handedOut is what one Ready gave the driver to persist and apply.
type handedOut struct {
	lastEntryIndex, lastEntryTerm uint64
	snapshotIndex                 uint64
	lastCommittedIndex            uint64
}

// NewNode restarts a node from cfg.Storage (a new node has empty storage
// and learns everything from the leader; see Bootstrap for a new cluster).
func NewNode(cfg Config) (*Node, error) {
	r, err := newRaft(cfg)
	if err != nil {
		return nil, err
	}
	return &Node{r: r, prevSoftState: r.softState(), prevHardState: r.hardState()}, nil
}

// Bootstrap returns the initial log and hard state of a new cluster whose
// first voters are voters: one AddVoter entry per voter at term 1, all
// committed. Every initial member must persist the same (voters are sorted,
// so the same set gives the same log) before NewNode.
func Bootstrap(voters []uint64) ([]Entry, HardState, error) {
	changes := make([]ConfChange, len(voters))
	for i, id := range voters {
		changes[i] = ConfChange{Type: ConfChangeAddVoter, NodeID: id}
	}
	return BootstrapChanges(changes)
}

// BootstrapChanges is Bootstrap with a context per voter (the server puts
// the member's name there, so that every later member learns it from the
// log). The changes must be AddVoter with distinct IDs; they are sorted by
// ID so that every initial member writes the same log.
func BootstrapChanges(voters []ConfChange) ([]Entry, HardState, error) {
	changes := slices.Clone(voters)
	slices.SortFunc(changes, func(a, b ConfChange) int { return cmp.Compare(a.NodeID, b.NodeID) })
	for i, cc := range changes {
		if cc.NodeID == None || cc.Type != ConfChangeAddVoter || (i > 0 && changes[i-1].NodeID == cc.NodeID) {
			return nil, HardState{}, fmt.Errorf("raft: bootstrap needs distinct non-zero voters, got %+v", voters)
		}
	}
	if len(changes) == 0 {
		return nil, HardState{}, fmt.Errorf("raft: bootstrap needs at least one voter")
	}
	ents := make([]Entry, len(changes))
	for i, cc := range changes {
		ents[i] = Entry{Term: 1, Index: uint64(i + 1), Type: EntryConfChange, Data: cc.Marshal()}
	}
	return ents, HardState{Term: 1, Commit: uint64(len(ents))}, nil
}

// Tick advances logical time by one tick.
func (n *Node) Tick() { n.r.tick() }

// Campaign starts an election now (a pre-election first if PreVote is on).
func (n *Node) Campaign() error { return n.r.Step(Message{Type: MsgHup, From: n.r.id}) }

// Propose appends data to the log through the leader; a follower forwards
// it. Success means accepted, not committed: the driver sees the entry in
// CommittedEntries once it commits.
func (n *Node) Propose(data []byte) error {
	return n.r.Step(Message{Type: MsgProp, From: n.r.id, Entries: []Entry{{Data: data}}})
}

// ProposeConfChange proposes a single-server membership change
// (dissertation §4.1). It takes effect on each node when appended.
func (n *Node) ProposeConfChange(cc ConfChange) error {
	if n.r.role == RoleLeader {
		if err := n.r.admitConfChange(cc.Marshal()); err != nil {
			return err
		}
	}
	return n.r.Step(Message{Type: MsgProp, From: n.r.id, Entries: []Entry{{Type: EntryConfChange, Data: cc.Marshal()}}})
}

// ReadIndex requests a linearizable read point (dissertation §6.4); the
// answer arrives as a ReadState carrying ctx.
func (n *Node) ReadIndex(ctx []byte) error {
	return n.r.Step(Message{Type: MsgReadIndex, From: n.r.id, Context: ctx})
}

// TransferLeadership asks the leader to hand over to target (dissertation §3.10).
func (n *Node) TransferLeadership(target uint64) error {
	return n.r.Step(Message{Type: MsgTransferLeader, From: n.r.id, Index: target})
}

// ReportUnreachable tells the leader that messages to id could not be sent.
func (n *Node) ReportUnreachable(id uint64) {
	_ = n.r.Step(Message{Type: MsgUnreachable, From: id})
}

// ReportSnapshot tells the leader how sending a snapshot to id ended.
func (n *Node) ReportSnapshot(id uint64, failed bool) {
	_ = n.r.Step(Message{Type: MsgSnapStatus, From: id, Reject: failed})
}

// Step processes a message from the network. Local message types are
// refused, as are messages not addressed to this node or from no one.
func (n *Node) Step(m Message) error {
	switch {
	case m.Type.IsLocal():
		return ErrStepLocalMsg
	case m.To != n.r.id || m.From == None:
		return fmt.Errorf("%w: %s from %d to %d at node %d", ErrInvalidMessage, m.Type, m.From, m.To, n.r.id)
	}
	return n.r.Step(m)
}

// HasReady reports whether Ready would return any work.
func (n *Node) HasReady() bool {
	r := n.r
	return (r.broadcastPending && r.role == RoleLeader) || r.reads.roundPending ||
		r.softState() != n.prevSoftState || r.hardState() != n.prevHardState ||
		len(r.log.unstable.nextEntries()) > 0 || r.log.unstable.nextSnapshot() != nil ||
		r.log.hasNextCommittedEntries() || len(r.msgs) > 0 || len(r.msgsAfterSync) > 0 ||
		len(r.reads.states) > 0
}

// Ready returns the work to do; see the Ready type for the order. The
// driver must call Advance after doing it, before the next Ready.
func (n *Node) Ready() Ready {
	r := n.r
	r.flushBroadcast()
	r.flushReadRound()
	rd := Ready{
		Entries:           r.log.unstable.nextEntries(),
		Snapshot:          r.log.unstable.nextSnapshot(),
		CommittedEntries:  r.log.nextCommittedEntries(),
		Messages:          r.msgs,
		MessagesAfterSync: r.msgsAfterSync,
		ReadStates:        r.reads.states,
	}
	if ss := r.softState(); ss != n.prevSoftState {
		rd.SoftState = &ss
		n.prevSoftState = ss
	}
	if hs := r.hardState(); hs != n.prevHardState {
		rd.HardState = hs
		rd.MustSync = hs.Term != n.prevHardState.Term || hs.Vote != n.prevHardState.Vote
		n.prevHardState = hs
	}
	rd.MustSync = rd.MustSync || len(rd.Entries) > 0 || rd.Snapshot != nil
	n.accept(&rd)
	return rd
}

// accept records what rd hands out and clears the queues it took.
func (n *Node) accept(rd *Ready) {
	r := n.r
	h := &n.handedOut
	*h = handedOut{}
	if l := len(rd.Entries); l > 0 {
		h.lastEntryIndex, h.lastEntryTerm = rd.Entries[l-1].Index, rd.Entries[l-1].Term
	}
	if rd.Snapshot != nil {
		h.snapshotIndex = rd.Snapshot.Metadata.Index
	}
	if l := len(rd.CommittedEntries); l > 0 {
		h.lastCommittedIndex = rd.CommittedEntries[l-1].Index
		r.log.applying = h.lastCommittedIndex
	}
	r.log.unstable.acceptInProgress()
	r.msgs, r.msgsAfterSync, r.reads.states = nil, nil, nil
}

// Advance acknowledges that the last Ready was done: its entries and
// snapshot are durable and its committed entries applied. The leader's own
// log now counts towards the quorum (dissertation §10.2.1).
func (n *Node) Advance() {
	r, h := n.r, n.handedOut
	if h.snapshotIndex > 0 {
		r.log.unstable.stableSnapTo(h.snapshotIndex)
		r.log.appliedTo(h.snapshotIndex)
	}
	if h.lastEntryIndex > 0 {
		r.log.unstable.stableTo(h.lastEntryIndex, h.lastEntryTerm)
	}
	if h.lastCommittedIndex > 0 {
		r.log.appliedTo(h.lastCommittedIndex)
	}
	if r.role == RoleLeader && h.lastEntryIndex > 0 && r.log.matchTerm(h.lastEntryIndex, h.lastEntryTerm) {
		r.selfProgress().MaybeUpdate(h.lastEntryIndex)
		r.maybeCommit()
	}
	n.handedOut = handedOut{}
}

// Committed is the commit index, as Status().Commit without the copy.
func (n *Node) Committed() uint64 { return n.r.log.committed }

// Status reports the node's state; Peers is filled on the leader.
func (n *Node) Status() Status {
	r := n.r
	st := Status{
		ID: r.id, HardState: r.hardState(), SoftState: r.softState(),
		Applied: r.log.applied, LastIndex: r.log.lastIndex(),
		Membership: r.members.current, LeadTransferee: r.leadTransferee,
	}
	if r.role != RoleLeader {
		return st
	}
	for id, pr := range r.progress {
		if !r.members.current.IsMember(id) {
			continue
		}
		st.Peers = append(st.Peers, PeerStatus{
			ID: id, Match: pr.Match, Next: pr.Next, State: ProgressState(pr.State),
			IsLearner: pr.IsLearner, RecentActive: pr.RecentActive || id == r.id,
		})
	}
	slices.SortFunc(st.Peers, func(a, b PeerStatus) int { return cmp.Compare(a.ID, b.ID) })
	return st
}
