package sim

import (
	"fmt"
	"slices"

	"github.com/natsraft/natsraft/raft"
)

// checker holds the global record of a run and checks, on every event,
// the five properties of the Raft paper's Figure 3 and that committed
// entries are never lost, plus the rules that guard them:
//
//   - Election safety: at most one leader per term.
//   - Leader append-only: a leader never overwrites or deletes entries in
//     its log (checked on each Ready of a leader still in its term).
//   - Log matching: two logs with an entry of the same index and term are
//     identical up to it. Checked by induction: every (index, term) names
//     one content and one previous term, in every log it ever appears in.
//   - Leader completeness: an entry committed in a term is in the log of
//     the leader of every later term (checked when the leader is elected
//     against what is known committed, and when an entry becomes known
//     committed against every leader elected since).
//   - State machine safety: no two nodes apply different entries at an
//     index. Each state machine chains a digest over what it applied; the
//     digest at an index is the same on every node and in every snapshot.
//   - Committed never lost: the committed record survives crashes, and a
//     node's durable commit index always names a committed entry; with
//     leader completeness, no crash can lose a committed entry.
//   - Committed entries are stable (Figure 8): while the configuration has
//     not changed, no node lacking a committed entry is at least as
//     up-to-date as a majority, which could elect it and overwrite the
//     entry. Catches an unsafe commit when it happens, before a later
//     election turns it into a lost entry.
//   - Rules: §5.4.2 (a leader raises its commit index only to an entry of
//     its term), §5.4.1 (a vote only for a candidate at least as
//     up-to-date), and Figure 2's "respond after stable storage" (a vote or
//     an append acknowledgement leaves only once durable).
type checker struct {
	// leaders is the leader of each term.
	leaders map[uint64]uint64
	// electionLogs is each leader's log as of its first Ready as leader.
	electionLogs map[uint64]termLog
	// leaderTerms are the keys of electionLogs, sorted.
	leaderTerms []uint64
	// entries records every entry ever appended anywhere by (index, term).
	entries map[entryKey]entryInfo
	// committed[i] is what is known committed at index i (term 0: unknown).
	committed []commitRecord
	// canonical[i] is what every state machine applies at index i.
	canonical []appliedRecord
	// claims are the logs candidates claimed in their vote requests.
	claims map[entryKey]voteClaim
	// onCommitted, if set, runs when an entry is first known committed.
	onCommitted func(index, term uint64) error
	// rules: check the rules as well as the properties.
	rules bool
}

type entryKey struct{ index, term uint64 }

type entryInfo struct {
	hash      uint64
	prevTerm  uint64
	prevKnown bool
}

type commitRecord struct {
	term uint64
	// termBound is at least the term in which the entry was committed: the
	// term of the first node seen to know it committed. Leaders of later
	// terms must hold the entry.
	termBound uint64
}

type appliedRecord struct{ term, hash, digest uint64 }

type voteClaim struct{ lastIndex, lastTerm uint64 }

func newChecker(rules bool) *checker {
	return &checker{
		rules:        rules,
		leaders:      map[uint64]uint64{},
		electionLogs: map[uint64]termLog{},
		entries:      map[entryKey]entryInfo{},
		claims:       map[entryKey]voteClaim{},
	}
}

// readyView is what the checker needs to know about a node at a Ready.
type readyView struct {
	id       uint64
	mirror   *logMirror
	prevRole raft.Role
	prevHS   raft.HardState // as of the node's previous Ready
	role     raft.Role
	hs       raft.HardState // as of this Ready
	// commitSeen is the commit index already registered from this node.
	commitSeen *uint64
}

// onReady checks one Ready as it is handed out and updates the node's
// mirror with it. It runs before anything of the Ready is sent or synced.
func (c *checker) onReady(v readyView, rd *raft.Ready) error {
	stillLeader := v.prevRole == raft.RoleLeader && v.role == raft.RoleLeader && v.prevHS.Term == v.hs.Term
	if stillLeader {
		if err := checkLeaderAppendOnly(v, rd); err != nil {
			return err
		}
	}
	if rd.Snapshot != nil {
		if err := c.onSnapshotHandedOut(v, rd.Snapshot); err != nil {
			return err
		}
	}
	if err := c.registerEntries(v, rd.Entries); err != nil {
		return err
	}
	v.mirror.append(rd.Entries)
	if err := c.registerCommits(v); err != nil {
		return err
	}
	if c.rules && stillLeader && v.hs.Commit > v.prevHS.Commit {
		if err := checkCommitRule(v); err != nil {
			return err
		}
	}
	if v.role == raft.RoleLeader {
		return c.observeLeaderReady(v)
	}
	return nil
}

// checkLeaderAppendOnly: a leader in its term neither truncates nor
// replaces its log (Figure 3, leader append-only).
func checkLeaderAppendOnly(v readyView, rd *raft.Ready) error {
	if rd.Snapshot != nil {
		return fmt.Errorf("leader append-only: leader %d of term %d installs snapshot %d", v.id, v.hs.Term, rd.Snapshot.Metadata.Index)
	}
	if len(rd.Entries) > 0 && rd.Entries[0].Index != v.mirror.lastIndex()+1 {
		return fmt.Errorf("leader append-only: leader %d of term %d writes entries from %d over its log ending at %d",
			v.id, v.hs.Term, rd.Entries[0].Index, v.mirror.lastIndex())
	}
	return nil
}

// checkCommitRule: §5.4.2, a leader commits by counting replicas only an
// entry of its current term; earlier entries commit with it.
func checkCommitRule(v readyView) error {
	t, ok := v.mirror.term(v.hs.Commit)
	if !ok || t != v.hs.Term {
		return fmt.Errorf("commit rule (§5.4.2): leader %d of term %d raised its commit index from %d to %d, an entry of term %d (known %t)",
			v.id, v.hs.Term, v.prevHS.Commit, v.hs.Commit, t, ok)
	}
	return nil
}

func (c *checker) onSnapshotHandedOut(v readyView, s *raft.Snapshot) error {
	meta := s.Metadata
	if err := c.registerCommitted(meta.Index, meta.Term, v.hs.Term); err != nil {
		return fmt.Errorf("snapshot handed to node %d: %w", v.id, err)
	}
	v.mirror.restore(meta.Index, meta.Term)
	return nil
}

// registerEntries checks log matching for entries about to be appended.
func (c *checker) registerEntries(v readyView, ents []raft.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	prevTerm, prevKnown := v.mirror.term(ents[0].Index - 1)
	for i, e := range ents {
		if i > 0 {
			prevTerm, prevKnown = ents[i-1].Term, true
		}
		if e.Term > v.hs.Term {
			return fmt.Errorf("log matching: node %d in term %d appends entry %d of a later term %d", v.id, v.hs.Term, e.Index, e.Term)
		}
		info := entryInfo{hash: entryHash(e), prevTerm: prevTerm, prevKnown: prevKnown}
		key := entryKey{e.Index, e.Term}
		old, seen := c.entries[key]
		if !seen {
			c.entries[key] = info
			continue
		}
		if old.hash != info.hash {
			return fmt.Errorf("log matching: node %d appends entry %d term %d with content %x, elsewhere %x", v.id, e.Index, e.Term, info.hash, old.hash)
		}
		if old.prevKnown && prevKnown && old.prevTerm != prevTerm {
			return fmt.Errorf("log matching: node %d has entry %d term %d after an entry of term %d, elsewhere after term %d",
				v.id, e.Index, e.Term, prevTerm, old.prevTerm)
		}
		if !old.prevKnown && prevKnown {
			c.entries[key] = info
		}
	}
	return nil
}

// registerCommits records the entries a node's commit index covers.
func (c *checker) registerCommits(v readyView) error {
	commit := v.hs.Commit
	if commit <= *v.commitSeen {
		return nil
	}
	if commit > v.mirror.lastIndex() {
		return fmt.Errorf("committed entry lost: node %d has commit index %d beyond its log ending at %d", v.id, commit, v.mirror.lastIndex())
	}
	for i := max(*v.commitSeen, v.mirror.floorIndex) + 1; i <= commit; i++ {
		t, _ := v.mirror.term(i)
		if err := c.registerCommitted(i, t, v.hs.Term); err != nil {
			return fmt.Errorf("node %d commit index %d: %w", v.id, commit, err)
		}
	}
	*v.commitSeen = commit
	return nil
}

// registerCommitted records that the entry (index, term) is committed, as
// seen by a node in term termBound.
func (c *checker) registerCommitted(index, term, termBound uint64) error {
	if index == 0 {
		return nil
	}
	for uint64(len(c.committed)) <= index {
		c.committed = append(c.committed, commitRecord{})
	}
	rec := &c.committed[index]
	if rec.term != 0 {
		if rec.term != term {
			return fmt.Errorf("state machine safety: entry %d committed with term %d, now with term %d", index, rec.term, term)
		}
		return nil
	}
	if index < uint64(len(c.canonical)) && c.canonical[index].term != 0 && c.canonical[index].term != term {
		return fmt.Errorf("state machine safety: entry %d committed with term %d but applied with term %d", index, term, c.canonical[index].term)
	}
	*rec = commitRecord{term: term, termBound: termBound}
	if err := c.checkLaterLeadersHold(index, *rec); err != nil {
		return err
	}
	if c.onCommitted != nil {
		return c.onCommitted(index, term)
	}
	return nil
}

// checkLaterLeadersHold checks a newly committed entry against the logs of
// leaders of later terms (leader completeness, committed never lost).
func (c *checker) checkLaterLeadersHold(index uint64, rec commitRecord) error {
	i, _ := slices.BinarySearch(c.leaderTerms, rec.termBound+1)
	for _, term := range c.leaderTerms[i:] {
		if err := checkLogHolds(c.electionLogs[term], index, rec); err != nil {
			return fmt.Errorf("leader completeness: leader %d of term %d: %w", c.leaders[term], term, err)
		}
	}
	return nil
}

func checkLogHolds(l termLog, index uint64, rec commitRecord) error {
	switch {
	case index <= l.floorIndex:
		return nil // in its snapshot: the state machine digests check it
	case index > l.lastIndex():
		return fmt.Errorf("its log ends at %d without entry %d term %d committed by term %d", l.lastIndex(), index, rec.term, rec.termBound)
	}
	if t := l.terms[index-l.floorIndex-1]; t != rec.term {
		return fmt.Errorf("its entry %d has term %d, but term %d was committed by term %d", index, t, rec.term, rec.termBound)
	}
	return nil
}

// observeLeader records that id leads term (election safety).
func (c *checker) observeLeader(id, term uint64) error {
	if lead, ok := c.leaders[term]; ok && lead != id {
		return fmt.Errorf("election safety: nodes %d and %d are both leaders of term %d", lead, id, term)
	}
	c.leaders[term] = id
	return nil
}

// observeLeaderReady records the leader's log at its first Ready in its
// term and checks it holds everything committed in earlier terms.
func (c *checker) observeLeaderReady(v readyView) error {
	term := v.hs.Term
	if err := c.observeLeader(v.id, term); err != nil {
		return err
	}
	if _, ok := c.electionLogs[term]; ok {
		return nil
	}
	l := v.mirror.freeze()
	c.electionLogs[term] = l
	i, _ := slices.BinarySearch(c.leaderTerms, term)
	c.leaderTerms = slices.Insert(c.leaderTerms, i, term)
	for index := l.floorIndex + 1; index < uint64(len(c.committed)); index++ {
		rec := c.committed[index]
		if rec.term == 0 || rec.termBound >= term {
			continue
		}
		if err := checkLogHolds(l, index, rec); err != nil {
			return fmt.Errorf("leader completeness: new leader %d of term %d: %w", v.id, term, err)
		}
	}
	return nil
}

// onApply checks an applied entry against every other node's (state
// machine safety) and against the committed record.
func (c *checker) onApply(id uint64, e raft.Entry, digest, termBound uint64) error {
	if err := c.registerCommitted(e.Index, e.Term, termBound); err != nil {
		return fmt.Errorf("node %d applies entry %d: %w", id, e.Index, err)
	}
	for uint64(len(c.canonical)) <= e.Index {
		c.canonical = append(c.canonical, appliedRecord{})
	}
	got := appliedRecord{term: e.Term, hash: entryHash(e), digest: digest}
	rec := &c.canonical[e.Index]
	if rec.term == 0 {
		*rec = got
		return nil
	}
	if *rec != got {
		return fmt.Errorf("state machine safety: node %d applies at index %d term %d content %x digest %x; others applied term %d content %x digest %x",
			id, e.Index, got.term, got.hash, got.digest, rec.term, rec.hash, rec.digest)
	}
	return nil
}

// onRestore checks a state machine restored from a snapshot (installed
// from the leader, or read from disk at restart) against what was applied.
func (c *checker) onRestore(id uint64, sm *stateMachine, meta raft.SnapshotMetadata) error {
	if sm.Applied != meta.Index {
		return fmt.Errorf("state machine safety: node %d snapshot %d holds state applied to %d", id, meta.Index, sm.Applied)
	}
	if !sm.Conf.Equal(meta.ConfState) {
		return fmt.Errorf("state machine safety: node %d snapshot %d has membership %v, its state machine %v", id, meta.Index, meta.ConfState, sm.Conf)
	}
	if meta.Index >= uint64(len(c.canonical)) || c.canonical[meta.Index].term == 0 {
		return fmt.Errorf("state machine safety: node %d restores snapshot %d that no node applied", id, meta.Index)
	}
	rec := c.canonical[meta.Index]
	if rec.term != meta.Term || rec.digest != sm.Digest {
		return fmt.Errorf("state machine safety: node %d snapshot %d term %d digest %x; applied term %d digest %x",
			id, meta.Index, meta.Term, sm.Digest, rec.term, rec.digest)
	}
	return nil
}

// onRestart checks a restarted node's durable log: every entry up to its
// durable commit index is the committed one.
func (c *checker) onRestart(id uint64, m *logMirror, commit uint64) error {
	if commit > m.lastIndex() {
		return fmt.Errorf("committed entry lost: node %d restarts with commit %d beyond its durable log ending at %d", id, commit, m.lastIndex())
	}
	for i := m.floorIndex + 1; i <= commit && i < uint64(len(c.committed)); i++ {
		t, _ := m.term(i)
		if rec := c.committed[i]; rec.term != 0 && rec.term != t {
			return fmt.Errorf("committed entry lost: node %d restarts with entry %d of term %d, committed was term %d", id, i, t, rec.term)
		}
	}
	return nil
}

// onVoteRequest records what a candidate claimed about its log.
func (c *checker) onVoteRequest(m raft.Message) {
	c.claims[entryKey{m.From, m.Term}] = voteClaim{lastIndex: m.Index, lastTerm: m.LogTerm}
}

// checkVoteGrant: §5.4.1, a voter grants its vote only to a candidate whose
// log is at least as up-to-date as its own. The voter's log is taken
// without entries of the vote's term or later: those can only have come
// from the candidate itself after it won, or the voter has moved on.
func (c *checker) checkVoteGrant(voter uint64, voterTerm uint64, m *logMirror, grant raft.Message) error {
	if !c.rules || voterTerm != grant.Term {
		return nil // moved to a later term since: its log may have changed
	}
	claim, ok := c.claims[entryKey{grant.To, grant.Term}]
	if !ok {
		return nil
	}
	index := m.lastIndex()
	for index > m.floorIndex {
		if t, _ := m.term(index); t < grant.Term {
			break
		}
		index--
	}
	term, _ := m.term(index)
	if index == m.floorIndex && term >= grant.Term {
		return nil
	}
	if term > claim.lastTerm || (term == claim.lastTerm && index > claim.lastIndex) {
		return fmt.Errorf("vote rule (§5.4.1): node %d (log at %d term %d) grants its term %d vote to %d, whose log ends at %d term %d",
			voter, index, term, grant.Term, grant.To, claim.lastIndex, claim.lastTerm)
	}
	return nil
}

// checkDurableBeforeSend: Figure 2, "respond to RPCs only after updating
// stable storage". A granted vote leaves only once the vote is durable;
// an append acknowledgement only once the entries it acknowledges are.
func checkDurableBeforeSend(id uint64, d *disk, m *logMirror, msg raft.Message) error {
	synced := d.synced
	switch {
	case msg.Type == raft.MsgVoteResp && !msg.Reject:
		if synced.Term < msg.Term || (synced.Term == msg.Term && synced.Vote != msg.To) {
			return fmt.Errorf("durability: node %d sends its term %d vote for %d with durable term %d vote %d",
				id, msg.Term, msg.To, synced.Term, synced.Vote)
		}
	case msg.Type == raft.MsgAppResp && !msg.Reject && msg.Term == synced.Term:
		term, compacted, ok := d.durableTerm(msg.Index)
		want, known := m.term(msg.Index)
		if !ok || (!compacted && known && term != want) {
			return fmt.Errorf("durability: node %d acknowledges index %d (term %d) before it is durable (durable: %t, term %d)",
				id, msg.Index, want, ok, term)
		}
	}
	return nil
}

// maxCommitted is the highest index known committed.
func (c *checker) maxCommitted() uint64 {
	for i := len(c.committed) - 1; i > 0; i-- {
		if c.committed[i].term != 0 {
			return uint64(i)
		}
	}
	return 0
}
