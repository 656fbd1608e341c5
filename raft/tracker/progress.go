// Package tracker holds the leader's view of each follower's replication
// (Figure 2 "Volatile state on leaders": nextIndex[] and matchIndex[]), with
// the flow control of etcd-style probe, pipelined replicate and snapshot
// states.
package tracker

import "fmt"

// State is how the leader currently replicates to a follower.
type State uint8

const (
	// StateProbe: the follower's match is unknown; send one append per
	// heartbeat interval and wait for its answer (§5.3 back-off).
	StateProbe State = iota
	// StateReplicate: the match is known; pipeline appends optimistically,
	// bounded by Inflights.
	StateReplicate
	// StateSnapshot: the follower needs a snapshot (§7); no appends until
	// it reports success or failure.
	StateSnapshot
)

func (s State) String() string { return [...]string{"probe", "replicate", "snapshot"}[s] }

// Progress is the leader's view of one follower (or learner).
//
// Invariant: Match < Next.
type Progress struct {
	// Match is the highest index known to be replicated on the follower.
	Match uint64
	// Next is the index of the next entry to send.
	Next uint64
	// State is the flow-control state.
	State State
	// PendingSnapshot is the index of the snapshot being sent in StateSnapshot.
	PendingSnapshot uint64
	// ProbeSent blocks further probes in StateProbe until the next
	// heartbeat or a response.
	ProbeSent bool
	// RecentActive is set on any message from the follower and cleared at
	// each CheckQuorum round (dissertation §6.2).
	RecentActive bool
	// IsLearner marks a non-voting member (dissertation §4.2.1).
	IsLearner bool
	// MatchAtHeartbeat is Match when the previous heartbeat response came:
	// no progress over a whole round with appends in flight means they
	// were lost.
	MatchAtHeartbeat uint64
	// ReadRound is the highest read-confirmation round the follower has
	// acknowledged (dissertation §6.4).
	ReadRound uint64
	// Inflights bounds pipelined appends in StateReplicate.
	Inflights *Inflights
}

// New returns the Progress of a follower right after an election: Next
// is just past the leader's last index (Figure 2: nextIndex initialised to
// leader last log index + 1), Match unknown.
func New(next uint64, maxInflight int, isLearner bool) *Progress {
	return &Progress{Next: next, Inflights: NewInflights(maxInflight), IsLearner: isLearner}
}

// BecomeProbe enters StateProbe. From a snapshot, probing resumes after the
// snapshot's index; otherwise after the match.
func (pr *Progress) BecomeProbe() {
	if pr.State == StateSnapshot {
		pending := pr.PendingSnapshot
		pr.resetState(StateProbe)
		pr.Next = max(pr.Match+1, pending+1)
		return
	}
	pr.resetState(StateProbe)
	pr.Next = pr.Match + 1
}

// BecomeReplicate enters StateReplicate, pipelining after the match.
func (pr *Progress) BecomeReplicate() {
	pr.resetState(StateReplicate)
	pr.Next = pr.Match + 1
}

// BecomeSnapshot enters StateSnapshot for a snapshot at index.
func (pr *Progress) BecomeSnapshot(index uint64) {
	pr.resetState(StateSnapshot)
	pr.PendingSnapshot = index
}

func (pr *Progress) resetState(s State) {
	pr.ProbeSent = false
	pr.PendingSnapshot = 0
	pr.State = s
	pr.Inflights.Reset()
}

// SentEntries records that an append of entries up to lastIndex was sent.
func (pr *Progress) SentEntries(lastIndex uint64) {
	switch pr.State {
	case StateReplicate:
		if lastIndex >= pr.Next {
			pr.Next = lastIndex + 1
			pr.Inflights.Add(lastIndex)
		}
	case StateProbe:
		pr.ProbeSent = true
	}
}

// MaybeUpdate records an acknowledgement of index n; it reports whether it
// raised Match (stale acks, reordered on the network, change nothing).
func (pr *Progress) MaybeUpdate(n uint64) bool {
	updated := false
	if pr.Match < n {
		pr.Match = n
		updated = true
		pr.ProbeSent = false
	}
	pr.Next = max(pr.Next, n+1)
	return updated
}

// MaybeDecrTo handles a rejection of the append whose previous index was
// rejected, with the follower's hint of where to retry (§5.3: "decrement
// nextIndex and retry", with the optimisation that skips a whole term). It
// reports whether the rejection was current (not a stale duplicate).
func (pr *Progress) MaybeDecrTo(rejected, matchHint uint64) bool {
	if pr.State == StateReplicate {
		// A rejection of an index at or below Match is stale.
		if rejected <= pr.Match {
			return false
		}
		pr.Next = pr.Match + 1
		return true
	}
	// In probe, only the append we last sent (Next-1) is awaited.
	if pr.Next-1 != rejected {
		return false
	}
	pr.Next = max(min(rejected, matchHint+1), pr.Match+1)
	pr.ProbeSent = false
	return true
}

// IsPaused reports whether the leader must hold appends to this follower:
// a probe is outstanding, the pipeline is full, or a snapshot is in flight.
func (pr *Progress) IsPaused() bool {
	switch pr.State {
	case StateProbe:
		return pr.ProbeSent
	case StateReplicate:
		return pr.Inflights.Full()
	default:
		return true
	}
}

func (pr *Progress) String() string {
	return fmt.Sprintf("match=%d next=%d state=%s learner=%t", pr.Match, pr.Next, pr.State, pr.IsLearner)
}
