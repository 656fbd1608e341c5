package raft

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// stepTo steps m on node to with From/To/Term filled in by the test.
func stepOrFail(t *testing.T, n *Node, m Message) {
	t.Helper()
	if err := n.Step(m); err != nil {
		t.Fatalf("step %s: %v", m.Type, err)
	}
}

// TestFollowerStartsElectionAfterRandomizedTimeout: a follower that hears
// from no leader within its election timeout becomes a (pre-)candidate,
// and timeouts are drawn from [et, 2et). Reference: §5.2.
func TestFollowerStartsElectionAfterRandomizedTimeout(t *testing.T) {
	seen := map[int]bool{}
	for seed := uint64(0); seed < 50; seed++ {
		s := NewMemoryStorage()
		ents, hs, _ := Bootstrap([]uint64{1, 2, 3})
		_ = s.Append(ents)
		s.SetHardState(hs)
		cfg := defaultTestConfig(1, s, seed)
		cfg.PreVote = false
		n, err := NewNode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ticks := 0
		for n.r.role == RoleFollower {
			n.Tick()
			ticks++
		}
		if ticks < cfg.ElectionTicks || ticks >= 2*cfg.ElectionTicks {
			t.Fatalf("seed %d: election after %d ticks, want in [%d, %d)", seed, ticks, cfg.ElectionTicks, 2*cfg.ElectionTicks)
		}
		seen[ticks] = true
		if n.r.role != RoleCandidate || n.r.term != 2 || n.r.vote != 1 {
			t.Fatalf("after timeout: role %s term %d vote %d", n.r.role, n.r.term, n.r.vote)
		}
	}
	if len(seen) < 3 {
		t.Fatalf("election timeouts not randomized: saw only %v", seen)
	}
}

// TestVoteIsPersistedBeforeItIsSent: a vote answer leaves only after the
// HardState recording it, and a node votes once per term. Reference: §5.2,
// Figure 2 ("respond after updating stable storage").
func TestVoteIsPersistedBeforeItIsSent(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, func(cfg *Config) { cfg.PreVote = false })
	n := c.nodes[1]
	stepOrFail(t, n, Message{Type: MsgVote, From: 2, To: 1, Term: 5, Index: 3, LogTerm: 1})
	rd := n.Ready()
	if len(rd.Messages) != 0 {
		t.Fatalf("vote answer among messages sent before the sync: %+v", rd.Messages)
	}
	if len(rd.MessagesAfterSync) != 1 || rd.MessagesAfterSync[0].Reject || !rd.MustSync || rd.HardState.Vote != 2 || rd.HardState.Term != 5 {
		t.Fatalf("want one granted vote after syncing vote=2 term=5, got hs=%+v msgs=%+v", rd.HardState, rd.MessagesAfterSync)
	}
	n.Advance()
	stepOrFail(t, n, Message{Type: MsgVote, From: 3, To: 1, Term: 5, Index: 3, LogTerm: 1})
	rd = n.Ready()
	if len(rd.MessagesAfterSync) != 1 || !rd.MessagesAfterSync[0].Reject {
		t.Fatalf("second vote in term 5 granted: %+v", rd.MessagesAfterSync)
	}
}

// TestVoterRejectsCandidateWithStaleLog: the election restriction.
// Reference: §5.4.1.
func TestVoterRejectsCandidateWithStaleLog(t *testing.T) {
	cases := []struct {
		name             string
		lastIndex, lastT uint64
		reject           bool
	}{
		{"older last term", 10, 0, true},
		{"same term shorter log", 2, 1, true},
		{"same term same length", 3, 1, false},
		{"newer last term", 1, 2, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, []uint64{1, 2, 3}, func(cfg *Config) { cfg.PreVote = false })
			n := c.nodes[1]
			stepOrFail(t, n, Message{Type: MsgVote, From: 2, To: 1, Term: 5, Index: tc.lastIndex, LogTerm: tc.lastT})
			rd := n.Ready()
			if got := rd.MessagesAfterSync[0].Reject; got != tc.reject {
				t.Fatalf("reject = %t, want %t", got, tc.reject)
			}
		})
	}
}

// TestPreVoteDoesNotDisruptAfterPartition: a node isolated long enough to
// time out many times does not raise its term, so when it returns the
// leader keeps leading. Reference: dissertation §9.6.
func TestPreVoteDoesNotDisruptAfterPartition(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	term := c.nodes[1].r.term
	c.isolate(3)
	c.tickAll(100)
	if got := c.nodes[3].r.term; got != term {
		t.Fatalf("isolated node's term went from %d to %d under PreVote", term, got)
	}
	c.heal()
	c.tickAll(30)
	if c.mustLeader() != 1 || c.nodes[1].r.term != term {
		t.Fatalf("leader disturbed: leader %d term %d, want 1 term %d", c.leader(), c.nodes[1].r.term, term)
	}
}

// TestWithoutPreVoteAReturningNodeDisrupts shows what PreVote prevents:
// the same partition without it raises terms and deposes the leader.
func TestWithoutPreVoteAReturningNodeDisrupts(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, func(cfg *Config) { cfg.PreVote = false; cfg.CheckQuorum = false })
	c.campaign(1)
	term := c.nodes[1].r.term
	c.isolate(3)
	c.tickAll(100)
	c.heal()
	c.tickAll(30)
	if c.nodes[1].r.term == term {
		t.Fatalf("leader term unchanged at %d: the disruption this test documents did not happen", term)
	}
}

// TestCheckQuorumLeaderStepsDown: a leader cut off from its quorum steps
// down within an election timeout or two. Reference: dissertation §6.2.
func TestCheckQuorumLeaderStepsDown(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.isolate(1)
	for range 2 * c.nodes[1].r.cfg.ElectionTicks {
		c.nodes[1].Tick()
		c.stabilize()
	}
	if role := c.nodes[1].r.role; role == RoleLeader {
		t.Fatal("isolated leader still leads")
	}
}

// TestLeaderStickinessIgnoresVotes: followers that heard from the leader
// within the minimum election timeout ignore vote requests, so a removed
// or flapping server cannot depose it. Reference: dissertation §4.2.3.
func TestLeaderStickinessIgnoresVotes(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, func(cfg *Config) { cfg.PreVote = false })
	c.campaign(1)
	term := c.nodes[2].r.term
	stepOrFail(t, c.nodes[2], Message{Type: MsgVote, From: 3, To: 2, Term: term + 5, Index: 100, LogTerm: 100})
	if c.nodes[2].r.term != term || len(c.nodes[2].r.msgsAfterSync) != 0 {
		t.Fatalf("sticky follower took the vote request: term %d msgs %v", c.nodes[2].r.term, c.nodes[2].r.msgsAfterSync)
	}
}

// TestStaleLeaderLearnsNewTerm: an append from an older term is answered
// with the current term, so the stale leader steps down. Reference: §5.1.
func TestStaleLeaderLearnsNewTerm(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.isolate(1)
	// Only 2 and 3 see time pass: one of them is elected in a new term,
	// while 1 still believes it leads.
	for range 40 {
		c.nodes[2].Tick()
		c.nodes[3].Tick()
		c.stabilize()
	}
	c.heal()
	c.nodes[1].r.broadcastHeartbeat()
	c.stabilize()
	if c.nodes[1].r.role == RoleLeader || c.nodes[1].r.term != c.nodes[2].r.term {
		t.Fatalf("stale leader: role %s term %d, new term %d", c.nodes[1].r.role, c.nodes[1].r.term, c.nodes[2].r.term)
	}
}

// TestLeaderOnlyCommitsCurrentTermEntriesByCounting is the Figure 8
// scenario: an entry of an earlier term stored on a majority is not
// committed until an entry of the leader's own term is. Reference: §5.4.2.
func TestLeaderOnlyCommitsCurrentTermEntriesByCounting(t *testing.T) {
	ids := []uint64{1, 2, 3, 4, 5}
	c := newTestCluster(t, ids, func(cfg *Config) { cfg.PreVote = false; cfg.CheckQuorum = false })
	// (a) S1 leads term 2 and replicates index 6 only to S2.
	c.campaign(1)
	base := c.nodes[1].r.log.lastIndex()
	c.drop = func(m Message) bool { return m.From == 1 && m.To != 2 }
	c.propose(1, "term2-entry")
	c.stabilize()
	if got := c.nodes[1].r.log.committed; got > base {
		t.Fatalf("entry on 2 of 5 committed at %d", got)
	}
	// (b) S1 crashes; S5 is elected in term 3 by S3, S4, S5 and appends.
	// Its own entries (the no-op, then a proposal) reach no one before it crashes.
	c.drop = func(m Message) bool {
		return m.From == 1 || m.To == 1 || m.From == 2 || m.To == 2 || (m.From == 5 && m.Type == MsgApp)
	}
	c.campaign(5)
	if c.nodes[5].r.role != RoleLeader {
		t.Fatal("setup: S5 not elected")
	}
	_ = c.nodes[5].Propose([]byte("term3-entry"))
	c.stabilize()
	// (c) S1 restarts and is elected in term 4 by S2 and S3, but its
	// appends to S3 are held back.
	c.restart(1)
	c.drop = func(m Message) bool {
		return m.From == 5 || m.To == 5 || m.From == 4 || m.To == 4 || (m.From == 1 && m.To == 3 && m.Type == MsgApp)
	}
	for range 3 {
		if c.nodes[1].r.role != RoleLeader {
			c.campaign(1) // S3 refuses term 3, in which it voted for S5
		}
	}
	if c.nodes[1].r.role != RoleLeader {
		t.Fatalf("S1 not re-elected: leader %d", c.leader())
	}
	lead := c.nodes[1].r
	entryIndex := base + 1
	// S1 replicates only its term-2 entry to S3, as a byte-limited append
	// would: now on a majority (S1, S2, S3), but of an earlier term.
	prevTerm, _ := lead.log.term(entryIndex - 1)
	stepOrFail(t, c.nodes[3], Message{Type: MsgApp, From: 1, To: 3, Term: lead.term, Index: entryIndex - 1, LogTerm: prevTerm,
		Entries: []Entry{{Index: entryIndex, Term: 2, Data: []byte("term2-entry")}}, Commit: lead.log.committed})
	c.drop = func(m Message) bool { return m.From == 3 && m.Type != MsgAppResp }
	c.process(3)
	c.deliverAll()
	if lead.progress[3].Match < entryIndex || lead.progress[2].Match < entryIndex {
		t.Fatalf("setup: term-2 entry not on a majority: match %v %v", lead.progress[2], lead.progress[3])
	}
	if lead.log.committed >= entryIndex {
		t.Fatalf("leader of term %d committed index %d of term 2 by counting replicas", lead.term, entryIndex)
	}
	// (e) Once its own term's no-op is on a majority, both commit.
	c.heal()
	c.stabilize()
	if lead.log.committed != lead.log.lastIndex() || lead.log.committed <= entryIndex {
		t.Fatalf("current-term entry on a majority not committed: commit %d last %d", lead.log.committed, lead.log.lastIndex())
	}
}

// TestProposalsInOneStepShareOneAppend: many proposals stepped before a
// Ready travel as one MsgApp per follower.
func TestProposalsInOneStepShareOneAppend(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	for i := range 100 {
		c.propose(1, fmt.Sprint(i))
	}
	rd := c.nodes[1].Ready()
	apps := map[uint64]int{}
	for _, m := range rd.Messages {
		if m.Type == MsgApp {
			apps[m.To]++
			if len(m.Entries) != 100 {
				t.Fatalf("append to %d holds %d entries, want 100", m.To, len(m.Entries))
			}
		}
	}
	if apps[2] != 1 || apps[3] != 1 {
		t.Fatalf("appends per follower = %v, want one each", apps)
	}
}

// TestLeaderSendsAppendsBeforeItsOwnSync: the leader's appends may leave
// before its local write (dissertation §10.2.1), but its own log counts
// towards the quorum only after Advance.
func TestLeaderSendsAppendsBeforeItsOwnSync(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.propose(1, "x")
	rd := c.nodes[1].Ready()
	if len(rd.Entries) != 1 || len(rd.Messages) != 2 {
		t.Fatalf("want 1 entry and 2 early appends, got %d entries %d messages", len(rd.Entries), len(rd.Messages))
	}
	// One follower acks before the leader's own sync: 1 of 3 is no quorum.
	lead := c.nodes[1]
	idx := rd.Entries[0].Index
	stepOrFail(t, lead, Message{Type: MsgAppResp, From: 2, To: 1, Term: lead.r.term, Index: idx})
	if lead.r.log.committed >= idx {
		t.Fatal("committed with the leader's unsynced copy counted")
	}
	_ = c.storage[1].Append(rd.Entries)
	lead.Advance()
	if lead.r.log.committed != idx {
		t.Fatalf("commit %d after leader sync, want %d", lead.r.log.committed, idx)
	}
}

// TestFastBackoffSkipsConflictingTerm: a follower with a long divergent
// suffix is repaired in a few round trips, not one per entry. Reference:
// §5.3 (the optimisation after Figure 7).
func TestFastBackoffSkipsConflictingTerm(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, func(cfg *Config) { cfg.CheckQuorum = false })
	c.campaign(2)
	// Node 2 leads term 2 and appends 50 entries nobody else gets.
	c.drop = func(Message) bool { return true }
	for i := range 50 {
		_ = c.nodes[2].Propose([]byte(fmt.Sprint("lost", i)))
	}
	c.process(2)
	c.queue = nil
	c.heal()
	c.isolate(2)
	c.campaign(1)
	for i := range 50 {
		c.propose(1, fmt.Sprint("kept", i))
	}
	c.stabilize()
	c.heal()
	rejections := 0
	c.drop = func(m Message) bool {
		if m.Type == MsgAppResp && m.Reject && m.From == 2 {
			rejections++
		}
		return false
	}
	c.tickAll(3)
	if rejections > 3 {
		t.Fatalf("%d rejections to repair a 50-entry divergence", rejections)
	}
	if !slices.Equal(c.appliedData(1), c.appliedData(2)) {
		t.Fatalf("logs differ after repair:\n1: %v\n2: %v", c.appliedData(1), c.appliedData(2))
	}
}

// TestPipelineIsBoundedByInflights: in replicate state at most
// MaxInflightMsgs appends are outstanding per follower.
func TestPipelineIsBoundedByInflights(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, func(cfg *Config) { cfg.MaxInflightMsgs = 3; cfg.MaxMsgBytes = 1 })
	c.campaign(1)
	for i := range 10 {
		c.propose(1, fmt.Sprint(i))
	}
	rd := c.nodes[1].Ready()
	perFollower := map[uint64]int{}
	for _, m := range rd.Messages {
		if m.Type == MsgApp {
			perFollower[m.To]++
			if len(m.Entries) != 1 {
				t.Fatalf("byte limit of 1 still sent %d entries", len(m.Entries))
			}
		}
	}
	if perFollower[2] != 3 || perFollower[3] != 3 {
		t.Fatalf("appends in flight = %v, want 3 per follower", perFollower)
	}
}

// TestLaggingFollowerReceivesSnapshot: a follower behind the leader's
// first index gets InstallSnapshot and catches up. Reference: §7.
func TestLaggingFollowerReceivesSnapshot(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.isolate(3)
	for i := range 20 {
		c.propose(1, fmt.Sprint(i))
	}
	c.stabilize()
	s := c.storage[1]
	applied := c.nodes[1].r.log.applied
	if _, err := s.CreateSnapshot(applied, ConfState{Voters: []uint64{1, 2, 3}}, []byte("image")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(applied); err != nil {
		t.Fatal(err)
	}
	c.heal()
	var sent *Snapshot
	c.drop = func(m Message) bool {
		if m.Type == MsgSnap {
			sent = m.Snapshot
		}
		return false
	}
	c.tickAll(5)
	if sent == nil || sent.Metadata.Index != applied || string(sent.Data) != "image" {
		t.Fatalf("snapshot sent = %+v, want index %d", sent, applied)
	}
	c.nodes[1].ReportSnapshot(3, false)
	c.propose(1, "after")
	c.tickAll(3)
	if got := c.nodes[3].r.log.lastIndex(); got != c.nodes[1].r.log.lastIndex() {
		t.Fatalf("follower last index %d, leader %d", got, c.nodes[1].r.log.lastIndex())
	}
	if got := c.storage[3].mu.snapshot.Metadata.Index; got != applied {
		t.Fatalf("follower installed snapshot %d, want %d", got, applied)
	}
}

// TestRestartRecoversFromStorage: a node rebuilt from its storage has its
// term, vote, commit, log and membership. Reference: Figure 2.
func TestRestartRecoversFromStorage(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	c.propose(1, "a")
	c.stabilize()
	before := c.nodes[2].Status()
	n, err := NewNode(defaultTestConfig(2, c.storage[2], 7))
	if err != nil {
		t.Fatal(err)
	}
	after := n.Status()
	if after.Term != before.Term || after.Vote != before.Vote || after.Commit != before.Commit ||
		after.LastIndex != before.LastIndex || !after.Membership.Equal(before.Membership) {
		t.Fatalf("restart lost state:\nbefore %+v\nafter  %+v", before, after)
	}
	rd := n.Ready()
	if len(rd.CommittedEntries) != int(before.Commit) {
		t.Fatalf("restart re-applies %d entries, want %d (Applied was 0)", len(rd.CommittedEntries), before.Commit)
	}
}

// TestBadInputIsRejectedWithoutPanic: malformed or misaddressed messages
// are refused with an error; stale ones are ignored.
func TestBadInputIsRejectedWithoutPanic(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	n := c.nodes[2]
	term := n.r.term
	cases := []struct {
		name string
		m    Message
		want error
	}{
		{"local type", Message{Type: MsgHup, From: 1, To: 2}, ErrStepLocalMsg},
		{"unknown type", Message{Type: 200, From: 1, To: 2}, ErrInvalidMessage},
		{"wrong recipient", Message{Type: MsgApp, From: 1, To: 9, Term: term}, ErrInvalidMessage},
		{"no sender", Message{Type: MsgApp, To: 2, Term: term}, ErrInvalidMessage},
		{"gap in entries", Message{Type: MsgApp, From: 1, To: 2, Term: term, Index: 4, Entries: []Entry{{Index: 7, Term: term}}}, ErrInvalidMessage},
		{"entry from the future", Message{Type: MsgApp, From: 1, To: 2, Term: term, Index: 4, Entries: []Entry{{Index: 5, Term: term + 1}}}, ErrInvalidMessage},
		{"snapshot without data", Message{Type: MsgSnap, From: 1, To: 2, Term: term}, ErrInvalidMessage},
		{"stale term", Message{Type: MsgApp, From: 3, To: 2, Term: term - 1, Index: 99}, nil},
		{"unknown sender response", Message{Type: MsgAppResp, From: 42, To: 1, Term: term, Index: 99}, nil},
	}
	for _, tc := range cases {
		target := n
		if tc.m.To == 1 {
			target = c.nodes[1]
		}
		if err := target.Step(tc.m); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// A heartbeat claiming a commit past our log is ignored, not applied.
	stepOrFail(t, n, Message{Type: MsgHeartbeat, From: 1, To: 2, Term: term, Commit: 1000})
	if n.r.log.committed > n.r.log.lastIndex() {
		t.Fatalf("commit %d past last index %d", n.r.log.committed, n.r.log.lastIndex())
	}
	// An append below the commit index cannot rewrite committed entries:
	// it is answered with our commit index and changes nothing.
	committed, last := n.r.log.committed, n.r.log.lastIndex()
	stepOrFail(t, n, Message{Type: MsgApp, From: 1, To: 2, Term: term, Index: committed - 2, LogTerm: 1,
		Entries: []Entry{{Index: committed - 1, Term: term}, {Index: committed, Term: term}}})
	if n.r.log.committed != committed || n.r.log.lastIndex() != last || !n.r.log.matchTerm(committed-1, 1) {
		t.Fatal("an append below the commit index changed the log")
	}
}
