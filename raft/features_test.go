package raft

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func (c *testCluster) proposeConfChange(id uint64, cc ConfChange) error {
	err := c.nodes[id].ProposeConfChange(cc)
	c.stabilize()
	return err
}

// TestLearnerReplicatesButNeverVotesOrCounts: a learner receives the log
// but is not part of any quorum and never campaigns. Reference:
// dissertation §4.2.1.
func TestLearnerReplicatesButNeverVotesOrCounts(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.addNode(4, nil, nil)
	if err := c.proposeConfChange(1, ConfChange{Type: ConfChangeAddLearner, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	c.propose(1, "x")
	c.tickAll(3)
	if !slices.Equal(c.appliedData(4), c.appliedData(1)) {
		t.Fatalf("learner applied %v, leader %v", c.appliedData(4), c.appliedData(1))
	}
	if !c.nodes[1].r.members.current.IsLearner(4) || !c.nodes[4].r.members.current.IsLearner(4) {
		t.Fatal("node 4 is not a learner in the leader's and its own configuration")
	}
	// The learner's ack alone does not make a quorum with the leader.
	c.isolate(2)
	c.drop = func(m Message) bool { return m.To == 2 || m.From == 2 || m.To == 3 || m.From == 3 }
	c.propose(1, "needs-a-voter")
	c.stabilize()
	if got := c.appliedData(1); slices.Contains(got, "needs-a-voter") {
		t.Fatal("committed with a learner counted as a voter")
	}
	// A learner never campaigns, however long it waits.
	for range 100 {
		c.nodes[4].Tick()
	}
	if c.nodes[4].r.role != RoleFollower {
		t.Fatalf("learner became %s", c.nodes[4].r.role)
	}
}

// TestPromoteLearnerThenRemoveVoter walks a member replacement: add a
// learner, let it catch up, promote it, remove an old voter.
// Reference: dissertation §4.1, §4.2.1.
func TestPromoteLearnerThenRemoveVoter(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.addNode(4, nil, nil)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.proposeConfChange(1, ConfChange{Type: ConfChangeAddLearner, NodeID: 4}))
	must(c.proposeConfChange(1, ConfChange{Type: ConfChangeAddVoter, NodeID: 4}))
	must(c.proposeConfChange(1, ConfChange{Type: ConfChangeRemove, NodeID: 3}))
	want := ConfState{Voters: []uint64{1, 2, 4}}
	for _, id := range []uint64{1, 2, 4} {
		if got := c.nodes[id].r.members.current; !got.Equal(want) {
			t.Fatalf("node %d membership %+v, want %+v", id, got, want)
		}
	}
	// The new configuration commits with 3 gone.
	delete(c.nodes, 3)
	c.propose(1, "after")
	c.stabilize()
	if !slices.Contains(c.appliedData(4), "after") {
		t.Fatal("promoted voter did not apply the entry after the change")
	}
}

// TestOneMembershipChangeAtATime: a change is refused while another is
// uncommitted. Reference: dissertation §4.1.
func TestOneMembershipChangeAtATime(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.isolate(2)
	c.drop = func(m Message) bool { return m.To != 1 && m.From != 1 || m.To == 2 || m.To == 3 }
	if err := c.nodes[1].ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	err := c.nodes[1].ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 5})
	if !errors.Is(err, ErrConfChangePending) {
		t.Fatalf("second change while first uncommitted: err %v, want ErrConfChangePending", err)
	}
	c.heal()
	c.stabilize()
	if err := c.proposeConfChange(1, ConfChange{Type: ConfChangeAddLearner, NodeID: 5}); err != nil {
		t.Fatalf("change after the first committed: %v", err)
	}
	invalid := []ConfChange{
		{Type: ConfChangeAddVoter, NodeID: 1},
		{Type: ConfChangeAddLearner, NodeID: 2},
		{Type: ConfChangeRemove, NodeID: 9},
		{Type: ConfChangeAddVoter, NodeID: None},
	}
	for _, cc := range invalid {
		if err := c.nodes[1].ProposeConfChange(cc); !errors.Is(err, ErrConfChangeInvalid) {
			t.Errorf("%s %d: err %v, want ErrConfChangeInvalid", cc.Type, cc.NodeID, err)
		}
	}
}

// TestMembershipTakesEffectWhenAppendedAndRollsBackOnTruncation: a
// follower uses a change as soon as it is in its log, and forgets it if a
// new leader truncates it. Reference: dissertation §4.1.
func TestMembershipTakesEffectWhenAppendedAndRollsBackOnTruncation(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3, 4, 5}, func(cfg *Config) { cfg.CheckQuorum = false })
	c.campaign(1)
	// Only node 2 receives the uncommitted change.
	c.drop = func(m Message) bool { return !(m.From == 1 && m.To == 2) }
	if err := c.nodes[1].ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 6}); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	if !c.nodes[2].r.members.current.IsLearner(6) {
		t.Fatal("follower does not use the appended, uncommitted change")
	}
	// Nodes 3, 4, 5 elect 3, which overwrites the change on node 2.
	c.drop = func(m Message) bool { return m.To == 1 || m.From == 1 || m.From == 2 }
	c.campaign(3)
	c.drop = func(m Message) bool { return m.To == 1 || m.From == 1 }
	c.propose(3, "overwrite")
	c.tickAll(2) // node 2's answers to the probe were lost: heartbeats resume it
	if c.nodes[2].r.members.current.IsMember(6) {
		t.Fatal("truncated change still in effect on node 2")
	}
	if !slices.Contains(c.appliedData(2), "overwrite") {
		t.Fatal("node 2 did not take the new leader's entries")
	}
}

// TestLeaderRemovesItselfAndStepsDown: the leader keeps leading while it
// commits its own removal, then steps down; the rest elect a new leader.
// Reference: dissertation §4.2.2.
func TestLeaderRemovesItselfAndStepsDown(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	if err := c.proposeConfChange(1, ConfChange{Type: ConfChangeRemove, NodeID: 1}); err != nil {
		t.Fatal(err)
	}
	if c.nodes[1].r.role == RoleLeader {
		t.Fatal("removed leader still leads after the removal committed")
	}
	for _, id := range []uint64{2, 3} {
		if c.nodes[id].r.members.current.IsMember(1) {
			t.Fatalf("node %d still counts 1 as a member", id)
		}
	}
	c.tickAll(40)
	lead := c.mustLeader()
	if lead == 1 {
		t.Fatal("removed node leads again")
	}
	c.propose(lead, "after-removal")
	c.stabilize()
	if !slices.Contains(c.appliedData(2), "after-removal") {
		t.Fatal("two-voter cluster cannot commit after the removal")
	}
}

// TestLeadershipTransfer: the leader catches the target up, sends
// TimeoutNow, and refuses proposals meanwhile. Reference: dissertation §3.10.
func TestLeadershipTransfer(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	// The target lags: the transfer must first bring it up to date.
	c.isolate(3)
	c.propose(1, "before")
	c.stabilize()
	c.heal()
	if err := c.nodes[1].TransferLeadership(3); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[1].Propose([]byte("during")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal during transfer: err %v, want ErrProposalDropped", err)
	}
	c.tickAll(3)
	if lead := c.mustLeader(); lead != 3 {
		t.Fatalf("leader after transfer = %d, want 3", lead)
	}
	if !slices.Contains(c.appliedData(3), "before") {
		t.Fatal("new leader lacks the entry committed before the transfer")
	}
}

// TestLeadershipTransferTimesOut: a transfer to an unreachable target is
// abandoned after an election timeout and proposals resume.
func TestLeadershipTransferTimesOut(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.isolate(3)
	c.propose(1, "x")
	c.stabilize()
	_ = c.nodes[1].TransferLeadership(3)
	for range c.nodes[1].r.cfg.ElectionTicks {
		c.nodes[1].Tick()
		c.nodes[2].Tick()
		c.stabilize()
	}
	if err := c.nodes[1].Propose([]byte("after")); err != nil {
		t.Fatalf("proposals still refused after the transfer timed out: %v", err)
	}
}

// TestReadIndexOnLeaderAndFollower: reads are confirmed by a heartbeat
// round and answered with the commit index; followers forward them, and a
// burst of reads shares one round. Reference: dissertation §6.4.
func TestReadIndexOnLeaderAndFollower(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.propose(1, "x")
	c.stabilize()
	commit := c.nodes[1].r.log.committed
	for i := range 5 {
		if err := c.nodes[1].ReadIndex([]byte(fmt.Sprint("leader", i))); err != nil {
			t.Fatal(err)
		}
	}
	rd := c.nodes[1].Ready()
	heartbeats := 0
	for _, m := range rd.Messages {
		if m.Type == MsgHeartbeat {
			heartbeats++
		}
	}
	if heartbeats != 2 || len(rd.ReadStates) != 0 {
		t.Fatalf("5 reads: %d heartbeats and %d early answers, want 2 and 0", heartbeats, len(rd.ReadStates))
	}
	c.queue = append(c.queue, rd.Messages...)
	c.nodes[1].Advance()
	var states []ReadState
	c.drop = func(m Message) bool { return false }
	for range 5 {
		c.deliverAll()
		for id := range c.nodes {
			if id == 1 && c.nodes[1].HasReady() {
				rd := c.nodes[1].Ready()
				states = append(states, rd.ReadStates...)
				c.queue = append(c.queue, rd.Messages...)
				c.queue = append(c.queue, rd.MessagesAfterSync...)
				c.nodes[1].Advance()
				continue
			}
			c.process(id)
		}
	}
	if len(states) != 5 || states[0].Index != commit {
		t.Fatalf("read states %+v, want 5 at index %d", states, commit)
	}
	// A follower's read goes through the leader.
	if err := c.nodes[2].ReadIndex([]byte("follower")); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	if len(c.nodes[2].r.reads.states) != 0 {
		t.Fatal("test driver should have drained read states")
	}
}

// TestReadIndexNeedsQuorum: a leader cut off from its followers never
// confirms a read (it might be deposed already).
func TestReadIndexNeedsQuorum(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.isolate(1)
	_ = c.nodes[1].ReadIndex([]byte("r"))
	for range 3 {
		rd := c.nodes[1].Ready()
		if len(rd.ReadStates) != 0 {
			t.Fatal("read confirmed without a quorum")
		}
		c.nodes[1].Advance()
	}
}

// TestProposalForwarding: followers forward proposals to the leader
// unless forwarding is disabled, and drop them with no leader.
func TestProposalForwarding(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, func(cfg *Config) { cfg.DisableProposalForwarding = cfg.ID == 3 })
	if err := c.nodes[2].Propose([]byte("x")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal with no leader: err %v", err)
	}
	c.campaign(1)
	c.propose(2, "via-follower")
	c.stabilize()
	if !slices.Contains(c.appliedData(1), "via-follower") {
		t.Fatal("forwarded proposal not committed")
	}
	if err := c.nodes[3].Propose([]byte("y")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal with forwarding disabled: err %v", err)
	}
}

// TestLeadershipTransferForwardedByFollower: a transfer asked of a
// follower reaches the leader with the requester as sender (so a
// transport can authenticate it) and the target in Index.
func TestLeadershipTransferForwardedByFollower(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	if err := c.nodes[2].TransferLeadership(3); err != nil {
		t.Fatal(err)
	}
	rd := c.nodes[2].Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].From != 2 || rd.Messages[0].To != 1 || rd.Messages[0].Index != 3 {
		t.Fatalf("forwarded transfer = %+v, want from 2 to 1 naming 3", rd.Messages)
	}
	c.queue = append(c.queue, rd.Messages...)
	c.nodes[2].Advance()
	c.tickAll(3)
	if lead := c.mustLeader(); lead != 3 {
		t.Fatalf("leader after a forwarded transfer = %d, want 3", lead)
	}
}

// TestPromotionNeedsACaughtUpLearner: a learner that is unreachable is
// not promoted. Reference: dissertation §4.2.1.
func TestPromotionNeedsACaughtUpLearner(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	if err := c.proposeConfChange(1, ConfChange{Type: ConfChangeAddLearner, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	// Node 4 was never started: it cannot be promoted.
	err := c.nodes[1].ProposeConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: 4})
	if !errors.Is(err, ErrConfChangeInvalid) {
		t.Fatalf("promoting an absent learner: err %v, want ErrConfChangeInvalid", err)
	}
	c.addNode(4, nil, nil)
	c.tickAll(3)
	if err := c.proposeConfChange(1, ConfChange{Type: ConfChangeAddVoter, NodeID: 4}); err != nil {
		t.Fatalf("promoting a caught-up learner: %v", err)
	}
}
