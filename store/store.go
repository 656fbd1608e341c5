package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/natsraft/natsraft/raft"
)

// Errors of this package, testable with errors.Is. The raft package's
// ErrCompacted, ErrUnavailable and ErrSnapOutOfDate are returned unwrapped
// where raft.Storage and raft.MemoryStorage return them.
var (
	// ErrNotFound: the directory holds no store and Options.Create is false.
	ErrNotFound = errors.New("store: no store in directory")
	// ErrCorrupt: stored data failed a checksum or a consistency check, or
	// a file the store needs is missing or damaged. The message names the
	// damaged key, index or file.
	ErrCorrupt = errors.New("store: corrupt data")
	// ErrIdentityMismatch: the store belongs to another cluster or node
	// than Options says.
	ErrIdentityMismatch = errors.New("store: identity mismatch")
	// ErrFormatVersion: the store was written in a format this code does
	// not read.
	ErrFormatVersion = errors.New("store: unsupported format version")
	// ErrLocked: another process (or another Store in this one) has the
	// directory open.
	ErrLocked = errors.New("store: directory in use")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// Defaults for Options.
const (
	DefaultBlockCacheBytes = 64 << 20
	DefaultTailCacheBytes  = 8 << 20
	// memTableBytes is Pebble's memtable size (see open.go).
	memTableBytes = 64 << 20
)

// Options configure Open. The zero value opens an existing store on the
// OS file system, syncing every Raft write.
type Options struct {
	// FS is the file system; nil means the OS's (vfs.Default). Tests use
	// vfs.NewMem or vfs.NewStrictMem.
	FS vfs.FS
	// Create allows Open to create a store when the directory is missing or
	// empty. Without it Open returns ErrNotFound there, so a mistyped data
	// directory never starts an empty node that could vote. A non-empty
	// directory holding no store is never written to.
	Create bool
	// Identity is written when the store is created. On Open, each non-zero
	// field must match the stored one (ErrIdentityMismatch).
	Identity Identity
	// NoSync makes every commit skip the fsync: acknowledged writes can be
	// lost in a crash. For benchmarks and tests only.
	NoSync bool
	// Logger receives the store's and Pebble's messages; nil means
	// slog.Default().
	Logger *slog.Logger
	// BlockCacheBytes sizes Pebble's block cache; 0 means
	// DefaultBlockCacheBytes.
	BlockCacheBytes int64
	// TailCacheBytes bounds the in-memory cache of the most recent log
	// entries (counted as raft.Entry.PayloadBytes); 0 means
	// DefaultTailCacheBytes.
	TailCacheBytes uint64
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.BlockCacheBytes == 0 {
		o.BlockCacheBytes = DefaultBlockCacheBytes
	}
	if o.TailCacheBytes == 0 {
		o.TailCacheBytes = DefaultTailCacheBytes
	}
	return o
}

// Identity names the cluster and node a store belongs to.
type Identity struct {
	ClusterID string
	NodeID    uint64
}

// Store is the durable state of one node. It implements raft.Storage.
//
// One goroutine, the node actor, writes (Batch, Compact)
// and makes the raft.Storage calls. Other goroutines may call the read
// methods concurrently (metrics, status); a read waits while a commit is
// syncing.
type Store struct {
	db       *pebble.DB
	lock     *pebble.Lock // the directory's, held from Open to Close
	dir      string
	logger   *slog.Logger
	noSync   bool
	identity Identity
	batches  sync.Pool // of *Batch

	// cacheHits and cacheMisses count Entries calls served from the tail
	// cache and from Pebble.
	cacheHits, cacheMisses atomic.Uint64

	mu struct {
		// RWMutex: readers share it; a commit holds it exclusively from
		// Pebble's commit until memory reflects the batch, so readers never
		// see Pebble and memory disagree.
		sync.RWMutex
		closed    bool
		hardState raft.HardState
		// applied is the index of the last entry the state machine applied,
		// as written by Batch.SetApplied.
		applied uint64
		// snapshot is the log's base. Invariant: snapshot.Index ==
		// log.dummy.index.
		snapshot raft.SnapshotMetadata
		log      memLog
		// gen counts commits that changed the log or the snapshot; a Batch
		// that read them at an older gen must not commit (see Batch).
		gen uint64
	}
}

var _ raft.Storage = (*Store)(nil)

// DB returns the Pebble database, for the state machine's reads (keys
// under KVPrefix). Writes go through Batch.Pebble so that they commit with
// the applied index they produce.
func (s *Store) DB() *pebble.DB { return s.db }

// Dir returns the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// Identity returns the stored identity.
func (s *Store) Identity() Identity { return s.identity }

// Close flushes and closes the database. Flushing on a clean close moves
// the log out of Pebble's WAL into checksummed sstables.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	s.mu.closed = true
	return errors.Join(s.db.Flush(), s.db.Close(), s.lock.Close())
}

// rlock read-locks s.mu and reports ErrClosed. On error s.mu is not held.
func (s *Store) rlock() error {
	s.mu.RLock()
	if s.mu.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// InitialState implements raft.Storage.
func (s *Store) InitialState() (raft.HardState, raft.ConfState, error) {
	if err := s.rlock(); err != nil {
		return raft.HardState{}, raft.ConfState{}, err
	}
	defer s.mu.RUnlock()
	md := cloneMetadata(s.mu.snapshot)
	return s.mu.hardState, md.ConfState, nil
}

// Entries implements raft.Storage: the entries [lo, hi), limited to
// maxBytes but at least one. Recent entries come from the tail cache;
// older ones from Pebble, verified. The result must not be modified.
func (s *Store) Entries(lo, hi, maxBytes uint64) ([]raft.Entry, error) {
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	l := &s.mu.log
	switch {
	case lo <= l.dummy.index:
		return nil, raft.ErrCompacted
	case hi > l.last+1:
		return nil, raft.ErrUnavailable
	case lo > hi:
		return nil, fmt.Errorf("store: invalid range [%d, %d)", lo, hi)
	}
	cacheFirst := l.cacheFirst()
	if lo >= cacheFirst {
		s.cacheHits.Add(1)
		return limitSize(l.cached(lo, hi), maxBytes), nil
	}
	s.cacheMisses.Add(1)
	r := entryReader{maxBytes: maxBytes}
	if err := r.readPebble(s.db, lo, min(hi, cacheFirst), l.term); err != nil {
		return nil, err
	}
	if hi > cacheFirst {
		r.addAll(l.cached(cacheFirst, hi))
	}
	return r.ents, nil
}

// Term implements raft.Storage, from memory.
func (s *Store) Term(i uint64) (uint64, error) {
	if err := s.rlock(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	switch l := &s.mu.log; {
	case i < l.dummy.index:
		return 0, raft.ErrCompacted
	case i > l.last:
		return 0, raft.ErrUnavailable
	default:
		return l.term(i), nil
	}
}

// LastIndex implements raft.Storage.
func (s *Store) LastIndex() (uint64, error) {
	if err := s.rlock(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	return s.mu.log.last, nil
}

// FirstIndex implements raft.Storage.
func (s *Store) FirstIndex() (uint64, error) {
	if err := s.rlock(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	return s.mu.log.firstIndex(), nil
}

// Snapshot implements raft.Storage with the latest snapshot's metadata
// (Compact's or InstallSnapshot's) and no data: the data is the state
// machine's, which the node encodes when a follower needs it.
func (s *Store) Snapshot() (raft.Snapshot, error) {
	if err := s.rlock(); err != nil {
		return raft.Snapshot{}, err
	}
	defer s.mu.RUnlock()
	return raft.Snapshot{Metadata: cloneMetadata(s.mu.snapshot)}, nil
}

// HardState returns the persisted hard state.
func (s *Store) HardState() raft.HardState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.hardState
}

// Applied returns the persisted applied index.
func (s *Store) Applied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.applied
}

// Status is a consistent summary of the store, for metrics and status
// pages.
type Status struct {
	HardState     raft.HardState
	Applied       uint64
	FirstIndex    uint64
	LastIndex     uint64
	SnapshotIndex uint64
	SnapshotTerm  uint64
	// TailCacheEntries and TailCacheBytes describe the tail cache;
	// TailCacheHits and TailCacheMisses count Entries calls it served or
	// sent to Pebble.
	TailCacheEntries int
	TailCacheBytes   uint64
	TailCacheHits    uint64
	TailCacheMisses  uint64
}

// Status returns a consistent summary of the store.
func (s *Store) Status() Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := &s.mu.log
	return Status{
		HardState:        s.mu.hardState,
		Applied:          s.mu.applied,
		FirstIndex:       l.firstIndex(),
		LastIndex:        l.last,
		SnapshotIndex:    s.mu.snapshot.Index,
		SnapshotTerm:     s.mu.snapshot.Term,
		TailCacheEntries: len(l.cache),
		TailCacheBytes:   l.cacheBytes,
		TailCacheHits:    s.cacheHits.Load(),
		TailCacheMisses:  s.cacheMisses.Load(),
	}
}

// Compact discards the log entries up to and including i and makes entry
// i, with membership cs in force at it, the log's base: the snapshot that
// Snapshot describes. i must be applied: the state machine's keys hold
// the effects of every entry discarded, and are the snapshot's data. Like
// raft.MemoryStorage.Compact: ErrCompacted if i < FirstIndex,
// ErrUnavailable if i > LastIndex.
func (s *Store) Compact(i uint64, cs raft.ConfState) error {
	b := s.NewBatch()
	defer b.Close()
	if err := b.Compact(i, cs); err != nil {
		return err
	}
	return b.Commit()
}

// ReadApplied reads the applied index from r: the store's database, or a
// pebble.Snapshot of it taken by the state machine to build a snapshot, so
// that the index and the key-value data come from the same instant.
func ReadApplied(r pebble.Reader) (uint64, error) {
	v, closer, err := r.Get(appliedKey)
	if err != nil {
		return 0, fmt.Errorf("store: reading applied index: %w", err)
	}
	defer closer.Close()
	return decodeApplied(v)
}

// limitSize returns the longest prefix of ents within maxBytes, never
// empty when ents is not (raft.MemoryStorage's rule).
func limitSize(ents []raft.Entry, maxBytes uint64) []raft.Entry {
	var size uint64
	for n := range ents {
		size += ents[n].PayloadBytes()
		if n > 0 && size > maxBytes {
			return ents[:n]
		}
	}
	return ents
}
