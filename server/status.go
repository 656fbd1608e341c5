package server

import (
	"slices"
	"sync"

	"github.com/natsraft/natsraft/raft"
)

// Status is a node's view of itself and, on the leader, of its followers.
type Status struct {
	ID           uint64       `json:"id,string"`
	Name         string       `json:"name"`
	Cluster      string       `json:"cluster"`
	Role         string       `json:"role"`
	Term         uint64       `json:"term"`
	Leader       string       `json:"leader"`
	LeaderID     uint64       `json:"leader_id,string"`
	CommitIndex  uint64       `json:"commit_index"`
	AppliedIndex uint64       `json:"applied_index"`
	FirstIndex   uint64       `json:"first_index"` // the log's first entry kept
	LastIndex    uint64       `json:"last_index"`
	Revision     int64        `json:"revision"`
	Members      []Member     `json:"members"`
	Progress     []PeerStatus `json:"progress,omitempty"`
}

// PeerStatus is the leader's replication view of one member.
type PeerStatus struct {
	Name    string `json:"name"`
	Match   uint64 `json:"match_index"`
	Next    uint64 `json:"next_index"`
	State   string `json:"state"`
	Learner bool   `json:"learner"`
	Active  bool   `json:"recently_active"`
}

// publishStatus makes the actor's current view readable from any goroutine.
func (n *Node) publishStatus() {
	rs := n.rn.Status()
	first, _ := n.store.FirstIndex() // fails only once closed
	st := &Status{
		ID: n.id, Name: n.cfg.Name, Cluster: n.cfg.Cluster,
		Role: roleName(rs), Term: rs.Term,
		Leader: n.members.name(rs.Lead), LeaderID: rs.Lead,
		CommitIndex: rs.Commit, AppliedIndex: n.store.Applied(), FirstIndex: first, LastIndex: rs.LastIndex,
		Revision: n.kv.Revision(), Members: n.members.list(),
	}
	for _, p := range rs.Peers {
		st.Progress = append(st.Progress, PeerStatus{
			Name: n.members.name(p.ID), Match: p.Match, Next: p.Next,
			State: p.State.String(), Learner: p.IsLearner, Active: p.RecentActive,
		})
	}
	prev := n.status.Swap(st)
	if prev == nil || !slices.Equal(prev.Members, st.Members) {
		n.membersChanged.signal() // after the swap: a waiter woken reads st
	}
}

// changeSignal broadcasts "something changed" to waiters.
type changeSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

// signal wakes everyone waiting for a change: it closes the current
// channel and makes a new one.
func (s *changeSignal) signal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
	}
	s.ch = make(chan struct{})
}

// changed returns a channel closed at the next signal.
func (s *changeSignal) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// roleName reports "learner" for a follower that does not vote.
func roleName(rs raft.Status) string {
	if rs.Role == raft.RoleFollower && rs.Membership.IsLearner(rs.ID) {
		return "learner"
	}
	return rs.Role.String()
}

// Status returns the node's latest published status.
func (n *Node) Status() Status { return *n.status.Load() }
