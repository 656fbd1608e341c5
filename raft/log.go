package raft

import (
	"errors"
	"fmt"
)

// raftLog is the whole log as the core sees it: the durable part in Storage
// followed by the unstable part held in memory.
//
// Invariant: applied <= committed <= lastIndex().
// Invariant: firstIndex()-1 <= applied (what is compacted was applied).
type raftLog struct {
	storage  Storage
	unstable unstable
	// committed is the highest index known to be committed (§5.3).
	committed uint64
	// applying is the highest index handed out in CommittedEntries; it is
	// applied once the driver calls Advance. Invariant: applied <= applying <= committed.
	applying uint64
	// applied is the highest index the state machine has applied.
	applied uint64
	// maxCommittedBytes caps CommittedEntries per Ready.
	maxCommittedBytes uint64
}

func newLog(storage Storage, maxCommittedBytes uint64) (*raftLog, error) {
	first, err := storage.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := storage.LastIndex()
	if err != nil {
		return nil, err
	}
	l := &raftLog{storage: storage, maxCommittedBytes: maxCommittedBytes}
	l.unstable.offset = last + 1
	l.unstable.offsetInProgress = last + 1
	// Everything up to the snapshot was applied by the state machine that
	// the snapshot was taken from.
	l.committed = first - 1
	l.applying = first - 1
	l.applied = first - 1
	return l, nil
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		panic(fmt.Sprintf("raft: storage FirstIndex failed: %v", err))
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		panic(fmt.Sprintf("raft: storage LastIndex failed: %v", err))
	}
	return i
}

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		panic(fmt.Sprintf("raft: term of last index %d: %v", l.lastIndex(), err))
	}
	return t
}

// term returns the term of entry i: ErrCompacted below the dummy entry,
// ErrUnavailable past the end.
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	t, err := l.storage.Term(i)
	if err != nil && !errors.Is(err, ErrCompacted) && !errors.Is(err, ErrUnavailable) {
		panic(fmt.Sprintf("raft: storage Term(%d) failed: %v", i, err))
	}
	return t, err
}

func (l *raftLog) matchTerm(i, term uint64) bool {
	t, err := l.term(i)
	return err == nil && t == term
}

// isUpToDate is the election restriction of §5.4.1: a candidate's log is at
// least as up-to-date as ours if its last term is greater, or equal with an
// index at least as large.
func (l *raftLog) isUpToDate(lastIndex, lastTerm uint64) bool {
	ourTerm := l.lastTerm()
	return lastTerm > ourTerm || (lastTerm == ourTerm && lastIndex >= l.lastIndex())
}

// maybeAppend is the follower side of AppendEntries (§5.3, Figure 2
// receiver rules 2-5). It returns the index of the last new entry and true
// if the log contains prevIndex with prevTerm; false means reject.
// REQUIRES: prevIndex >= committed.
func (l *raftLog) maybeAppend(prevIndex, prevTerm, leaderCommit uint64, ents []Entry) (uint64, bool) {
	if !l.matchTerm(prevIndex, prevTerm) {
		return 0, false
	}
	lastNew := prevIndex + uint64(len(ents))
	conflict := l.findConflict(ents)
	switch {
	case conflict == 0:
		// Every entry is already present: nothing to append (rule 3/4).
	case conflict <= l.committed:
		// Unreachable: callers answer appends below the commit index
		// without calling us, and leader completeness (§5.4) does the rest.
		panic(fmt.Sprintf("raft: entry %d conflicts with committed entry (commit %d)", conflict, l.committed))
	default:
		l.append(ents[conflict-(prevIndex+1):]...)
	}
	// Rule 5: commitIndex = min(leaderCommit, index of last new entry).
	l.commitTo(min(leaderCommit, lastNew))
	return lastNew, true
}

// findConflict returns the index of the first entry of ents that is absent
// or has a different term in our log, or 0 if all are present.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for i := range ents {
		if !l.matchTerm(ents[i].Index, ents[i].Term) {
			return ents[i].Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term (or the first index we know of). Used on both sides of the §5.3
// fast back-off: it skips every entry of a conflicting term at once.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// append adds ents at the tail, truncating what follows ents[0].Index-1.
func (l *raftLog) append(ents ...Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		panic(fmt.Sprintf("raft: append after %d would truncate committed %d", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// commitTo raises the commit index. Committed entries are never lost, so
// the commit index never decreases and never passes the log.
func (l *raftLog) commitTo(index uint64) {
	if index <= l.committed {
		return
	}
	if index > l.lastIndex() {
		panic(fmt.Sprintf("raft: commit %d is beyond last index %d", index, l.lastIndex()))
	}
	l.committed = index
}

// slice returns entries [lo, hi) up to maxBytes (at least one entry).
func (l *raftLog) slice(lo, hi, maxBytes uint64) ([]Entry, error) {
	if lo >= hi {
		return nil, nil
	}
	if lo < l.firstIndex() {
		return nil, ErrCompacted
	}
	if hi > l.lastIndex()+1 {
		panic(fmt.Sprintf("raft: slice[%d,%d) past last index %d", lo, hi, l.lastIndex()))
	}
	var stored []Entry
	if lo < l.unstable.offset {
		var err error
		stored, err = l.storage.Entries(lo, min(hi, l.unstable.offset), maxBytes)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		} else if err != nil {
			panic(fmt.Sprintf("raft: storage Entries[%d,%d) failed: %v", lo, min(hi, l.unstable.offset), err))
		}
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo || hi <= l.unstable.offset {
			return stored, nil // the size limit cut it short, or all was stored
		}
	}
	unstable := l.unstable.slice(max(lo, l.unstable.offset), hi)
	if len(stored) == 0 {
		return limitSize(unstable, maxBytes), nil
	}
	combined := make([]Entry, len(stored), len(stored)+len(unstable))
	copy(combined, stored)
	return limitSize(append(combined, unstable...), maxBytes), nil
}

// nextCommittedEntries returns what to apply next: committed entries after
// applying, up to the byte limit. Entries not yet durable locally are
// included; the driver persists them first within the same Ready.
func (l *raftLog) nextCommittedEntries() []Entry {
	if l.unstable.snapshot != nil || l.applying >= l.committed {
		return nil // a snapshot must be installed before anything after it
	}
	ents, err := l.slice(l.applying+1, l.committed+1, l.maxCommittedBytes)
	if err != nil {
		panic(fmt.Sprintf("raft: committed entries [%d,%d] unavailable: %v", l.applying+1, l.committed, err))
	}
	return ents
}

func (l *raftLog) hasNextCommittedEntries() bool {
	return l.unstable.snapshot == nil && l.applying < l.committed
}

// appliedTo records that the state machine applied up to index.
func (l *raftLog) appliedTo(index uint64) {
	if index == 0 {
		return
	}
	if index > l.committed || index < l.applied {
		panic(fmt.Sprintf("raft: applied %d out of range [%d, %d]", index, l.applied, l.committed))
	}
	l.applied = index
	l.applying = max(l.applying, index)
}

// restore replaces the log with a snapshot (§7: discard the entire log).
func (l *raftLog) restore(s *Snapshot) {
	l.committed = s.Metadata.Index
	l.unstable.restore(s)
}
