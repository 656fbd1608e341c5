package raft

import (
	"errors"
	"sync"
)

// Errors a Storage returns; the core handles each as described.
var (
	// ErrCompacted: the requested index is below the first index kept; the
	// leader must send a snapshot instead (§7).
	ErrCompacted = errors.New("raft: requested index is compacted")
	// ErrUnavailable: the requested index is beyond the last index stored.
	ErrUnavailable = errors.New("raft: requested entry is unavailable")
	// ErrSnapshotTemporarilyUnavailable: no snapshot can be produced right
	// now; the leader retries later.
	ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot temporarily unavailable")
	// ErrSnapOutOfDate: the snapshot is older than what storage already holds.
	ErrSnapOutOfDate = errors.New("raft: snapshot is older than the storage's")
)

// Storage is the read-only view of durable state the core needs: what a
// restarted node reads (hard state, membership, log, snapshot), and what the
// leader reads to replicate. The driver writes it (store/ on Pebble, or
// MemoryStorage in tests) after each Ready; the core never writes.
//
// Every method may be called with unstable entries still in the core: the
// core consults Storage only for indices it knows to be persisted.
type Storage interface {
	// InitialState returns the persisted HardState and the membership as
	// of the last snapshot (conf changes in the log are replayed by the core).
	InitialState() (HardState, ConfState, error)
	// Entries returns the entries in [lo, hi), at least one if any, and no
	// more than maxBytes in total otherwise. ErrCompacted if lo < FirstIndex.
	Entries(lo, hi, maxBytes uint64) ([]Entry, error)
	// Term returns the term of entry i, for i in [FirstIndex()-1, LastIndex()]
	// (the entry before FirstIndex is the snapshot's last included entry).
	Term(i uint64) (uint64, error)
	// LastIndex is the index of the last entry stored (the snapshot's index
	// when the log is empty).
	LastIndex() (uint64, error)
	// FirstIndex is the index of the first entry available; older ones are
	// compacted into the snapshot.
	FirstIndex() (uint64, error)
	// Snapshot returns the most recent snapshot.
	Snapshot() (Snapshot, error)
}

// MemoryStorage is a Storage held in memory, for tests and the simulator.
// It is safe for concurrent use.
type MemoryStorage struct {
	mu struct {
		sync.Mutex
		hardState HardState
		snapshot  Snapshot
		// entries[0] is a dummy holding the snapshot's index and term.
		// Invariant: entries[i].Index == entries[0].Index + i.
		entries []Entry
	}
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	ms := &MemoryStorage{}
	ms.mu.entries = make([]Entry, 1)
	return ms
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (HardState, ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.mu.hardState, ms.mu.snapshot.Metadata.ConfState, nil
}

// SetHardState records the hard state.
func (ms *MemoryStorage) SetHardState(hs HardState) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.mu.hardState = hs
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxBytes uint64) ([]Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.mu.entries[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndexLocked()+1 {
		return nil, ErrUnavailable
	}
	ents := ms.mu.entries[lo-offset : hi-offset]
	return limitSize(ents, maxBytes), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.mu.entries[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if i-offset >= uint64(len(ms.mu.entries)) {
		return 0, ErrUnavailable
	}
	return ms.mu.entries[i-offset].Term, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndexLocked(), nil
}

// REQUIRES: ms.mu is held.
func (ms *MemoryStorage) lastIndexLocked() uint64 {
	return ms.mu.entries[0].Index + uint64(len(ms.mu.entries)) - 1
}

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.mu.entries[0].Index + 1, nil
}

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.mu.snapshot, nil
}

// ApplySnapshot replaces the whole content with snap (an installed snapshot).
func (ms *MemoryStorage) ApplySnapshot(snap Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if snap.Metadata.Index <= ms.mu.snapshot.Metadata.Index {
		return ErrSnapOutOfDate
	}
	ms.mu.snapshot = snap
	ms.mu.entries = []Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	return nil
}

// CreateSnapshot records a snapshot of the state machine at index i, which
// must be at most the last index, with the membership cs in force at i. The
// log is not compacted; call Compact for that.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs ConfState, data []byte) (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= ms.mu.snapshot.Metadata.Index {
		return Snapshot{}, ErrSnapOutOfDate
	}
	offset := ms.mu.entries[0].Index
	if i > ms.lastIndexLocked() {
		return Snapshot{}, ErrUnavailable
	}
	ms.mu.snapshot = Snapshot{
		Metadata: SnapshotMetadata{Index: i, Term: ms.mu.entries[i-offset].Term, ConfState: cs},
		Data:     data,
	}
	return ms.mu.snapshot, nil
}

// Compact discards the entries up to and including compactIndex, which must
// not exceed the last index; the caller keeps a snapshot covering it.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.mu.entries[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndexLocked() {
		return ErrUnavailable
	}
	i := compactIndex - offset
	kept := make([]Entry, 1, uint64(len(ms.mu.entries))-i)
	kept[0] = Entry{Index: ms.mu.entries[i].Index, Term: ms.mu.entries[i].Term}
	ms.mu.entries = append(kept, ms.mu.entries[i+1:]...)
	return nil
}

// Append adds entries, first truncating any stored entries at or after the
// first new index (a conflict resolved by the leader, §5.3). Entries at or
// below the compacted prefix are ignored.
func (ms *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	first := ms.mu.entries[0].Index + 1
	last := entries[len(entries)-1].Index
	if last < first {
		return nil
	}
	if first > entries[0].Index {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - ms.mu.entries[0].Index
	switch {
	case offset > uint64(len(ms.mu.entries)):
		return ErrUnavailable
	case offset == uint64(len(ms.mu.entries)):
		ms.mu.entries = append(ms.mu.entries, entries...)
	default:
		// Truncate into a new array: slices handed out by Entries must
		// keep their content.
		kept := append([]Entry(nil), ms.mu.entries[:offset]...)
		ms.mu.entries = append(kept, entries...)
	}
	return nil
}

// limitSize returns the longest prefix of ents within maxBytes, never empty
// when ents is not.
func limitSize(ents []Entry, maxBytes uint64) []Entry {
	if len(ents) == 0 {
		return ents
	}
	size := ents[0].PayloadBytes()
	n := 1
	for ; n < len(ents); n++ {
		size += ents[n].PayloadBytes()
		if size > maxBytes {
			break
		}
	}
	return ents[:n]
}
