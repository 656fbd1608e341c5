package raft

import "fmt"

// unstable holds what the core has accepted but the driver has not yet
// reported durable: an incoming snapshot and/or a suffix of the log.
//
// Invariant: if snapshot != nil, offset == snapshot.Metadata.Index+1.
// Invariant: entries[i].Index == offset+i.
// Invariant: offset <= offsetInProgress <= offset+len(entries): entries
// below offsetInProgress were handed out in a Ready and are being persisted.
type unstable struct {
	snapshot           *Snapshot
	snapshotInProgress bool
	entries            []Entry
	offset             uint64
	offsetInProgress   uint64
}

// maybeFirstIndex is the first index if the unstable part holds a snapshot.
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index + 1, true
	}
	return 0, false
}

// maybeLastIndex is the last index held here, if any.
func (u *unstable) maybeLastIndex() (uint64, bool) {
	if l := len(u.entries); l != 0 {
		return u.offset + uint64(l) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index, true
	}
	return 0, false
}

// maybeTerm is the term of entry i, if held here.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Metadata.Index == i {
			return u.snapshot.Metadata.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// nextEntries are the entries not yet handed out for persistence.
func (u *unstable) nextEntries() []Entry {
	inProgress := int(u.offsetInProgress - u.offset)
	if len(u.entries) == inProgress {
		return nil
	}
	return u.entries[inProgress:]
}

// nextSnapshot is the snapshot not yet handed out for persistence.
func (u *unstable) nextSnapshot() *Snapshot {
	if u.snapshot == nil || u.snapshotInProgress {
		return nil
	}
	return u.snapshot
}

// acceptInProgress marks everything current as handed out in a Ready.
func (u *unstable) acceptInProgress() {
	if len(u.entries) > 0 {
		u.offsetInProgress = u.entries[len(u.entries)-1].Index + 1
	}
	if u.snapshot != nil {
		u.snapshotInProgress = true
	}
}

// stableTo drops entries up to (index, term) now that they are durable. A
// mismatch means the entry was replaced after it was handed out (a newer
// leader's entries truncated it); the newer entries stay unstable.
func (u *unstable) stableTo(index, term uint64) {
	t, ok := u.maybeTerm(index)
	if !ok || index < u.offset || t != term {
		return
	}
	n := int(index + 1 - u.offset)
	u.entries = u.entries[n:]
	if len(u.entries) == 0 {
		u.entries = nil // let the backing array go: it may be large
	}
	u.offset = index + 1
	u.offsetInProgress = max(u.offsetInProgress, u.offset)
}

// stableSnapTo drops the snapshot at index now that it is durable.
func (u *unstable) stableSnapTo(index uint64) {
	if u.snapshot != nil && u.snapshot.Metadata.Index == index {
		u.snapshot = nil
		u.snapshotInProgress = false
	}
}

// restore replaces everything with an incoming snapshot.
func (u *unstable) restore(s *Snapshot) {
	u.offset = s.Metadata.Index + 1
	u.offsetInProgress = u.offset
	u.entries = nil
	u.snapshot = s
	u.snapshotInProgress = false
}

// truncateAndAppend appends ents, first dropping any held entries at or
// after ents[0].Index (§5.3: delete the conflicting entry and all that
// follow it). REQUIRES: ents[0].Index <= last index + 1 of the whole log.
func (u *unstable) truncateAndAppend(ents []Entry) {
	from := ents[0].Index
	switch {
	case from == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case from <= u.offset:
		// Replace everything held; storage entries at or after from are
		// overwritten when the driver persists these.
		u.offset = from
		u.entries = append([]Entry(nil), ents...)
	default:
		kept := u.slice(u.offset, from)
		u.entries = append(append([]Entry(nil), kept...), ents...)
	}
	u.offsetInProgress = min(u.offsetInProgress, from)
}

// slice returns entries [lo, hi) held here. REQUIRES: offset <= lo <= hi <= last+1.
func (u *unstable) slice(lo, hi uint64) []Entry {
	if lo > hi || lo < u.offset || hi > u.offset+uint64(len(u.entries)) {
		panic(fmt.Sprintf("raft: unstable.slice[%d,%d) out of bounds [%d,%d]", lo, hi, u.offset, u.offset+uint64(len(u.entries))))
	}
	return u.entries[lo-u.offset : hi-u.offset : hi-u.offset]
}
