package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/natsraft/natsraft/raft"
	"pgregory.net/rapid"
)

// TestMatchesMemoryStorage runs random sequences of Append, SetHardState,
// CreateSnapshot, Compact, ApplySnapshot, SetApplied and reopen against
// both a Store and raft.MemoryStorage, and after every step compares all
// that raft.Storage shows: FirstIndex, LastIndex, Term of every index
// around the log, random Entries ranges and byte limits, Snapshot and
// InitialState. Operations stay within what a correct Raft core asks
// (nothing committed is truncated, terms never decrease); the error cases
// of each operation are drawn too.
func TestMatchesMemoryStorage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newModel(t)
		defer m.s.Close()
		t.Repeat(map[string]func(*rapid.T){
			"append":         m.append,
			"setHardState":   m.setHardState,
			"createSnapshot": m.createSnapshot,
			"compact":        m.compact,
			"applySnapshot":  m.applySnapshot,
			"setApplied":     m.setApplied,
			"reopen":         m.reopen,
			"":               m.check,
		})
	})
}

// model pairs a Store with the raft.MemoryStorage it must match.
type model struct {
	fs      vfs.FS
	opts    Options
	s       *Store
	ms      *raft.MemoryStorage
	hs      raft.HardState
	applied uint64
}

func newModel(t *rapid.T) *model {
	fs := vfs.NewMem()
	opts := memOptions(fs)
	// Small caches make reads cross from Pebble into the tail cache.
	opts.TailCacheBytes = rapid.SampledFrom([]uint64{1, 100, 400, DefaultTailCacheBytes}).Draw(t, "tailCacheBytes")
	return &model{fs: fs, opts: opts, s: mustOpen(t, "db", opts), ms: raft.NewMemoryStorage()}
}

func (m *model) bounds() (first, last uint64) {
	first, _ = m.ms.FirstIndex()
	last, _ = m.ms.LastIndex()
	return first, last
}

func (m *model) term(i uint64) uint64 {
	term, err := m.ms.Term(i)
	if err != nil {
		panic(err)
	}
	return term
}

// append draws a start index anywhere around the log (below the first
// index, inside, just after, or past a gap) and entries whose terms agree
// with every committed entry they overlap.
func (m *model) append(t *rapid.T) {
	first, last := m.bounds()
	lo := rapid.Uint64Range(max(first, 3)-2, last+2).Draw(t, "lo")
	committedEnd := min(m.hs.Commit, last)
	minN := 0
	if lo <= committedEnd {
		minN = int(committedEnd - lo + 1)
	}
	n := rapid.IntRange(minN, minN+5).Draw(t, "n")
	var ents []raft.Entry
	prev := m.term(max(min(lo, last+1), first) - 1)
	for j := lo; j < lo+uint64(n); j++ {
		e := raft.Entry{Index: j, Term: 1, Data: rapid.SliceOfN(rapid.Byte(), 0, 150).Draw(t, "data")}
		switch {
		case j < first:
		case j <= committedEnd:
			e.Term = m.term(j)
		default:
			e.Term = prev + uint64(rapid.SampledFrom([]int{0, 0, 0, 1, 2}).Draw(t, "termStep"))
		}
		if j >= first {
			prev = e.Term
		}
		if rapid.IntRange(0, 9).Draw(t, "confChange") == 0 {
			e.Type = raft.EntryConfChange
		}
		ents = append(ents, e)
	}
	want := m.ms.Append(ents)
	b := m.s.NewBatch()
	defer b.Close()
	got := b.Append(ents)
	if got == nil {
		got = b.Commit()
	}
	if !sameErr(got, want) {
		t.Fatalf("Append from %d: got %v, want %v", lo, got, want)
	}
}

func (m *model) setHardState(t *rapid.T) {
	_, last := m.bounds()
	hs := raft.HardState{
		Term:   m.hs.Term + rapid.Uint64Range(0, 1).Draw(t, "termStep"),
		Vote:   rapid.Uint64Range(0, 3).Draw(t, "vote"),
		Commit: rapid.Uint64Range(m.hs.Commit, last).Draw(t, "commit"),
	}
	if hs.Term == m.hs.Term && m.hs.Vote != raft.None {
		hs.Vote = m.hs.Vote
	}
	m.ms.SetHardState(hs)
	mustSetHardState(t, m.s, hs)
	m.hs = hs
}

// createSnapshot draws an index up to the commit index (a state machine
// snapshots only what it applied), or one of the error cases.
func (m *model) createSnapshot(t *rapid.T) {
	first, last := m.bounds()
	snap, _ := m.ms.Snapshot()
	i := rapid.SampledFrom([]uint64{
		rapid.Uint64Range(max(snap.Metadata.Index, 1)-1, max(m.hs.Commit, snap.Metadata.Index)).Draw(t, "i"),
		last + 1,
	}).Draw(t, "which")
	cs, data := drawConfState(t), drawSnapshotData(t)
	got, gotErr := m.s.CreateSnapshot(i, cs, data)
	if i < first-1 && i > snap.Metadata.Index {
		// MemoryStorage panics here; the store refuses.
		if !errors.Is(gotErr, raft.ErrCompacted) {
			t.Fatalf("CreateSnapshot(%d) below first index %d: %v, want ErrCompacted", i, first, gotErr)
		}
		return
	}
	want, wantErr := m.ms.CreateSnapshot(i, cs, data)
	if !sameErr(gotErr, wantErr) || !sameSnapshot(got, want) {
		t.Fatalf("CreateSnapshot(%d): got %v %v, want %v %v", i, got.Metadata, gotErr, want.Metadata, wantErr)
	}
}

func (m *model) compact(t *rapid.T) {
	first, last := m.bounds()
	i := rapid.Uint64Range(max(first, 2)-2, last+1).Draw(t, "i")
	want := m.ms.Compact(i)
	if got := m.s.Compact(i); !sameErr(got, want) {
		t.Fatalf("Compact(%d): got %v, want %v", i, got, want)
	}
}

// applySnapshot installs a snapshot from a leader, in one batch with the
// hard state that commits it and the state machine's applied index, or
// tries an out-of-date one.
func (m *model) applySnapshot(t *rapid.T) {
	_, last := m.bounds()
	cur, _ := m.ms.Snapshot()
	lo := max(cur.Metadata.Index+1, m.hs.Commit)
	i := rapid.SampledFrom([]uint64{
		max(cur.Metadata.Index, 1) - 1,
		cur.Metadata.Index,
		rapid.Uint64Range(lo, max(lo, last)+3).Draw(t, "i"),
	}).Draw(t, "which")
	snap := raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: i, Term: m.term(last) + rapid.Uint64Range(0, 1).Draw(t, "term"), ConfState: drawConfState(t)},
		Data:     drawSnapshotData(t),
	}
	want := m.ms.ApplySnapshot(snap)
	hs := m.hs
	hs.Commit = max(hs.Commit, i)
	b := m.s.NewBatch()
	defer b.Close()
	got := b.InstallSnapshot(snap)
	if got == nil {
		b.SetHardState(hs)
		b.SetApplied(i)
		got = b.Commit()
	}
	if !sameErr(got, want) {
		t.Fatalf("ApplySnapshot(%d): got %v, want %v", i, got, want)
	}
	if want == nil {
		m.ms.SetHardState(hs)
		m.hs, m.applied = hs, i
	}
}

// setApplied writes a state machine key with the applied index it covers.
func (m *model) setApplied(t *rapid.T) {
	i := rapid.Uint64Range(m.applied, m.hs.Commit).Draw(t, "applied")
	write(t, m.s, func(b *Batch) error {
		b.SetApplied(i)
		return b.Pebble().Set([]byte{KVPrefix, 'x'}, binary.BigEndian.AppendUint64(nil, i), nil)
	})
	m.applied = i
}

func (m *model) reopen(t *rapid.T) {
	mustClose(t, m.s)
	m.opts.Create = false
	m.s = mustOpen(t, "db", m.opts)
}

// check compares everything raft.Storage shows.
func (m *model) check(t *rapid.T) {
	first, last := m.bounds()
	if f, _ := m.s.FirstIndex(); f != first {
		t.Fatalf("FirstIndex %d, want %d", f, first)
	}
	if l, _ := m.s.LastIndex(); l != last {
		t.Fatalf("LastIndex %d, want %d", l, last)
	}
	for i := max(first, 3) - 3; i <= last+2; i++ {
		got, gotErr := m.s.Term(i)
		want, wantErr := m.ms.Term(i)
		if got != want || !sameErr(gotErr, wantErr) {
			t.Fatalf("Term(%d) = %d, %v; want %d, %v", i, got, gotErr, want, wantErr)
		}
	}
	m.checkEntries(t, first, last)
	m.checkState(t)
	m.s.mu.RLock()
	defer m.s.mu.RUnlock()
	if err := m.s.mu.log.check(); err != nil {
		t.Fatalf("memLog: %v", err)
	}
}

func (m *model) checkEntries(t *rapid.T, first, last uint64) {
	lo := rapid.Uint64Range(max(first, 2)-1, last+1).Draw(t, "entriesLo")
	hi := rapid.Uint64Range(lo, last+2).Draw(t, "entriesHi")
	maxBytes := m.drawMaxBytes(t, lo, hi)
	got, gotErr := m.s.Entries(lo, hi, maxBytes)
	want, wantErr := m.ms.Entries(lo, hi, maxBytes)
	if !sameErr(gotErr, wantErr) {
		t.Fatalf("Entries(%d, %d, %d): error %v, want %v", lo, hi, maxBytes, gotErr, wantErr)
	}
	if diff := sameEntries(got, want); diff != "" {
		t.Fatalf("Entries(%d, %d, %d): %s", lo, hi, maxBytes, diff)
	}
}

// drawMaxBytes draws a byte limit for Entries(lo, hi), often exactly the
// size of a prefix of the range, give or take a byte, where off-by-ones
// hide.
func (m *model) drawMaxBytes(t *rapid.T, lo, hi uint64) uint64 {
	all, err := m.ms.Entries(lo, hi, 1<<62)
	if err != nil || len(all) == 0 || rapid.Bool().Draw(t, "anyLimit") {
		return rapid.SampledFrom([]uint64{0, 60, 300, 1 << 62}).Draw(t, "maxBytes")
	}
	var size uint64
	for _, e := range all[:rapid.IntRange(1, len(all)).Draw(t, "prefix")] {
		size += e.PayloadBytes()
	}
	return size + rapid.Uint64Range(0, 2).Draw(t, "delta") - 1
}

func (m *model) checkState(t *rapid.T) {
	gotHS, gotCS, err := m.s.InitialState()
	wantHS, wantCS, _ := m.ms.InitialState()
	if err != nil || gotHS != wantHS || !sameConfState(gotCS, wantCS) {
		t.Fatalf("InitialState = %v %v %v, want %v %v", gotHS, gotCS, err, wantHS, wantCS)
	}
	got, err := m.s.Snapshot()
	want, _ := m.ms.Snapshot()
	if err != nil || !sameSnapshot(got, want) {
		t.Fatalf("Snapshot = %v (%d bytes) %v, want %v (%d bytes)",
			got.Metadata, len(got.Data), err, want.Metadata, len(want.Data))
	}
	if a := m.s.Applied(); a != m.applied {
		t.Fatalf("Applied = %d, want %d", a, m.applied)
	}
}

func sameSnapshot(a, b raft.Snapshot) bool {
	return a.Metadata.Index == b.Metadata.Index && a.Metadata.Term == b.Metadata.Term &&
		sameConfState(a.Metadata.ConfState, b.Metadata.ConfState) && bytes.Equal(a.Data, b.Data)
}

func drawConfState(t *rapid.T) raft.ConfState {
	return raft.ConfState{
		Voters:   rapid.SliceOfN(rapid.Uint64Range(1, 9), 0, 5).Draw(t, "voters"),
		Learners: rapid.SliceOfN(rapid.Uint64Range(10, 19), 0, 2).Draw(t, "learners"),
	}
}

// drawSnapshotData is usually small; sometimes it spans several chunks.
func drawSnapshotData(t *rapid.T) []byte {
	size := rapid.SampledFrom([]int{0, 1, 100}).Draw(t, "snapshotBytes")
	if rapid.IntRange(0, 15).Draw(t, "bigSnapshot") == 0 {
		size = 2*snapshotChunkBytes + 7
	}
	seed := rapid.Byte().Draw(t, "snapshotSeed")
	data := make([]byte, size)
	for i := range data {
		data[i] = seed + byte(i*7)
	}
	return data
}

// The property test's generators stay within Raft's rules; this checks
// the same comparison on a fixed table, including edge cases of the empty
// store, for a quick read of what "matches" means.
func TestMatchesMemoryStorageTable(t *testing.T) {
	s := mustOpen(t, "db", memOptions(vfs.NewMem()))
	defer s.Close()
	ms := raft.NewMemoryStorage()
	type check struct {
		lo, hi, maxBytes uint64
	}
	steps := []struct {
		name   string
		do     func(*Store, *raft.MemoryStorage) (error, error)
		checks []check
	}{
		{"empty", nop, []check{{0, 0, 0}, {1, 1, 0}, {1, 2, 10}}},
		{"append 1..5", appendBoth(entries(1, 5, 1)), []check{{1, 6, 1 << 30}, {2, 4, 0}, {0, 3, 0}, {5, 7, 0}}},
		{"conflict at 3", appendBoth(entries(3, 4, 2)), []check{{1, 5, 1 << 30}, {4, 5, 0}}},
		{"gap", appendBoth(entries(7, 8, 2)), nil},
		{"compact 2", compactBoth(2), []check{{2, 5, 1 << 30}, {3, 5, 40}}},
		{"compact again", compactBoth(2), nil},
		{"compact beyond", compactBoth(9), nil},
		{"below first", appendBoth(entries(1, 5, 2)), []check{{3, 6, 1 << 30}}},
	}
	for _, st := range steps {
		got, want := st.do(s, ms)
		if !sameErr(got, want) {
			t.Fatalf("%s: error %v, want %v", st.name, got, want)
		}
		for _, c := range st.checks {
			g, gErr := s.Entries(c.lo, c.hi, c.maxBytes)
			w, wErr := ms.Entries(c.lo, c.hi, c.maxBytes)
			if diff := sameEntries(g, w); !sameErr(gErr, wErr) || diff != "" {
				t.Errorf("%s: Entries%v = %v (%s), want %v", st.name, c, gErr, diff, wErr)
			}
		}
	}
}

func nop(*Store, *raft.MemoryStorage) (error, error) { return nil, nil }

func appendBoth(ents []raft.Entry) func(*Store, *raft.MemoryStorage) (error, error) {
	return func(s *Store, ms *raft.MemoryStorage) (error, error) {
		b := s.NewBatch()
		defer b.Close()
		err := b.Append(ents)
		if err == nil {
			err = b.Commit()
		}
		return err, ms.Append(ents)
	}
}

func compactBoth(i uint64) func(*Store, *raft.MemoryStorage) (error, error) {
	return func(s *Store, ms *raft.MemoryStorage) (error, error) {
		return s.Compact(i), ms.Compact(i)
	}
}
