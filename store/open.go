package store

import (
	"errors"
	"fmt"
	"github.com/cockroachdb/pebble/bloom"
	iofs "io/fs"
	"log/slog"
	"strings"

	"github.com/cockroachdb/errors/oserror"
	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/natsraft/natsraft/raft"
)

// Open opens the store in dir, creating it only when the directory is
// missing or empty and opts.Create is set. Before returning it verifies the
// whole durable state: every checksum (identity, hard state, applied index,
// truncated state, log end, snapshot metadata, every log
// entry); that the log runs without a gap from its first index to its
// recorded end, holds nothing below its first index, and never decreases
// in term; that commit <= last index and applied <= commit; and that the
// snapshot metadata names the truncated entry, which the state machine has
// applied. Any failure is an
// ErrCorrupt naming what is damaged: a node must not vote or serve from
// bad data. ErrLocked if another process has the store open.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	create, err := prepareDir(opts, dir)
	if err != nil {
		return nil, err
	}
	lock, err := pebble.LockDirectory(dir, opts.FS)
	if err != nil {
		if errors.Is(err, iofs.ErrPermission) {
			return nil, fmt.Errorf("store: locking %q: %w", dir, err)
		}
		return nil, fmt.Errorf("%w: %q: %w", ErrLocked, dir, err)
	}
	db, err := openPebble(dir, opts, lock, create)
	if err != nil {
		return nil, errors.Join(err, lock.Close())
	}
	s := &Store{db: db, lock: lock, dir: dir, logger: opts.Logger, noSync: opts.NoSync}
	if create {
		err = initialize(db, opts.Identity)
	}
	if err == nil {
		err = s.load(opts)
	}
	if err != nil {
		return nil, errors.Join(err, db.Close(), lock.Close())
	}
	s.logOpened(create)
	return s, nil
}

// prepareDir decides whether Open creates a store in dir, and makes the
// directory if so.
func prepareDir(opts Options, dir string) (create bool, err error) {
	state, err := probeDir(opts.FS, dir)
	switch {
	case err != nil:
		return false, err
	case state == dirOther:
		return false, fmt.Errorf("%w: %q holds files but no Pebble database", ErrNotFound, dir)
	case state == dirPebble:
		return false, nil
	case !opts.Create:
		return false, fmt.Errorf("%w: %q is missing or empty (Options.Create creates a store)", ErrNotFound, dir)
	}
	if err := mkdirAllSynced(opts.FS, dir); err != nil {
		return false, fmt.Errorf("store: creating %q: %w", dir, err)
	}
	return true, nil
}

// mkdirAllSynced makes dir and its missing parents, and syncs the parent
// of each directory it made: Pebble syncs its own directory, but without
// this a crash could forget the directory itself.
func mkdirAllSynced(fs vfs.FS, dir string) error {
	var made []string
	for d := dir; ; d = fs.PathDir(d) {
		if _, err := fs.Stat(d); err == nil || !oserror.IsNotExist(err) {
			break
		}
		made = append(made, d)
		if fs.PathDir(d) == d {
			break
		}
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range made {
		parent, err := fs.OpenDir(fs.PathDir(d))
		if err != nil {
			return err
		}
		err = errors.Join(parent.Sync(), parent.Close())
		if err != nil {
			return err
		}
	}
	return nil
}

type dirState int

const (
	dirEmpty  dirState = iota // missing, or no entries
	dirPebble                 // holds files named like Pebble's
	dirOther                  // holds other files only
)

func probeDir(fs vfs.FS, dir string) (dirState, error) {
	names, err := fs.List(dir)
	switch {
	case oserror.IsNotExist(err):
		return dirEmpty, nil
	case err != nil:
		return 0, fmt.Errorf("store: listing %q: %w", dir, err)
	case len(names) == 0:
		return dirEmpty, nil
	}
	for _, name := range names {
		if looksPebble(name) {
			return dirPebble, nil
		}
	}
	return dirOther, nil
}

func looksPebble(name string) bool {
	for _, prefix := range []string{"MANIFEST-", "OPTIONS-", "marker.", "CURRENT", "LOCK"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".log")
}

// openPebble opens (or, with create, creates) the Pebble database in the
// locked directory. Pebble failing to open an existing store, but for
// permissions, means its files are damaged or missing: ErrCorrupt.
func openPebble(dir string, opts Options, lock *pebble.Lock, create bool) (*pebble.DB, error) {
	cache := pebble.NewCache(opts.BlockCacheBytes)
	defer cache.Unref()
	po := &pebble.Options{
		FS:                 opts.FS,
		Lock:               lock,
		Cache:              cache,
		ErrorIfExists:      create,
		ErrorIfNotExists:   !create,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{opts.Logger},
		// A large memtable lets the log prefix that compaction deletes die
		// in memory instead of being flushed and compacted (the log is
		// write-once, read-rarely); it is the main CPU saving under load.
		MemTableSize: memTableBytes,
	}
	po.Levels = make([]pebble.LevelOptions, 7)
	for i := range po.Levels {
		// Bloom filters make the state machine's point reads cheap.
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, po)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, pebble.ErrDBDoesNotExist):
		return nil, fmt.Errorf("%w: %q holds Pebble files but no manifest: %w", ErrCorrupt, dir, err)
	case create || errors.Is(err, iofs.ErrPermission):
		return nil, fmt.Errorf("store: opening Pebble in %q: %w", dir, err)
	default:
		return nil, fmt.Errorf("%w: opening Pebble in %q: %w", ErrCorrupt, dir, err)
	}
}

// initialize writes the metadata of an empty store, synced. Every
// metadata key exists from then on, so a missing one is corruption.
func initialize(db *pebble.DB, id Identity) error {
	b := db.NewBatch()
	defer b.Close()
	for _, kv := range [][2][]byte{
		{identityKey, encodeIdentity(id)},
		{hardStateKey, encodeHardState(raft.HardState{})},
		{appliedKey, encodeApplied(0)},
		{truncatedKey, encodeEntryID(truncatedKey, entryID{})},
		{logEndKey, encodeEntryID(logEndKey, entryID{})},
		{snapMetaKey, encodeSnapshotMeta(raft.SnapshotMetadata{})},
	} {
		mustPebble(b.Set(kv[0], kv[1], nil))
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store: initializing: %w", err)
	}
	return nil
}

// load reads and verifies the durable state into s.mu.
func (s *Store) load(opts Options) error {
	id, err := s.loadIdentity(opts.Identity)
	if err != nil {
		return err
	}
	s.identity = id
	if s.mu.hardState, err = getValue(s.db, hardStateKey, "hard state", decodeHardState); err != nil {
		return err
	}
	if s.mu.applied, err = getValue(s.db, appliedKey, "applied index", decodeApplied); err != nil {
		return err
	}
	dummy, err := getValue(s.db, truncatedKey, "truncated state", entryIDDecoder("truncated state", truncatedKey))
	if err != nil {
		return err
	}
	end, err := getValue(s.db, logEndKey, "log end", entryIDDecoder("log end", logEndKey))
	if err != nil {
		return err
	}
	if s.mu.snapshot, err = getValue(s.db, snapMetaKey, "snapshot metadata", decodeSnapshotMeta); err != nil {
		return err
	}
	s.mu.log = newMemLog(dummy, opts.TailCacheBytes)
	if err := loadLog(s.db, &s.mu.log, end); err != nil {
		return err
	}
	return s.checkLoaded()
}

func (s *Store) loadIdentity(want Identity) (Identity, error) {
	var version uint32
	id, err := getValue(s.db, identityKey, "identity", func(v []byte) (id Identity, err error) {
		id, version, err = decodeIdentity(v)
		return id, err
	})
	switch {
	case err != nil:
		return Identity{}, fmt.Errorf("%w (if creating this store was interrupted, remove %q and create it again)", err, s.dir)
	case version != formatVersion:
		return Identity{}, fmt.Errorf("%w: %q has format version %d, this code reads %d", ErrFormatVersion, s.dir, version, formatVersion)
	case want.ClusterID != "" && want.ClusterID != id.ClusterID,
		want.NodeID != 0 && want.NodeID != id.NodeID:
		return Identity{}, fmt.Errorf("%w: %q belongs to cluster %q node %d, not cluster %q node %d",
			ErrIdentityMismatch, s.dir, id.ClusterID, id.NodeID, want.ClusterID, want.NodeID)
	}
	return id, nil
}

// getValue reads key and decodes it; a missing key is ErrCorrupt.
func getValue[T any](db *pebble.DB, key []byte, what string, decode func([]byte) (T, error)) (T, error) {
	var zero T
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return zero, corruptf(what, key, "missing")
	}
	if err != nil {
		return zero, pebbleReadError(what, err)
	}
	defer closer.Close()
	return decode(v)
}

// loadLog scans every stored entry into l, whose dummy is set: no entry
// below the first index, no gap, terms never below the previous one, and
// the last entry is the recorded end.
func loadLog(db *pebble.DB, l *memLog, end entryID) error {
	if err := checkNoEntryBelow(db, l.firstIndex()); err != nil {
		return err
	}
	var regress error
	err := scanLog(db, l.firstIndex(), toLogEnd, func(e raft.Entry) bool {
		if prev := l.runs[len(l.runs)-1].term; e.Term < prev {
			regress = corruptf(fmt.Sprintf("log entry %d", e.Index), appendLogKey(nil, e.Index),
				"term %d below the previous entry's term %d", e.Term, prev)
			return false
		}
		l.noteEntry(entryID{e.Index, e.Term})
		return true
	})
	if err = errors.Join(regress, err); err != nil {
		return err
	}
	return checkLogEnd(l, end)
}

// checkLogEnd compares the scanned log with its recorded end.
func checkLogEnd(l *memLog, end entryID) error {
	switch {
	case l.last < end.index:
		return corruptf(fmt.Sprintf("log entry %d", l.last+1), appendLogKey(nil, l.last+1),
			"missing: the log ends at %d, its recorded end is %d", l.last, end.index)
	case l.last > end.index:
		return corruptf("log end", logEndKey, "records %d, but the log ends at %d", end.index, l.last)
	case l.term(l.last) != end.term:
		return corruptf("log end", logEndKey, "records term %d for entry %d, the log has %d", end.term, end.index, l.term(l.last))
	}
	return nil
}

// checkNoEntryBelow fails if a log key below first is stored: compaction
// deletes them in the batch that moves the first index.
func checkNoEntryBelow(db *pebble.DB, first uint64) (err error) {
	iter, err := db.NewIter(&pebble.IterOptions{LowerBound: logSpanStart, UpperBound: appendLogKey(nil, first)})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, iter.Close()) }()
	if iter.First() {
		key := append([]byte(nil), iter.Key()...)
		return corruptf("log", key, "entry stored below the first index %d", first)
	}
	if err := iter.Error(); err != nil {
		return pebbleReadError("log", err)
	}
	return nil
}

// checkLoaded verifies that the loaded metadata agrees with the log.
// REQUIRES: s.mu holds the loaded state.
func (s *Store) checkLoaded() error {
	hs, l, snap := s.mu.hardState, &s.mu.log, s.mu.snapshot
	switch {
	case hs.Commit > l.last:
		return corruptf("hard state", hardStateKey, "commit index %d beyond the last log index %d", hs.Commit, l.last)
	case s.mu.applied > hs.Commit:
		return corruptf("applied index", appliedKey, "%d beyond the commit index %d", s.mu.applied, hs.Commit)
	case s.mu.applied < snap.Index:
		return corruptf("applied index", appliedKey, "%d below the snapshot index %d: the state machine lacks compacted entries", s.mu.applied, snap.Index)
	case snap.Index != l.dummy.index || snap.Term != l.dummy.term:
		return corruptf("snapshot metadata", snapMetaKey, "entry %d term %d, but the truncated state is entry %d term %d",
			snap.Index, snap.Term, l.dummy.index, l.dummy.term)
	}
	return nil
}

func (s *Store) logOpened(created bool) {
	st := s.Status()
	s.logger.Info("store opened", "dir", s.dir, "created", created,
		"cluster", s.identity.ClusterID, "node", s.identity.NodeID,
		"term", st.HardState.Term, "vote", st.HardState.Vote, "commit", st.HardState.Commit,
		"applied", st.Applied, "first", st.FirstIndex, "last", st.LastIndex,
		"snapshot", st.SnapshotIndex)
}

// pebbleLogger sends Pebble's messages to slog. Fatalf panics: Pebble
// calls it when it cannot go on, and the node stops (fail-stop).
type pebbleLogger struct{ logger *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.logger.Info("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	p.logger.Error(msg)
	panic(msg)
}

// mustPebble panics on an error from adding to a Pebble batch, which
// happens only on misuse (an indexed batch's duplicate record).
func mustPebble(err error) {
	if err != nil {
		panic(fmt.Sprintf("store: adding to batch: %v", err))
	}
}
