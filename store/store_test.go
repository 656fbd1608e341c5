package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/natsraft/natsraft/raft"
)

// A store is created only when asked, and only in a missing or empty
// directory: a mistyped --data-dir must not start an empty voter.
func TestOpenCreatesOnlyWhenAsked(t *testing.T) {
	fs := vfs.NewMem()
	opts := memOptions(fs)
	opts.Create = false
	if _, err := Open("db", opts); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a missing directory: %v, want ErrNotFound", err)
	}
	if err := fs.MkdirAll("empty", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("empty", opts); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of an empty directory: %v, want ErrNotFound", err)
	}
	if err := fs.MkdirAll("home", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create("home/notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, create := range []bool{false, true} {
		opts.Create = create
		if _, err := Open("home", opts); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Open(Create=%v) of a directory of other files: %v, want ErrNotFound", create, err)
		}
	}
	if names, _ := fs.List("home"); !slices.Equal(names, []string{"notes.txt"}) {
		t.Fatalf("Open wrote into a directory that is not a store: %v", names)
	}
	opts.Create = true
	mustClose(t, mustOpen(t, "db", opts))
	opts.Create = false
	mustClose(t, mustOpen(t, "db", opts))
}

func TestOpenLocks(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, "db", memOptions(fs))
	if _, err := Open("db", memOptions(fs)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	mustClose(t, s)
	mustClose(t, mustOpen(t, "db", memOptions(fs)))
}

func TestIdentity(t *testing.T) {
	fs := vfs.NewMem()
	opts := memOptions(fs)
	opts.Identity = Identity{ClusterID: "prod", NodeID: 3}
	mustClose(t, mustOpen(t, "db", opts))
	opts.Create = false
	for _, want := range []Identity{{}, {ClusterID: "prod"}, {NodeID: 3}, {ClusterID: "prod", NodeID: 3}} {
		opts.Identity = want
		s := mustOpen(t, "db", opts)
		if got := s.Identity(); got != (Identity{ClusterID: "prod", NodeID: 3}) {
			t.Errorf("Identity() = %v", got)
		}
		mustClose(t, s)
	}
	for _, wrong := range []Identity{{ClusterID: "test"}, {NodeID: 4}} {
		opts.Identity = wrong
		if _, err := Open("db", opts); !errors.Is(err, ErrIdentityMismatch) {
			t.Errorf("Open as %v: %v, want ErrIdentityMismatch", wrong, err)
		}
	}
}

// Everything a node reads at restart survives Close and Open, and reads
// after the reopen (with an empty tail cache) come from Pebble.
func TestReopenKeepsState(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, "db", memOptions(fs))
	mustAppend(t, s, entries(1, 20, 1)...)
	mustAppend(t, s, entries(15, 30, 2)...)
	hs := raft.HardState{Term: 2, Vote: 1, Commit: 25}
	mustSetHardState(t, s, hs)
	write(t, s, func(b *Batch) error {
		b.SetApplied(12)
		return b.Pebble().Set([]byte("kfoo"), []byte("bar"), nil)
	})
	cs := raft.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
	if err := s.Compact(10, cs); err != nil {
		t.Fatal(err)
	}
	before := s.Status()
	mustClose(t, s)

	s = mustOpen(t, "db", Options{FS: fs, Logger: quietLogger()})
	defer s.Close()
	after := s.Status()
	after.TailCacheEntries, after.TailCacheHits, after.TailCacheMisses, after.TailCacheBytes = before.TailCacheEntries, 0, 0, before.TailCacheBytes
	before.TailCacheHits, before.TailCacheMisses = 0, 0
	if after != before {
		t.Fatalf("status after reopen\n%+v\nwant\n%+v", after, before)
	}
	want := append(entries(11, 14, 1), entries(15, 30, 2)...)
	got, err := s.Entries(11, 31, 1<<30)
	if diff := sameEntries(got, want); err != nil || diff != "" {
		t.Fatalf("Entries after reopen: %v %s", err, diff)
	}
	if st := s.Status(); st.TailCacheMisses != 1 || st.TailCacheEntries != 0 {
		t.Errorf("reads after reopen: %+v, want one miss and an empty cache", st)
	}
	snap, err := s.Snapshot()
	if err != nil || snap.Metadata.Index != 10 || snap.Metadata.Term != 1 ||
		!sameConfState(snap.Metadata.ConfState, cs) || snap.Data != nil {
		t.Fatalf("Snapshot after reopen: %+v %q %v", snap.Metadata, snap.Data, err)
	}
	if _, gotCS, err := s.InitialState(); err != nil || !sameConfState(gotCS, cs) {
		t.Fatalf("InitialState after reopen: membership %v %v, want %v", gotCS, err, cs)
	}
	if v, closer, err := s.DB().Get([]byte("kfoo")); err != nil || string(v) != "bar" {
		t.Fatalf("kv key after reopen: %q %v", v, err)
	} else {
		closer.Close()
	}
	if applied, err := ReadApplied(s.DB()); err != nil || applied != 12 {
		t.Fatalf("ReadApplied = %d, %v", applied, err)
	}
}

// One Ready's worth of writes, with a snapshot installed from the leader
// and the state machine's restore, lands in one batch. The store keeps the
// snapshot's metadata as the log's base, and none of its data.
func TestInstallSnapshotBatch(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, "db", memOptions(fs))
	defer func() { mustClose(t, s) }()
	mustAppend(t, s, entries(1, 5, 1)...)
	mustSetHardState(t, s, raft.HardState{Term: 1, Commit: 3})
	snap := raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: 50, Term: 3, ConfState: raft.ConfState{Voters: []uint64{1, 2}}},
		Data:     []byte("state at 50"),
	}
	write(t, s, func(b *Batch) error {
		if err := b.InstallSnapshot(snap); err != nil {
			return err
		}
		if err := b.Append(entries(51, 52, 3)); err != nil {
			return err
		}
		b.SetHardState(raft.HardState{Term: 3, Vote: 2, Commit: 50})
		b.SetApplied(50)
		return b.Pebble().Set([]byte("kstate"), snap.Data, nil)
	})
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	term, _ := s.Term(50)
	if first != 51 || last != 52 || term != 3 || s.Applied() != 50 {
		t.Fatalf("after install: first %d last %d term(50) %d applied %d", first, last, term, s.Applied())
	}
	if _, err := s.Entries(5, 6, 100); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("old entry after install: %v, want ErrCompacted", err)
	}
	checkSnapshotMeta(t, s, snap.Metadata)
	mustClose(t, s)
	s = mustOpen(t, "db", Options{FS: fs, Logger: quietLogger()})
	checkSnapshotMeta(t, s, snap.Metadata)
	if v, closer, err := s.DB().Get([]byte("kstate")); err != nil || string(v) != "state at 50" {
		t.Fatalf("restored state machine key after reopen: %q %v", v, err)
	} else {
		closer.Close()
	}
	b := s.NewBatch()
	defer b.Close()
	if err := b.InstallSnapshot(snap); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("second install: %v, want ErrSnapOutOfDate", err)
	}
}

// checkSnapshotMeta fails unless s's snapshot has metadata want, no data,
// and is the log's base.
func checkSnapshotMeta(t *testing.T, s *Store, want raft.SnapshotMetadata) {
	t.Helper()
	snap, err := s.Snapshot()
	md := snap.Metadata
	if err != nil || md.Index != want.Index || md.Term != want.Term ||
		!sameConfState(md.ConfState, want.ConfState) || snap.Data != nil {
		t.Fatalf("Snapshot = %+v with %d bytes, %v; want %+v without data", md, len(snap.Data), err, want)
	}
	first, _ := s.FirstIndex()
	term, err := s.Term(md.Index)
	if first != md.Index+1 || err != nil || term != md.Term {
		t.Fatalf("snapshot %d (term %d) is not the log's base: first index %d, term %d %v",
			md.Index, md.Term, first, term, err)
	}
}

// Compact(i, cs) makes entry i the log's base, with membership cs, only
// once the state machine has applied i: its keys are then the snapshot's
// data, and no discarded entry is lost.
func TestCompactRequiresApplied(t *testing.T) {
	s := mustOpen(t, "db", memOptions(vfs.NewMem()))
	defer s.Close()
	mustAppend(t, s, entries(1, 4, 1)...)
	mustAppend(t, s, entries(5, 10, 2)...)
	mustSetHardState(t, s, raft.HardState{Term: 2, Commit: 8})
	write(t, s, func(b *Batch) error { b.SetApplied(5); return nil })
	cs := raft.ConfState{Voters: []uint64{1, 2, 3}}

	if err := s.Compact(6, cs); err == nil || !strings.Contains(err.Error(), "would lose entries") {
		t.Fatalf("Compact beyond the applied index: %v, want a refusal", err)
	}
	checkSnapshotMeta(t, s, raft.SnapshotMetadata{})
	if err := s.Compact(5, cs); err != nil {
		t.Fatalf("Compact(5): %v", err)
	}
	checkSnapshotMeta(t, s, raft.SnapshotMetadata{Index: 5, Term: 2, ConfState: cs})
	for _, tc := range []struct {
		i    uint64
		want error
	}{{4, raft.ErrCompacted}, {5, raft.ErrCompacted}, {11, raft.ErrUnavailable}} {
		if err := s.Compact(tc.i, cs); !errors.Is(err, tc.want) {
			t.Errorf("Compact(%d): %v, want %v", tc.i, err, tc.want)
		}
	}

	// The state machine may compact in the batch that applies: the check
	// sees the batch's own applied index.
	cs2 := raft.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}
	write(t, s, func(b *Batch) error {
		if err := b.Compact(7, cs2); err == nil {
			return fmt.Errorf("batch Compact(7) before SetApplied(8): no error")
		}
		b.SetApplied(8)
		return b.Compact(8, cs2)
	})
	checkSnapshotMeta(t, s, raft.SnapshotMetadata{Index: 8, Term: 2, ConfState: cs2})
	if _, gotCS, _ := s.InitialState(); !sameConfState(gotCS, cs2) {
		t.Fatalf("InitialState membership %v, want the compaction's %v", gotCS, cs2)
	}
	if got, err := s.Entries(9, 11, 1<<30); err != nil || sameEntries(got, entries(9, 10, 2)) != "" {
		t.Fatalf("entries after the compaction: %v %v", got, err)
	}
}

// The cheap safety checks stop the node rather than write what Raft
// forbids.
func TestSafetyChecksPanic(t *testing.T) {
	s := mustOpen(t, "db", memOptions(vfs.NewMem()))
	defer s.Close()
	mustAppend(t, s, entries(1, 10, 2)...)
	mustSetHardState(t, s, raft.HardState{Term: 3, Vote: 1, Commit: 6})
	for _, tc := range []struct {
		name, want string
		fn         func(b *Batch)
	}{
		{"term regresses", "term regresses", func(b *Batch) { b.SetHardState(raft.HardState{Term: 2, Commit: 6}) }},
		{"vote changes", "vote in term 3 changes", func(b *Batch) { b.SetHardState(raft.HardState{Term: 3, Vote: 2, Commit: 6}) }},
		{"vote forgotten", "vote in term 3 changes", func(b *Batch) { b.SetHardState(raft.HardState{Term: 3, Commit: 6}) }},
		{"commit regresses", "commit index regresses", func(b *Batch) { b.SetHardState(raft.HardState{Term: 3, Vote: 1, Commit: 5}) }},
		{"commit beyond log", "beyond last index", func(b *Batch) { b.SetHardState(raft.HardState{Term: 3, Vote: 1, Commit: 11}); _ = b.Commit() }},
		{"truncates committed", "truncates committed", func(b *Batch) { _ = b.Append(entries(5, 5, 2)) }},
		{"rewrites committed", "changes committed entry", func(b *Batch) { _ = b.Append(entries(6, 12, 3)) }},
		{"applied beyond commit", "beyond commit index", func(b *Batch) { b.SetApplied(7); _ = b.Commit() }},
		{"applied regresses", "applied index regresses", func(b *Batch) { b.SetApplied(3); b.SetApplied(2) }},
		{"install without restore", "restore the state machine in the batch that installs", func(b *Batch) {
			_ = b.InstallSnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 20, Term: 3}})
			b.SetHardState(raft.HardState{Term: 3, Vote: 1, Commit: 20})
			_ = b.Commit()
		}},
	} {
		b := s.NewBatch()
		mustPanic(t, tc.name, tc.want, func() { tc.fn(b) })
		b.Close()
	}
	if st := s.Status(); st.FirstIndex != 1 || st.LastIndex != 10 || st.SnapshotIndex != 0 || st.Applied != 0 {
		t.Fatalf("state after the refused batches: %+v", st)
	}
	b := s.NewBatch()
	defer b.Close()
	if err := b.Append([]raft.Entry{entry(11, 1)}); err == nil {
		t.Errorf("append of a lower term: no error")
	}
	if err := b.Append([]raft.Entry{entry(11, 3), entry(13, 3)}); err == nil {
		t.Errorf("append with a gap inside: no error")
	}
	if err := b.Append(entries(6, 12, 2)); err != nil {
		t.Errorf("re-append of committed entries with their terms: %v", err)
	}
}

// A batch that read the log's shape cannot commit after another batch
// changed it: its view (and Commit's memory update) would be stale.
func TestStaleBatchPanics(t *testing.T) {
	s := mustOpen(t, "db", memOptions(vfs.NewMem()))
	defer s.Close()
	b1, b2 := s.NewBatch(), s.NewBatch()
	defer b1.Close()
	defer b2.Close()
	if err := b1.Append(entries(1, 2, 1)); err != nil {
		t.Fatal(err)
	}
	if err := b2.Append(entries(1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	if err := b1.Commit(); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, "stale commit", "after another batch changed it", func() { _ = b2.Commit() })
	if last, _ := s.LastIndex(); last != 2 {
		t.Fatalf("LastIndex = %d after the refused batch, want 2", last)
	}
}

// The tail cache serves recent reads and stays within its byte budget;
// reads spanning Pebble and the cache join seamlessly.
func TestTailCache(t *testing.T) {
	opts := memOptions(vfs.NewMem())
	e := entry(100, 1) // entries 10..99 have data of the same size
	opts.TailCacheBytes = 10 * e.PayloadBytes()
	s := mustOpen(t, "db", opts)
	defer s.Close()
	for i := uint64(1); i <= 100; i += 5 {
		mustAppend(t, s, entries(i, i+4, 1)...)
	}
	st := s.Status()
	if st.TailCacheEntries != 10 || st.TailCacheBytes > opts.TailCacheBytes {
		t.Fatalf("cache holds %d entries, %d bytes; want 10 within %d", st.TailCacheEntries, st.TailCacheBytes, opts.TailCacheBytes)
	}
	if got, err := s.Entries(95, 101, 1<<30); err != nil || sameEntries(got, entries(95, 100, 1)) != "" {
		t.Fatalf("cached read: %v", err)
	}
	if got, err := s.Entries(80, 101, 1<<30); err != nil || sameEntries(got, entries(80, 100, 1)) != "" {
		t.Fatalf("read across Pebble and cache: %v", err)
	}
	if st := s.Status(); st.TailCacheHits != 1 || st.TailCacheMisses != 1 {
		t.Fatalf("hits %d misses %d, want 1 and 1", st.TailCacheHits, st.TailCacheMisses)
	}
}

// Slices returned by Entries stay valid when the log is later truncated
// and rewritten (the cache must not overwrite what callers hold).
func TestEntriesResultNotOverwritten(t *testing.T) {
	s := mustOpen(t, "db", memOptions(vfs.NewMem()))
	defer s.Close()
	mustAppend(t, s, entries(1, 10, 1)...)
	held, err := s.Entries(1, 11, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, entries(5, 12, 2)...)
	if diff := sameEntries(held, entries(1, 10, 1)); diff != "" {
		t.Fatalf("held entries changed: %s", diff)
	}
}

// Readers on other goroutines (status, metrics) run while the writer
// commits; -race checks the locking, and every state they see is one the
// writer produced.
func TestConcurrentReaders(t *testing.T) {
	s := mustOpen(t, "db", memOptions(vfs.NewMem()))
	defer s.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readUntil(s, done)
		}()
	}
	for i := uint64(1); i <= 200; i++ {
		mustAppend(t, s, entry(i, 1))
		mustSetHardState(t, s, raft.HardState{Term: 1, Commit: i})
		if i%50 == 0 {
			write(t, s, func(b *Batch) error {
				b.SetApplied(i)
				return b.Compact(i-10, raft.ConfState{Voters: []uint64{1}})
			})
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func readUntil(s *Store, done chan struct{}) error {
	for {
		select {
		case <-done:
			return nil
		default:
		}
		st := s.Status()
		if st.HardState.Commit > st.LastIndex || st.FirstIndex > st.LastIndex+1 ||
			st.SnapshotIndex != st.FirstIndex-1 || st.Applied < st.SnapshotIndex {
			return fmt.Errorf("inconsistent status %+v", st)
		}
		ents, err := s.Entries(st.FirstIndex, st.LastIndex+1, 1<<30)
		if err != nil && !errors.Is(err, raft.ErrCompacted) && !errors.Is(err, raft.ErrUnavailable) {
			return err
		}
		for _, e := range ents {
			if string(e.Data) != string(entryData(e.Index, 1)) {
				return fmt.Errorf("entry %d holds %q", e.Index, e.Data)
			}
		}
	}
}

func TestClosed(t *testing.T) {
	s := mustOpen(t, "db", memOptions(vfs.NewMem()))
	mustClose(t, s)
	if _, err := s.LastIndex(); !errors.Is(err, ErrClosed) {
		t.Errorf("LastIndex after Close: %v", err)
	}
	if _, err := s.Entries(1, 1, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Entries after Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	b := s.NewBatch()
	defer b.Close()
	if err := b.Append(entries(1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close: %v", err)
	}
}

// ReadApplied on a Pebble snapshot sees the applied index of that instant,
// which is how the state machine pairs its image with an index.
func TestReadAppliedOnSnapshot(t *testing.T) {
	s := mustOpen(t, "db", memOptions(vfs.NewMem()))
	defer s.Close()
	mustAppend(t, s, entries(1, 5, 1)...)
	mustSetHardState(t, s, raft.HardState{Term: 1, Commit: 5})
	write(t, s, func(b *Batch) error { b.SetApplied(3); return nil })
	snap := s.DB().NewSnapshot()
	defer snap.Close()
	write(t, s, func(b *Batch) error { b.SetApplied(5); return nil })
	for _, tc := range []struct {
		r    pebble.Reader
		want uint64
	}{{snap, 3}, {s.DB(), 5}} {
		if got, err := ReadApplied(tc.r); err != nil || got != tc.want {
			t.Errorf("ReadApplied = %d, %v; want %d", got, err, tc.want)
		}
	}
}

// An indexed batch lets the state machine read its own pending writes
// while the log append shares the batch.
func TestIndexedBatch(t *testing.T) {
	s := mustOpen(t, "db", memOptions(vfs.NewMem()))
	defer s.Close()
	b := s.NewIndexedBatch()
	defer b.Close()
	if err := b.Append(entries(1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	b.SetHardState(raft.HardState{Term: 1, Commit: 3})
	if err := b.Pebble().Set([]byte("kcount"), []byte("1"), nil); err != nil {
		t.Fatal(err)
	}
	v, closer, err := b.Pebble().Get([]byte("kcount"))
	if err != nil || string(v) != "1" {
		t.Fatalf("read of a pending write: %q %v", v, err)
	}
	closer.Close()
	b.SetApplied(3)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if last, _ := s.LastIndex(); last != 3 || s.Applied() != 3 {
		t.Fatalf("after commit: last %d applied %d", last, s.Applied())
	}
}

// A store written in another format version is refused, not misread:
// version 1 stored snapshot data and a longer snapshot metadata value.
func TestFormatVersion(t *testing.T) {
	for _, version := range []uint32{formatVersion - 1, formatVersion + 1} {
		fs := vfs.NewMem()
		mustClose(t, mustOpen(t, "db", memOptions(fs)))
		v := encodeIdentity(Identity{ClusterID: "c"})
		binary.BigEndian.PutUint32(v[crcBytes:], version)
		seal(identityKey, v)
		rawUpdate(t, fs, "db", setKey(identityKey, v))
		if _, err := Open("db", memOptions(fs)); !errors.Is(err, ErrFormatVersion) {
			t.Fatalf("Open of version %d: %v, want ErrFormatVersion", version, err)
		}
	}
}

// TestReplacingAStaleSuffixWithTheCommitInTheSameBatch: a deposed leader's
// uncommitted suffix is replaced by the new leader's entries in a batch
// whose hard state already commits them; the order of SetHardState and
// Append in the batch must not matter.
func TestReplacingAStaleSuffixWithTheCommitInTheSameBatch(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Create: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.NewBatch()
	if err := b.Append([]raft.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 4}}); err != nil {
		t.Fatal(err)
	}
	b.SetHardState(raft.HardState{Term: 4, Commit: 2})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b = s.NewBatch()
	defer b.Close()
	b.SetHardState(raft.HardState{Term: 5, Commit: 3})
	if err := b.Append([]raft.Entry{{Index: 3, Term: 5}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Term(3); got != 5 {
		t.Fatalf("term of entry 3 = %d, want the new leader's 5", got)
	}
}
