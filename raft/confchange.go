package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ConfChangeType names one single-server membership change (dissertation §4.1).
type ConfChangeType uint8

const (
	// ConfChangeAddVoter adds a voter, or promotes a learner to voter.
	ConfChangeAddVoter ConfChangeType = iota
	// ConfChangeAddLearner adds a non-voting member (dissertation §4.2.1).
	ConfChangeAddLearner
	// ConfChangeRemove removes a voter or a learner.
	ConfChangeRemove
)

var confChangeTypeNames = [...]string{"add-voter", "add-learner", "remove"}

func (t ConfChangeType) String() string {
	if int(t) < len(confChangeTypeNames) {
		return confChangeTypeNames[t]
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is one membership change. Context is opaque to the core; the
// server uses it to carry the member's name and addresses.
type ConfChange struct {
	Type    ConfChangeType
	NodeID  uint64
	Context []byte
}

// ErrBadConfChange reports an EntryConfChange whose data cannot be decoded.
var ErrBadConfChange = errors.New("raft: malformed conf change")

// confChangeHeaderBytes is type (1 byte) then node ID (8 bytes, big-endian).
const confChangeHeaderBytes = 9

// Marshal encodes cc for an EntryConfChange entry: type, node ID, context.
func (cc ConfChange) Marshal() []byte {
	b := make([]byte, confChangeHeaderBytes, confChangeHeaderBytes+len(cc.Context))
	b[0] = byte(cc.Type)
	binary.BigEndian.PutUint64(b[1:], cc.NodeID)
	return append(b, cc.Context...)
}

// UnmarshalConfChange decodes what Marshal wrote.
func UnmarshalConfChange(b []byte) (ConfChange, error) {
	if len(b) < confChangeHeaderBytes || ConfChangeType(b[0]) > ConfChangeRemove {
		return ConfChange{}, ErrBadConfChange
	}
	cc := ConfChange{Type: ConfChangeType(b[0]), NodeID: binary.BigEndian.Uint64(b[1:])}
	if cc.NodeID == None {
		return ConfChange{}, ErrBadConfChange
	}
	if len(b) > confChangeHeaderBytes {
		cc.Context = slices.Clone(b[confChangeHeaderBytes:])
	}
	return cc, nil
}

// Apply returns the membership after cc. It never modifies cs. Changes that
// do nothing (adding a present voter, removing an absent node) return an
// equal membership.
func (cs ConfState) Apply(cc ConfChange) ConfState {
	out := ConfState{
		Voters:   slices.DeleteFunc(slices.Clone(cs.Voters), func(id uint64) bool { return id == cc.NodeID }),
		Learners: slices.DeleteFunc(slices.Clone(cs.Learners), func(id uint64) bool { return id == cc.NodeID }),
	}
	switch cc.Type {
	case ConfChangeAddVoter:
		out.Voters = append(out.Voters, cc.NodeID)
	case ConfChangeAddLearner:
		if slices.Contains(cs.Voters, cc.NodeID) {
			// A voter is never demoted by AddLearner: keep it a voter.
			out.Voters = append(out.Voters, cc.NodeID)
		} else {
			out.Learners = append(out.Learners, cc.NodeID)
		}
	}
	slices.Sort(out.Voters)
	slices.Sort(out.Learners)
	return out
}

// IsVoter reports whether id votes in cs.
func (cs ConfState) IsVoter(id uint64) bool { return slices.Contains(cs.Voters, id) }

// IsLearner reports whether id is a learner in cs.
func (cs ConfState) IsLearner(id uint64) bool { return slices.Contains(cs.Learners, id) }

// IsMember reports whether id is a voter or a learner in cs.
func (cs ConfState) IsMember(id uint64) bool { return cs.IsVoter(id) || cs.IsLearner(id) }

// Equal reports whether two memberships hold the same voters and learners.
func (cs ConfState) Equal(o ConfState) bool {
	return slices.Equal(sortedCopy(cs.Voters), sortedCopy(o.Voters)) &&
		slices.Equal(sortedCopy(cs.Learners), sortedCopy(o.Learners))
}

func sortedCopy(ids []uint64) []uint64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
