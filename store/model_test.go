package store

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/natsraft/natsraft/raft"
	"pgregory.net/rapid"
)

// TestMatchesMemoryStorage runs random sequences of Append, SetHardState,
// Compact, InstallSnapshot, SetApplied and reopen against both a Store and
// raft.MemoryStorage, and after every step compares all that raft.Storage
// shows: FirstIndex, LastIndex, Term of every index around the log, random
// Entries ranges and byte limits, Snapshot's metadata and InitialState.
//
// The store keeps no snapshot data and its snapshot is always the log's
// base, so Store.Compact(i, cs) is modelled by MemoryStorage's
// CreateSnapshot(i, cs, nil) then Compact(i), and an install by
// ApplySnapshot; Snapshot's data is not compared (the store's is nil).
// Operations stay within what a correct Raft core and state machine ask
// (nothing committed is truncated, terms never decrease, an install
// restores the state machine in its batch); the error cases of each
// operation are drawn too, and the store's own refusals: a compaction
// beyond the applied index, and the commit of an install that leaves the
// applied index below the snapshot.
func TestMatchesMemoryStorage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newModel(t)
		defer m.s.Close()
		t.Repeat(map[string]func(*rapid.T){
			"append":          m.append,
			"setHardState":    m.setHardState,
			"compact":         m.compact,
			"installSnapshot": m.installSnapshot,
			"setApplied":      m.setApplied,
			"reopen":          m.reopen,
			"":                m.check,
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

// compact draws an index anywhere around the log, often within the
// applied prefix, and a membership.
func (m *model) compact(t *rapid.T) {
	first, last := m.bounds()
	i := rapid.SampledFrom([]uint64{
		rapid.Uint64Range(max(first, 2)-2, last+1).Draw(t, "anyIndex"),
		rapid.Uint64Range(first-1, max(first-1, m.applied)).Draw(t, "appliedIndex"),
	}).Draw(t, "i")
	cs := drawConfState(t)
	m.checkCompact(t, i, cs, m.s.Compact(i, cs))
}

// checkCompact checks got, the store's answer to Compact(i, cs) with
// m.applied applied, and makes the same change to m.ms.
func (m *model) checkCompact(t *rapid.T, i uint64, cs raft.ConfState, got error) {
	first, last := m.bounds()
	switch {
	case first <= i && i <= last && i > m.applied:
		if got == nil || !strings.Contains(got.Error(), "would lose entries") {
			t.Fatalf("Compact(%d) beyond the applied index %d: %v, want a refusal", i, m.applied, got)
		}
		return
	case first <= i && i <= last:
		if _, err := m.ms.CreateSnapshot(i, cs, nil); err != nil {
			t.Fatalf("model: CreateSnapshot(%d): %v", i, err)
		}
	}
	if want := m.ms.Compact(i); !sameErr(got, want) {
		t.Fatalf("Compact(%d): got %v, want %v", i, got, want)
	}
}

// installSnapshot installs a snapshot from a leader, in one batch with the
// hard state that commits it and the state machine's restore (its key and
// applied index), or tries an out-of-date one. Sometimes the restore is
// left out, which Commit refuses (panics) when the applied index would be
// below the snapshot.
func (m *model) installSnapshot(t *rapid.T) {
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
		Data:     rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "snapshotData"),
	}
	restore := rapid.IntRange(0, 4).Draw(t, "restore") > 0
	hs := m.hs
	hs.Commit = max(hs.Commit, i)
	b := m.s.NewBatch()
	defer b.Close()
	got := b.InstallSnapshot(snap)
	if got == nil {
		b.SetHardState(hs)
		if restore {
			b.SetApplied(i)
			mustPebble(b.Pebble().Set(appliedKVKey, binary.BigEndian.AppendUint64(nil, i), nil))
		}
		msg, panicked := panicMessage(func() { got = b.Commit() })
		if wantPanic := i > m.applied && !restore; panicked != wantPanic ||
			panicked && !strings.Contains(msg, "restore the state machine") {
			t.Fatalf("InstallSnapshot(%d) with applied %d, restore %v: Commit panic %q, want one: %v",
				i, m.applied, restore, msg, wantPanic)
		}
		if panicked {
			return
		}
	}
	if want := m.ms.ApplySnapshot(snap); !sameErr(got, want) {
		t.Fatalf("InstallSnapshot(%d): got %v, want %v", i, got, want)
	}
	if got == nil {
		m.ms.SetHardState(hs)
		m.hs = hs
		if restore {
			m.applied = i
		}
	}
}

// setApplied writes a state machine key with the applied index it covers
// and, sometimes, compacts the log in the same batch: the compaction may
// count on the batch's own applied index.
func (m *model) setApplied(t *rapid.T) {
	first, last := m.bounds()
	i := rapid.Uint64Range(m.applied, m.hs.Commit).Draw(t, "applied")
	apply := func(b *Batch) error {
		b.SetApplied(i)
		return b.Pebble().Set(appliedKVKey, binary.BigEndian.AppendUint64(nil, i), nil)
	}
	if !rapid.Bool().Draw(t, "compactToo") {
		write(t, m.s, apply)
		m.applied = i
		return
	}
	to := rapid.Uint64Range(first-1, min(i+1, last+1)).Draw(t, "compactTo")
	cs := drawConfState(t)
	b := m.s.NewBatch()
	mustPebble(apply(b))
	err := b.Compact(to, cs)
	if err == nil {
		err = b.Commit()
	}
	b.Close()
	if err != nil {
		write(t, m.s, apply) // as a node would, without the compaction
	}
	m.applied = i
	m.checkCompact(t, to, cs, err)
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
	if err != nil || !sameSnapshotMeta(got.Metadata, want.Metadata) || got.Data != nil {
		t.Fatalf("Snapshot = %v (%d bytes) %v, want %v without data", got.Metadata, len(got.Data), err, want.Metadata)
	}
	// The snapshot is the log's base, which the state machine holds.
	first, _ := m.s.FirstIndex()
	term, _ := m.s.Term(first - 1)
	if got.Metadata.Index != first-1 || got.Metadata.Term != term {
		t.Fatalf("snapshot %d (term %d) is not the log's base: first index %d, term %d before it",
			got.Metadata.Index, got.Metadata.Term, first, term)
	}
	if a := m.s.Applied(); a != m.applied || a < got.Metadata.Index {
		t.Fatalf("Applied = %d, want %d, at least the snapshot's %d", a, m.applied, got.Metadata.Index)
	}
	if kv := readAppliedKV(m.s); kv != m.applied {
		t.Fatalf("state machine key says applied %d, want %d", kv, m.applied)
	}
}

func sameSnapshotMeta(a, b raft.SnapshotMetadata) bool {
	return a.Index == b.Index && a.Term == b.Term && sameConfState(a.ConfState, b.ConfState)
}

func drawConfState(t *rapid.T) raft.ConfState {
	return raft.ConfState{
		Voters:   rapid.SliceOfN(rapid.Uint64Range(1, 9), 0, 5).Draw(t, "voters"),
		Learners: rapid.SliceOfN(rapid.Uint64Range(10, 19), 0, 2).Draw(t, "learners"),
	}
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
		name string
		do   func(*Store, *raft.MemoryStorage) (error, error)
		// refusal, if set, is the store's error, where MemoryStorage has
		// no such rule (and is left alone).
		refusal string
		checks  []check
	}{
		{"empty", nop, "", []check{{0, 0, 0}, {1, 1, 0}, {1, 2, 10}}},
		{"append 1..5", appendBoth(entries(1, 5, 1)), "", []check{{1, 6, 1 << 30}, {2, 4, 0}, {0, 3, 0}, {5, 7, 0}}},
		{"conflict at 3", appendBoth(entries(3, 4, 2)), "", []check{{1, 5, 1 << 30}, {4, 5, 0}}},
		{"gap", appendBoth(entries(7, 8, 2)), "", nil},
		{"commit 4, apply 2", commitBoth(raft.HardState{Term: 2, Commit: 4}, 2), "", nil},
		{"compact beyond applied", compactBoth(3), "would lose entries", []check{{1, 5, 1 << 30}}},
		{"compact 2", compactBoth(2), "", []check{{2, 5, 1 << 30}, {3, 5, 40}}},
		{"compact again", compactBoth(2), "", nil},
		{"compact beyond", compactBoth(9), "", nil},
		{"below first", appendBoth(entries(1, 5, 2)), "", []check{{3, 6, 1 << 30}}},
	}
	for _, st := range steps {
		got, want := st.do(s, ms)
		if st.refusal != "" && (got == nil || !strings.Contains(got.Error(), st.refusal)) {
			t.Fatalf("%s: error %v, want %q", st.name, got, st.refusal)
		} else if st.refusal == "" && !sameErr(got, want) {
			t.Fatalf("%s: error %v, want %v", st.name, got, want)
		}
		for _, c := range st.checks {
			g, gErr := s.Entries(c.lo, c.hi, c.maxBytes)
			w, wErr := ms.Entries(c.lo, c.hi, c.maxBytes)
			if diff := sameEntries(g, w); !sameErr(gErr, wErr) || diff != "" {
				t.Errorf("%s: Entries%v = %v (%s), want %v", st.name, c, gErr, diff, wErr)
			}
		}
		g, _ := s.Snapshot()
		w, _ := ms.Snapshot()
		if !sameSnapshotMeta(g.Metadata, w.Metadata) {
			t.Errorf("%s: Snapshot %+v, want %+v", st.name, g.Metadata, w.Metadata)
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

// commitBoth sets the hard state and, in the store, the applied index.
func commitBoth(hs raft.HardState, applied uint64) func(*Store, *raft.MemoryStorage) (error, error) {
	return func(s *Store, ms *raft.MemoryStorage) (error, error) {
		b := s.NewBatch()
		defer b.Close()
		b.SetHardState(hs)
		b.SetApplied(applied)
		ms.SetHardState(hs)
		return b.Commit(), nil
	}
}

// tableConfState is the membership compactBoth records.
var tableConfState = raft.ConfState{Voters: []uint64{1, 2, 3}}

// compactBoth compacts the store and, unless the store refuses with an
// error of its own, MemoryStorage as the store's Compact is modelled: a
// snapshot at i, then Compact(i).
func compactBoth(i uint64) func(*Store, *raft.MemoryStorage) (error, error) {
	return func(s *Store, ms *raft.MemoryStorage) (error, error) {
		got := s.Compact(i, tableConfState)
		if got != nil && !errors.Is(got, raft.ErrCompacted) && !errors.Is(got, raft.ErrUnavailable) {
			return got, nil
		}
		if got == nil {
			_, _ = ms.CreateSnapshot(i, tableConfState, nil) // Compact reports its failures.
		}
		return got, ms.Compact(i)
	}
}
