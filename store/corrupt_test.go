package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/natsraft/natsraft/raft"
)

// buildStore writes a store with a hard state (commit 15), an applied
// index (5), a log [4, 20] compacted to entry 3 (the snapshot), and closes
// it.
func buildStore(t *testing.T, fs vfs.FS, dir string) {
	t.Helper()
	opts := memOptions(fs)
	s := mustOpen(t, dir, opts)
	mustAppend(t, s, entries(1, 20, 1)...)
	mustSetHardState(t, s, raft.HardState{Term: 1, Vote: 1, Commit: 15})
	write(t, s, func(b *Batch) error { b.SetApplied(5); return nil })
	if err := s.Compact(3, raft.ConfState{Voters: []uint64{1}}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
}

// snapMeta is buildStore's snapshot metadata with index and term replaced.
func snapMeta(index, term uint64) raft.SnapshotMetadata {
	return raft.SnapshotMetadata{Index: index, Term: term, ConfState: raft.ConfState{Voters: []uint64{1}}}
}

// rawUpdate changes the stored database below the store, as a bug or bit
// rot that slipped past Pebble's own checksums would.
func rawUpdate(t *testing.T, fs vfs.FS, dir string, fn func(db *pebble.DB) error) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{FS: fs, Logger: pebbleLogger{quietLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// flipByte flips one bit of the value at key, at offset from its end.
func flipByte(key []byte, fromEnd int) func(db *pebble.DB) error {
	return func(db *pebble.DB) error {
		v, closer, err := db.Get(key)
		if err != nil {
			return err
		}
		v = append([]byte(nil), v...)
		closer.Close()
		v[len(v)-fromEnd] ^= 0x10
		return db.Set(key, v, pebble.Sync)
	}
}

func moveValue(from, to []byte) func(db *pebble.DB) error {
	return func(db *pebble.DB) error {
		v, closer, err := db.Get(from)
		if err != nil {
			return err
		}
		defer closer.Close()
		return db.Set(to, v, pebble.Sync)
	}
}

func deleteKey(key []byte) func(db *pebble.DB) error {
	return func(db *pebble.DB) error { return db.Delete(key, pebble.Sync) }
}

func setKey(key, v []byte) func(db *pebble.DB) error {
	return func(db *pebble.DB) error { return db.Set(key, v, pebble.Sync) }
}

// A damaged or missing value makes Open fail with ErrCorrupt naming what
// is damaged, never serve or vote from it.
func TestOpenRefusesCorruptValues(t *testing.T) {
	logKey := func(i uint64) []byte { return appendLogKey(nil, i) }
	for _, tc := range []struct {
		name   string
		damage func(db *pebble.DB) error
		want   string
	}{
		{"entry data flipped", flipByte(logKey(7), 1), "log entry 7 "},
		{"entry term flipped", flipByte(logKey(9), len("entry 9 term 1")+2), "log entry 9 "},
		{"entry under wrong index", moveValue(logKey(8), logKey(7)), "log entry 7 "},
		{"entry missing", deleteKey(logKey(12)), "log entry 12 (key 726c000000000000000c): missing"},
		{"last entry missing", deleteKey(logKey(20)), "log entry 20 (key 726c0000000000000014): missing"},
		{"log end flipped", flipByte(logEndKey, 2), "log end"},
		{"entry below first", setKey(logKey(2), logKey(2)), "entry stored below the first index 4"},
		{"hard state flipped", flipByte(hardStateKey, 3), "hard state"},
		{"hard state missing", deleteKey(hardStateKey), "hard state (key 7268): missing"},
		{"commit beyond log", setKey(hardStateKey, encodeHardState(raft.HardState{Term: 1, Commit: 21})), "commit index 21 beyond"},
		{"applied flipped", flipByte(appliedKey, 1), "applied index"},
		{"applied beyond commit", setKey(appliedKey, encodeApplied(16)), "applied index (key 7261): 16 beyond the commit index 15"},
		{"truncated state flipped", flipByte(truncatedKey, 1), "truncated state"},
		{"identity missing", deleteKey(identityKey), "identity (key 7269): missing"},
		{"applied below snapshot", setKey(appliedKey, encodeApplied(2)),
			"applied index (key 7261): 2 below the snapshot index 3"},
		{"snapshot metadata flipped", flipByte(snapMetaKey, 9), "snapshot metadata"},
		{"snapshot metadata missing", deleteKey(snapMetaKey), "snapshot metadata (key 7273): missing"},
		{"snapshot metadata too short", setKey(snapMetaKey, sealed(snapMetaKey, make([]byte, 15))),
			"snapshot metadata (key 7273): body of 15 bytes is too short"},
		{"snapshot metadata with trailing bytes", setKey(snapMetaKey, sealed(snapMetaKey, append(encodeSnapshotMeta(snapMeta(3, 1))[crcBytes:], 0))),
			"snapshot metadata (key 7273): malformed learner list"},
		{"snapshot index differs from truncated state", setKey(snapMetaKey, encodeSnapshotMeta(snapMeta(2, 1))),
			"snapshot metadata (key 7273): entry 2 term 1, but the truncated state is entry 3 term 1"},
		{"snapshot term differs from truncated state", setKey(snapMetaKey, encodeSnapshotMeta(snapMeta(3, 2))),
			"snapshot metadata (key 7273): entry 3 term 2, but the truncated state is entry 3 term 1"},
		// A compaction's truncated state written without its snapshot
		// metadata: the entries below are gone, the metadata is stale.
		{"truncated state ahead of snapshot", func(db *pebble.DB) error {
			b := db.NewBatch()
			defer b.Close()
			_ = b.DeleteRange(logSpanStart, appendLogKey(nil, 5), nil)
			_ = b.Set(truncatedKey, encodeEntryID(truncatedKey, entryID{4, 1}), nil)
			return b.Commit(pebble.Sync)
		}, "snapshot metadata (key 7273): entry 3 term 1, but the truncated state is entry 4 term 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			buildStore(t, fs, "db")
			rawUpdate(t, fs, "db", tc.damage)
			_, err := Open("db", Options{FS: fs, Logger: quietLogger()})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v\nwant ErrCorrupt mentioning %q", err, tc.want)
			}
		})
	}
}

// The same store, damaged in its files on disk: Pebble's block checksums
// or file checks catch it, and Open reports ErrCorrupt (naming the first
// log index it could not read where the damage is in the log).
func TestOpenRefusesDamagedFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"sstable byte flipped early", flipFileByte("*.sst", 0.1)},
		{"sstable byte flipped mid", flipFileByte("*.sst", 0.5)},
		{"sstable footer flipped", flipFileByte("*.sst", 0.999)},
		{"sstable truncated", truncateFile("*.sst", 0.5)},
		{"sstable deleted", removeFiles("*.sst")},
		{"manifest truncated", truncateFile("MANIFEST-*", 0.1)},
		{"manifest deleted", removeFiles("MANIFEST-*")},
		{"manifest marker deleted", removeFiles("marker.manifest.*")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			buildStore(t, vfs.Default, dir)
			tc.damage(t, dir)
			_, err := Open(dir, Options{Logger: quietLogger()})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			t.Logf("Open: %v", err)
		})
	}
}

// With every file gone the directory is empty: Open says so instead of
// starting an empty store, unless asked to create one.
func TestOpenAfterFilesRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	buildStore(t, vfs.Default, dir)
	removeFiles("*")(t, dir)
	if _, err := Open(dir, Options{Logger: quietLogger()}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open: %v, want ErrNotFound", err)
	}
}

// eachFile returns a damage function applying fn to every file in the
// store's directory matching pattern (at least one must).
func eachFile(pattern string, fn func(name string) error) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		names, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil || len(names) == 0 {
			t.Fatalf("no %s in %s (%v)", pattern, dir, err)
		}
		for _, name := range names {
			if err := fn(name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func flipFileByte(pattern string, at float64) func(t *testing.T, dir string) {
	return eachFile(pattern, func(name string) error {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		b[int(float64(len(b))*at)] ^= 0x01
		return os.WriteFile(name, b, 0o644)
	})
}

func truncateFile(pattern string, keep float64) func(t *testing.T, dir string) {
	return eachFile(pattern, func(name string) error {
		fi, err := os.Stat(name)
		if err != nil {
			return err
		}
		return os.Truncate(name, int64(float64(fi.Size())*keep))
	})
}

func removeFiles(pattern string) func(t *testing.T, dir string) {
	return eachFile(pattern, os.Remove)
}
