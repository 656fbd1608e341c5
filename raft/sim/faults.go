package sim

import (
	"slices"

	"github.com/natsraft/natsraft/raft"
)

// injectFaults runs the safety phase's faults and operator actions for
// one tick, each drawn with its rate from the seed's options.
func (s *Sim) injectFaults() {
	s.restartDue()
	s.stopDue()
	s.maybePartition()
	s.maybeCrash()
	s.maybeSnapshot()
	s.maybeChangeMembership()
	s.maybeTransfer()
}

func (s *Sim) chance(rate float64) bool { return rate > 0 && s.rng.Float64() < rate }

// restartDue restarts crashed nodes whose downtime is over.
func (s *Sim) restartDue() {
	for _, n := range s.nodes[1:] {
		if n.up || n.removed || n.restartTick == 0 || s.now < n.restartTick {
			continue
		}
		s.restart(n)
	}
}

func (s *Sim) restart(n *simNode) {
	n.restartTick = 0
	if err := s.start(n); err != nil {
		s.fail("%v", err)
		return
	}
	s.stats.Restarts++
	s.trace.printf(s.now, "node %d restarts: term %d commit %d applied %d log [%d,%d]",
		n.id, n.hs.Term, n.hs.Commit, n.sm.Applied, n.mirror.floorIndex, n.mirror.lastIndex())
}

// stopDue stops, for good, the nodes whose removal is committed.
func (s *Sim) stopDue() {
	for _, n := range s.nodes[1:] {
		if n.removed && n.stopTick != 0 && s.now >= n.stopTick {
			n.stopTick = 0
			if n.up {
				s.crash(n, "removed from the cluster, stopped")
				s.stats.Crashes--
			}
		}
	}
}

// retire marks id removed for good (its removal is committed, or it never
// joined) and stops it a little later, as an operator would. It reports
// whether id was not already retired.
func (s *Sim) retire(id uint64) bool {
	n := s.node(id)
	if n == nil || n.removed {
		return false
	}
	n.removed = true
	n.restartTick = 0
	n.stopTick = s.now + 1
	if s.phase == phaseSafety {
		n.stopTick += int64(s.rng.IntN(2 * s.opts.ElectionTicks))
	}
	s.trace.printf(s.now, "node %d retired; stopping it at tick %d", id, n.stopTick)
	return true
}

func (s *Sim) maybePartition() {
	var live []uint64
	for _, n := range s.nodes[1:] {
		if !n.removed {
			live = append(live, n.id)
		}
	}
	var lead uint64
	if s.net.part == nil && s.opts.IsolateLeaderRate > 0 {
		if n := s.leader(); n != nil {
			lead = n.id
		}
	}
	started, healed := s.net.maybePartition(live, lead, s.now)
	if healed != "" {
		s.trace.printf(s.now, "partition healed: %s", healed)
	}
	if started != "" {
		s.trace.printf(s.now, "partition: %s", started)
	}
}

// onElected reacts to a leader's first Ready: maybe a membership change
// at the next tick (Options.OnElectionChangeRate), maybe its isolation at
// once, before anything it sends arrives (Options.LeaderFlapRate).
func (s *Sim) onElected(n *simNode) {
	if s.phase != phaseSafety {
		return
	}
	if s.chance(s.opts.OnElectionChangeRate) {
		s.changeOnLeader = n.id
	}
	if s.chance(s.opts.LeaderFlapRate) {
		desc := s.net.isolateNow(n.id, s.ids(), s.now)
		s.trace.printf(s.now, "partition (leader flap): %s", desc)
	}
}

// voters is the widest view of the voters: every voter in any running
// node's configuration.
func (s *Sim) voters() []uint64 {
	var out []uint64
	for _, n := range s.upNodes() {
		out = append(out, n.node.Status().Membership.Voters...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// canCrash reports whether n may crash while keeping a majority of the
// voters running (whole-cluster crashes aside).
func (s *Sim) canCrash(n *simNode) bool {
	voters := s.voters()
	if !slices.Contains(voters, n.id) {
		return true
	}
	down := 1
	for _, id := range voters {
		if m := s.node(id); m != nil && !m.up && !m.removed {
			down++
		}
	}
	return down <= (len(voters)-1)/2
}

func (s *Sim) maybeCrash() {
	if s.chance(s.opts.CrashAllRate) {
		for _, n := range s.upNodes() {
			if !n.removed {
				s.crashFor(n, "whole cluster")
			}
		}
		return
	}
	if !s.chance(s.opts.CrashRate) {
		return
	}
	up := s.upNodes()
	if len(up) == 0 {
		return
	}
	n := up[s.rng.IntN(len(up))]
	if lead := s.leader(); lead != nil && s.chance(s.opts.LeaderCrashRate) {
		n = lead
	}
	if !n.removed && s.canCrash(n) {
		s.crashFor(n, "random")
	}
}

// crashFor crashes n and schedules its restart.
func (s *Sim) crashFor(n *simNode, why string) {
	s.crash(n, why)
	o := &s.opts
	n.restartTick = s.now + int64(o.DownTicksMin+s.rng.IntN(o.DownTicksMax-o.DownTicksMin+1))
}

// maybeSnapshot snapshots and compacts a node that is between Readys.
func (s *Sim) maybeSnapshot() {
	for _, n := range s.upNodes() {
		if n.pending == nil && s.chance(s.opts.SnapshotRate) {
			s.snapshotNode(n)
		}
	}
}

// maybeTransfer asks the leader, directly or through a follower, to hand
// leadership to a random voter.
func (s *Sim) maybeTransfer() {
	if !s.chance(s.opts.TransferRate) {
		return
	}
	lead := s.leader()
	if lead == nil {
		return
	}
	voters := lead.node.Status().Membership.Voters
	target := voters[s.rng.IntN(len(voters))]
	via := s.via(lead)
	s.trace.printf(s.now, "transfer leadership from %d to %d via %d", lead.id, target, via.id)
	_ = via.node.TransferLeadership(target)
	s.stats.Transfers++
}

// via returns the leader, or sometimes a random running node so that the
// request is forwarded.
func (s *Sim) via(lead *simNode) *simNode {
	up := s.upNodes()
	if s.rng.IntN(3) == 0 {
		return up[s.rng.IntN(len(up))]
	}
	return lead
}

// Membership bounds: at least minVoters voters after any removal, at most
// maxVoters voters, at most maxMembers members.
const (
	minVoters  = 3
	maxVoters  = 5
	maxMembers = 7
)

// maybeChangeMembership proposes, now and then, one single-server change
// (dissertation §4.1) on the leader; and, with OnElectionChangeRate, one
// on a leader just elected (an operator waiting for a leader), before its
// no-op can have committed.
func (s *Sim) maybeChangeMembership() {
	if id := s.changeOnLeader; id != 0 {
		s.changeOnLeader = 0
		if n := s.node(id); n.up && n.node.Status().Role == raft.RoleLeader {
			s.changeMembership(n)
			return
		}
	}
	if !s.chance(s.opts.MembershipRate) {
		return
	}
	if lead := s.leader(); lead != nil {
		s.changeMembership(lead)
	}
}

// changeMembership proposes a change on the leader: add a learner (a new,
// empty node), promote a learner, or remove a learner or a voter (the
// leader too).
func (s *Sim) changeMembership(lead *simNode) {
	st := lead.node.Status()
	cc, ok := s.pickConfChange(st)
	if !ok {
		return
	}
	// NB: always on the leader, never forwarded: a forwarded change can
	// arrive late or twice and is applied against whatever configuration
	// is current then (a duplicated "add learner 7" after "remove 7"
	// brings back a node that was removed and stopped). The server must
	// propose changes on the leader, or make them conditional.
	err := lead.node.ProposeConfChange(cc)
	s.trace.printf(s.now, "propose %s %d on leader %d: %v", cc.Type, cc.NodeID, lead.id, err)
	if err == nil {
		s.stats.ConfChanges++
	}
	if cc.Type == raft.ConfChangeAddLearner && err != nil {
		s.retire(cc.NodeID) // it never joined
	}
}

func (s *Sim) pickConfChange(st raft.Status) (raft.ConfChange, bool) {
	cs := st.Membership
	var caughtUp []uint64
	for _, p := range st.Peers {
		if p.IsLearner && p.Match+5 >= st.LastIndex {
			caughtUp = append(caughtUp, p.ID)
		}
	}
	switch r := s.rng.IntN(10); {
	case r < 4 && len(caughtUp) > 0 && len(cs.Voters) < maxVoters:
		return raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: caughtUp[s.rng.IntN(len(caughtUp))]}, true
	case r < 7 && len(cs.Voters)+len(cs.Learners) < maxMembers && len(cs.Learners) < 2 && st.Commit == st.LastIndex:
		// (Only with nothing uncommitted, so that a pending change does not
		// use up a node ID.)
		n, ok := s.addNode()
		if !ok {
			return raft.ConfChange{}, false
		}
		return raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: n.id}, true
	case r < 8 && len(cs.Learners) > 0:
		return raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: cs.Learners[s.rng.IntN(len(cs.Learners))]}, true
	case len(cs.Voters) > minVoters:
		return raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: cs.Voters[s.rng.IntN(len(cs.Voters))]}, true
	}
	return raft.ConfChange{}, false
}
