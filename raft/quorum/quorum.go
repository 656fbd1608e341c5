// Package quorum is the pure majority arithmetic of Raft: which index a
// majority of voters has matched (§5.3, §5.4.2), and whether an election is
// won (§5.2). Learners never appear here: callers pass voters only
// (dissertation §4.2.1).
package quorum

import "slices"

// Majority is the number of voters that make a quorum of n voters.
func Majority(n int) int { return n/2 + 1 }

// CommittedIndex returns the largest index that a majority of voters has
// matched, where match reports each voter's matched index. With no voters it
// returns 0: nothing can be committed by an empty configuration.
//
// scratch, if large enough, is reused to avoid allocating on the hot path.
func CommittedIndex(voters []uint64, match func(id uint64) uint64, scratch []uint64) uint64 {
	if len(voters) == 0 {
		return 0
	}
	indexes := scratch[:0]
	for _, id := range voters {
		indexes = append(indexes, match(id))
	}
	slices.Sort(indexes)
	// Sorted ascending, the element at n-Majority(n) is matched by itself
	// and every larger element: exactly a majority.
	return indexes[len(indexes)-Majority(len(indexes))]
}

// VoteResult is the outcome of counting votes.
type VoteResult uint8

const (
	// VotePending: neither a majority for nor against yet.
	VotePending VoteResult = iota
	// VoteLost: a majority rejected.
	VoteLost
	// VoteWon: a majority granted.
	VoteWon
)

func (r VoteResult) String() string {
	return [...]string{"pending", "lost", "won"}[r]
}

// Tally counts the votes of voters; votes maps a voter to whether it granted.
// Votes from non-voters are ignored.
func Tally(voters []uint64, votes map[uint64]bool) VoteResult {
	granted, rejected := 0, 0
	for _, id := range voters {
		v, ok := votes[id]
		switch {
		case !ok:
		case v:
			granted++
		default:
			rejected++
		}
	}
	q := Majority(len(voters))
	switch {
	case granted >= q:
		return VoteWon
	case len(voters)-rejected < q:
		return VoteLost
	default:
		return VotePending
	}
}

// Active reports whether a majority of voters is active.
func Active(voters []uint64, active func(id uint64) bool) bool {
	n := 0
	for _, id := range voters {
		if active(id) {
			n++
		}
	}
	return n >= Majority(len(voters))
}
