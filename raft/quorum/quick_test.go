package quorum

import (
	"testing"
	"testing/quick"
)

// naiveCommittedIndex tries every candidate index and keeps the largest one
// matched by a majority: slow and obviously right.
func naiveCommittedIndex(voters []uint64, match map[uint64]uint64) uint64 {
	var best uint64
	for _, candidate := range match {
		n := 0
		for _, id := range voters {
			if match[id] >= candidate {
				n++
			}
		}
		if n >= len(voters)/2+1 && candidate > best {
			best = candidate
		}
	}
	return best
}

func TestCommittedIndexMatchesNaiveOracle(t *testing.T) {
	check := func(raw []uint16) bool {
		if len(raw) > 9 {
			raw = raw[:9]
		}
		voters := make([]uint64, len(raw))
		match := map[uint64]uint64{}
		for i, m := range raw {
			voters[i] = uint64(i + 1)
			match[uint64(i+1)] = uint64(m % 20)
		}
		got := CommittedIndex(voters, func(id uint64) uint64 { return match[id] }, nil)
		return got == naiveCommittedIndex(voters, match)
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
}

func TestTallyMatchesNaiveOracle(t *testing.T) {
	check := func(n uint8, granted, rejected uint16) bool {
		size := int(n%7) + 1
		voters := make([]uint64, size)
		votes := map[uint64]bool{}
		yes, no := 0, 0
		for i := range voters {
			voters[i] = uint64(i + 1)
			switch {
			case granted&(1<<i) != 0:
				votes[voters[i]] = true
				yes++
			case rejected&(1<<i) != 0:
				votes[voters[i]] = false
				no++
			}
		}
		votes[99] = true // a non-voter's vote never counts
		want := VotePending
		if yes > size/2 {
			want = VoteWon
		} else if no >= (size+1)/2 {
			want = VoteLost
		}
		return Tally(voters, votes) == want
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyConfigurationCommitsNothing(t *testing.T) {
	if got := CommittedIndex(nil, func(uint64) uint64 { return 5 }, nil); got != 0 {
		t.Fatalf("CommittedIndex(no voters) = %d, want 0", got)
	}
}
