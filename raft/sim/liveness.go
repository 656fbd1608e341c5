package sim

import (
	"fmt"

	"github.com/natsraft/natsraft/raft"
)

// Liveness bounds, in multiples of ElectionTicks. With the network healed
// and quiet and every member running, the cluster must converge, elect a
// leader and commit every proposal within them.
const (
	// convergeElections: a stable leader known to every member, and every
	// member caught up (stale messages of the faulty phase may still be in
	// flight for a few election timeouts).
	convergeElections = 30
	// electionElections: a new leader after the old one was killed. Two
	// survivors of three split their votes whenever their timeouts fire
	// within a vote round trip of each other, which with timeouts drawn
	// from [E, 2E) happens about half the time: the bound allows for many
	// rounds.
	electionElections = 30
	// commitElections: a write applied after its call, a read answered.
	commitElections = 3
	// electionRounds is how many times the leader is killed and measured.
	electionRounds = 3
	// workloadElections is how long clients run in the liveness phase.
	workloadElections = 10
	// catchUpTicksPerEntry: a round trip per entry, and a tick to spare.
	catchUpTicksPerEntry = 3
)

// electionWatch measures one election in the liveness phase.
type electionWatch struct {
	active        bool
	afterTerm     uint64 // the killed leader's term
	killTick      int64
	firstCampaign int64 // the first election timeout that fired (0: none yet)
	leaderTick    int64 // the first leader of a later term (0: none yet)
}

func (w *electionWatch) observe(now int64, id uint64, st raft.Status) {
	if !w.active {
		return
	}
	if w.firstCampaign == 0 && (st.Role == raft.RolePreCandidate || st.Role == raft.RoleCandidate) {
		w.firstCampaign = now
	}
	if w.leaderTick == 0 && st.Role == raft.RoleLeader && st.Term > w.afterTerm {
		w.leaderTick = now
	}
}

// liveness heals everything and checks the cluster makes progress: it
// converges, elects a new leader each time the leader is killed, commits
// every client write and answers every read within the bounds, and in the
// end every member has applied everything ever committed.
func (s *Sim) liveness() {
	s.phase = phaseLiveness
	s.trace.printf(s.now, "liveness phase: network healed and quiet, every member restarted")
	s.net.heal()
	s.net.quiet = true
	s.clients.paused = true
	for _, n := range s.nodes[1:] {
		switch {
		case !n.up && !n.removed:
			s.restart(n)
		case n.pending != nil:
			n.pending.crash = crashNone // no more crashes
		}
	}
	if !s.converge() {
		return
	}
	s.retireNonMembers()
	for range electionRounds {
		if !s.electionRound() || !s.converge() {
			return
		}
	}
	if !s.workload() || !s.converge() {
		return
	}
	s.checkNothingLost()
}

// runUntil steps until cond holds, at most limit ticks; it fails the run
// if cond never held.
func (s *Sim) runUntil(limit int64, cond func() bool, what string) bool {
	for deadline := s.now + limit; s.err == nil; {
		if cond() {
			return true
		}
		if s.now >= deadline {
			s.fail("liveness: %s did not happen within %d ticks", what, limit)
			return false
		}
		s.stopDue()
		s.step()
	}
	return false
}

func (s *Sim) ticks(elections int) int64 { return int64(elections * s.opts.ElectionTicks) }

// converge waits for convergence. The bound grows with the entries the
// slowest node lacks: with one entry per append and one append in flight
// (Options.MaxMsgBytes, MaxInflightMsgs) a follower catches up by one
// entry per round trip, two ticks on the quiet network.
func (s *Sim) converge() bool {
	var last, behind uint64
	for _, n := range s.upNodes() {
		last = max(last, n.mirror.lastIndex())
	}
	for _, n := range s.upNodes() {
		behind = max(behind, last-min(last, n.sm.Applied))
	}
	limit := s.ticks(convergeElections) + catchUpTicksPerEntry*int64(behind)
	return s.runUntil(limit, s.converged, "convergence (a leader known to all, every member caught up)")
}

// converged: a leader whose configuration's members are all running,
// follow it in its term, and applied its whole log; no removed node is
// still running.
func (s *Sim) converged() bool {
	for _, n := range s.nodes[1:] {
		if n.removed && n.up {
			return false
		}
	}
	lead := s.leader()
	if lead == nil {
		return false
	}
	st := lead.node.Status()
	if st.Commit != st.LastIndex || lead.pending != nil {
		return false
	}
	for _, id := range append(st.Membership.Voters, st.Membership.Learners...) {
		n := s.node(id)
		if n == nil || !n.up || n.pending != nil {
			return false
		}
		fst := n.node.Status()
		if fst.Lead != lead.id || fst.Term != st.Term || n.sm.Applied != st.Commit {
			return false
		}
	}
	return true
}

// retireNonMembers stops the nodes that are not members of the converged
// configuration: added as learners by a change that was then lost.
func (s *Sim) retireNonMembers() {
	cs := s.leader().node.Status().Membership
	for _, n := range s.nodes[1:] {
		if n.up && !cs.IsMember(n.id) && s.retire(n.id) {
			s.trace.printf(s.now, "node %d never joined: retired", n.id)
		}
	}
}

// electionRound kills the leader and measures how long the others take to
// elect a new one, then restarts it.
func (s *Sim) electionRound() bool {
	lead := s.leader()
	term := lead.node.Status().Term
	s.crash(lead, "liveness: kill the leader")
	s.election = electionWatch{active: true, afterTerm: term, killTick: s.now}
	ok := s.runUntil(s.ticks(electionElections), func() bool { return s.election.leaderTick != 0 },
		fmt.Sprintf("a new leader after leader %d of term %d was killed", lead.id, term))
	if ok {
		w := &s.election
		s.stats.FailoverTicks = append(s.stats.FailoverTicks, w.leaderTick-w.killTick)
		s.stats.ElectionTicks = append(s.stats.ElectionTicks, w.leaderTick-w.firstCampaign)
		s.trace.printf(s.now, "liveness: new leader after %d ticks (election %d ticks)", w.leaderTick-w.killTick, w.leaderTick-w.firstCampaign)
	}
	s.election.active = false
	s.restart(lead)
	return ok
}

// workload runs the clients on the quiet cluster; every write must apply
// and every read answer within the commit bound.
func (s *Sim) workload() bool {
	s.clients.paused = false
	for range s.ticks(workloadElections) {
		s.step()
		if s.err != nil {
			return false
		}
	}
	s.clients.paused = true
	if !s.runUntil(s.ticks(commitElections), s.clients.idle, "the last client operations") {
		return false
	}
	bound := s.ticks(commitElections)
	for _, op := range s.clients.ops {
		if !op.liveness {
			continue
		}
		end := op.ret
		if op.kind == opPut {
			end = op.applied
		}
		if op.state != opDone || end == 0 || end-op.call > bound {
			s.fail("liveness: op %d (%s on node %d at tick %d) did not complete within %d ticks (state %d, end %d)",
				op.id, op.describe(), op.node, op.call, bound, op.state, end)
			return false
		}
		if op.kind == opPut {
			s.stats.CommitTicksMax = max(s.stats.CommitTicksMax, end-op.call)
		}
	}
	return true
}

// checkNothingLost: every member has applied everything ever known
// committed, and the leader's log holds it.
func (s *Sim) checkNothingLost() {
	lead := s.leader()
	st := lead.node.Status()
	if committed := s.check.maxCommitted(); st.Commit < committed {
		s.fail("committed entry lost: entries up to %d were committed, the converged cluster has only %d", committed, st.Commit)
	}
}
