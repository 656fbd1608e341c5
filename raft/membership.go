package raft

import (
	"fmt"
	"slices"
)

// membership tracks the configuration a node uses: per dissertation §4.1,
// "a server always uses the latest configuration in its log, regardless of
// whether that entry is committed". Because that entry may be truncated
// away by a new leader, the configuration is derived from the one in force
// at the start of the log (the snapshot's) plus every conf change entry in
// the log, and recomputed when the log is truncated.
//
// Invariant: changes is sorted by index, and every index is in the log.
// Invariant: current == base with changes applied in order.
type membership struct {
	base    ConfState
	changes []confEntry
	current ConfState
}

type confEntry struct {
	index  uint64
	change ConfChange
}

func newMembership(base ConfState) membership {
	return membership{base: base, current: base}
}

// observe records the conf change entries among ents, which were just
// appended to the log at ents[0].Index, after truncating any changes at or
// after that index. It reports whether the configuration changed.
func (ms *membership) observe(ents []Entry) bool {
	if len(ents) == 0 {
		return false
	}
	truncated := ms.truncateFrom(ents[0].Index)
	added := false
	for i := range ents {
		if ents[i].Type != EntryConfChange {
			continue
		}
		cc, err := UnmarshalConfChange(ents[i].Data)
		if err != nil {
			// A leader never appends a malformed change (it validates); one
			// in our log means the log is corrupt.
			panic(fmt.Sprintf("raft: malformed conf change at index %d: %v", ents[i].Index, err))
		}
		ms.changes = append(ms.changes, confEntry{index: ents[i].Index, change: cc})
		added = true
	}
	if truncated || added {
		ms.recompute()
	}
	return truncated || added
}

// truncateFrom forgets changes at or after index; it reports whether any was.
func (ms *membership) truncateFrom(index uint64) bool {
	n := len(ms.changes)
	for n > 0 && ms.changes[n-1].index >= index {
		n--
	}
	truncated := n < len(ms.changes)
	ms.changes = ms.changes[:n]
	return truncated
}

func (ms *membership) recompute() {
	cs := ms.base
	for _, c := range ms.changes {
		cs = cs.Apply(c.change)
	}
	ms.current = cs
}

// restore resets to a snapshot's configuration (§7).
func (ms *membership) restore(cs ConfState) {
	*ms = newMembership(cs)
}

// lastChangeIndex is the index of the latest conf change in the log, or 0.
func (ms *membership) lastChangeIndex() uint64 {
	if len(ms.changes) == 0 {
		return 0
	}
	return ms.changes[len(ms.changes)-1].index
}

// validate checks a proposed change against the current configuration:
// single-server changes only, never leaving no voter, never demoting a
// voter, never a no-op (which would hide an operator's mistake).
func (ms *membership) validate(cc ConfChange) error {
	cur := ms.current
	switch {
	case cc.NodeID == None:
		return fmt.Errorf("%w: node ID must not be zero", ErrConfChangeInvalid)
	case cc.Type == ConfChangeAddVoter && cur.IsVoter(cc.NodeID):
		return fmt.Errorf("%w: node %d is already a voter", ErrConfChangeInvalid, cc.NodeID)
	case cc.Type == ConfChangeAddLearner && cur.IsVoter(cc.NodeID):
		return fmt.Errorf("%w: node %d is a voter and cannot be demoted", ErrConfChangeInvalid, cc.NodeID)
	case cc.Type == ConfChangeAddLearner && cur.IsLearner(cc.NodeID):
		return fmt.Errorf("%w: node %d is already a learner", ErrConfChangeInvalid, cc.NodeID)
	case cc.Type == ConfChangeRemove && !cur.IsMember(cc.NodeID):
		return fmt.Errorf("%w: node %d is not a member", ErrConfChangeInvalid, cc.NodeID)
	case cc.Type == ConfChangeRemove && cur.IsVoter(cc.NodeID) && len(cur.Voters) == 1:
		return fmt.Errorf("%w: cannot remove the last voter %d", ErrConfChangeInvalid, cc.NodeID)
	case cc.Type > ConfChangeRemove:
		return fmt.Errorf("%w: unknown type %d", ErrConfChangeInvalid, cc.Type)
	}
	return nil
}

// members returns every voter and learner, sorted.
func (cs ConfState) members() []uint64 {
	all := append(slices.Clone(cs.Voters), cs.Learners...)
	slices.Sort(all)
	return all
}
