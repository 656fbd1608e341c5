package sim

import (
	"fmt"

	"github.com/natsraft/natsraft/raft/quorum"
)

// logView is what an election sees of one voter's log, for an entry: does
// it hold the entry, and how up-to-date is it (§5.4.1).
type logView struct {
	id                  uint64
	holds               bool
	lastIndex, lastTerm uint64
}

// atLeastAsUpToDate is the election restriction of §5.4.1: would a voter
// with log b grant its vote to a candidate with log a?
func atLeastAsUpToDate(a, b logView) bool {
	return a.lastTerm > b.lastTerm || (a.lastTerm == b.lastTerm && a.lastIndex >= b.lastIndex)
}

// checkCommitStable checks, when the entry (index, term) becomes known
// committed, that no node lacking it could win an election: Raft
// guarantees that every log lacking a committed entry is less up-to-date
// than every log in the majority that committed it (§5.4.3), so such a
// node is at least as up-to-date as a minority of voters only. The Figure
// 8 anomaly, an old-term entry committed by counting, breaks this at the
// moment of the commit; a later election would overwrite the entry.
//
// Each candidate is judged with its own configuration, as its election
// would count votes. Running nodes are judged by the log they handed out,
// crashed ones by their durable log (what they restart with); stopped
// nodes do not vote.
func (s *Sim) checkCommitStable(index, term uint64) error {
	views := make([]*logView, len(s.nodes))
	view := func(id uint64) *logView {
		if views[id] == nil {
			v := s.logView(s.nodes[id], index, term)
			views[id] = &v
		}
		return views[id]
	}
	for _, n := range s.nodes[1:] {
		voters, ok := s.candidateVoters(n)
		if !ok || view(n.id).holds {
			continue
		}
		x := view(n.id)
		var electors []uint64
		for _, id := range voters {
			if v := s.node(id); v != nil && (v.up || !v.removed) && atLeastAsUpToDate(*x, *view(id)) {
				electors = append(electors, id)
			}
		}
		if len(electors) >= quorum.Majority(len(voters)) {
			return fmt.Errorf("committed entry not stable (Figure 8): entry %d term %d is committed, but node %d (log ends %d/%d) lacks it and is at least as up-to-date as %v, a majority of its voters %v that could elect it",
				index, term, n.id, x.lastIndex, x.lastTerm, electors, voters)
		}
	}
	return nil
}

// candidateVoters returns the voters n would count in an election, if n
// can campaign: if it is a voter in its latest configuration.
func (s *Sim) candidateVoters(n *simNode) ([]uint64, bool) {
	switch {
	case n.up:
		cs := n.node.Status().Membership
		return cs.Voters, cs.IsVoter(n.id)
	case n.removed:
		return nil, false
	default:
		return n.durableConf.Voters, n.durableConf.IsVoter(n.id)
	}
}

func (s *Sim) logView(n *simNode, index, term uint64) logView {
	if n.up {
		m := &n.mirror
		t, ok := m.term(index)
		return logView{id: n.id, holds: index <= m.floorIndex || (ok && t == term), lastIndex: m.lastIndex(), lastTerm: m.lastTerm()}
	}
	t, compacted, ok := n.disk.durableTerm(index)
	last, _ := n.disk.storage.LastIndex()
	lastTerm, _ := n.disk.storage.Term(last)
	return logView{id: n.id, holds: compacted || (ok && t == term), lastIndex: last, lastTerm: lastTerm}
}
