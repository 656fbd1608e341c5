package kv

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
)

// Store is the replicated state machine. One goroutine, the applier, calls
// Apply, Restore, Committed and Discard; any goroutine may call Range, Watch,
// Snapshot, Revision and CompactRevision.
type Store struct {
	db   *pebble.DB
	opts Options
	keys keys
	hub  *hub

	// Applier state, touched only by the applier goroutine.
	//
	// Invariant: rev and compactRev describe the committed state plus every
	// request applied since the last Committed or Discard.
	rev        int64
	compactRev int64
	index      keyIndex
	leases     leaseIndex
	pending    []Event // events applied since the last Committed, in order
	restored   bool    // Restore was applied since the last Committed
	keyBuf     []byte  // scratch for Pebble keys
	recBuf     []byte  // scratch for Pebble values

	// applying is a sequence lock between the applier and Range: odd from
	// the first Apply or Restore of a batch until its Committed or
	// Discard, even otherwise. Invariant: while it is even, the database
	// holds exactly the published state (the hub's revisions), so a Range
	// whose snapshot was taken while it stayed at one even value may use
	// them instead of reading them from the snapshot.
	applying atomic.Uint64
}

// Open loads the Store kept in db under opts.Prefix. The caller owns db and
// closes it after Close.
func Open(db *pebble.DB, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if opts.Prefix == 0xFF {
		return nil, errors.New("kv: prefix 0xFF leaves no room for the key spaces")
	}
	s := &Store{db: db, opts: opts, keys: keys{prefix: opts.Prefix}}
	if err := s.reload(db); err != nil {
		return nil, fmt.Errorf("kv: open: %w", err)
	}
	s.hub = newHub(db, s.keys, opts, s.rev, s.compactRev)
	return s, nil
}

// Close cancels every watcher and waits for their goroutines. Reads and
// applies must have stopped.
func (s *Store) Close() error {
	s.hub.close()
	return nil
}

// Revision is the current revision of the committed, published state: every
// event up to it has been handed to the watchers.
func (s *Store) Revision() int64 {
	rev, _ := s.hub.published()
	return rev
}

// CompactRevision is the compaction revision of the published state.
func (s *Store) CompactRevision() int64 {
	_, compactRev := s.hub.published()
	return compactRev
}

// Apply applies one committed request into b, which must be an indexed batch
// (db.NewIndexedBatch) that the caller commits, together with its applied
// index, before calling Committed. Several requests may be applied into one
// batch; each sees the ones before it.
//
// The result depends only on the state and the request: an error (ErrCompacted,
// ErrFutureRev, ErrKeyNotFound, a malformed request...) is the deterministic
// answer to the client and leaves b untouched. Apply does not check
// Options' limits (see Validate). A storage failure panics: the batch would be
// half-written, so the node must stop (fail-stop).
//
// Apply retains req's byte slices: they end up in events and responses.
func (s *Store) Apply(b *pebble.Batch, req *Request) (*Response, error) {
	if !b.Indexed() {
		panic("kv: Apply needs an indexed batch")
	}
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	s.beginApplying()
	t := &writeTxn{s: s, b: b, beginRev: s.rev}
	resp, err := t.apply(req)
	if err == nil && t.changes > 0 {
		s.rev = t.beginRev + 1
	}
	return resp, err
}

// Committed tells the Store that the batch of the last Applies (or Restore)
// is committed: the new revision becomes the published one and the events go
// to the watchers. It never blocks on a watcher.
func (s *Store) Committed() {
	s.hub.publish(s.pending, s.rev, s.compactRev, s.restored)
	clear(s.pending)
	s.pending, s.restored = s.pending[:0], false
	s.endApplying()
}

// beginApplying marks a batch in progress (see applying). Applier only.
func (s *Store) beginApplying() {
	if s.applying.Load()%2 == 0 {
		s.applying.Add(1)
	}
}

// endApplying marks the batch committed and published, or discarded.
// Applier only.
func (s *Store) endApplying() {
	if s.applying.Load()%2 == 1 {
		s.applying.Add(1)
	}
}

// Discard forgets the Applies since the last Committed, for a caller that
// drops the batch instead of committing it.
func (s *Store) Discard() error {
	clear(s.pending)
	s.pending, s.restored = s.pending[:0], false
	defer s.endApplying()
	return s.reload(s.db)
}

// reload sets the applier state from r: the DB, or a batch after Restore.
func (s *Store) reload(r pebble.Reader) error {
	v, err := loadView(r, s.keys)
	if err != nil {
		return err
	}
	index, err := loadIndex(r, s.keys)
	if err != nil {
		return err
	}
	leases, err := loadLeases(r, s.keys)
	if err != nil {
		return err
	}
	s.rev, s.compactRev, s.index, s.leases = v.rev, v.compact, index, leases
	return nil
}

// Range reads the committed state (it may be newer than the published one).
func (s *Store) Range(req *RangeRequest) (*RangeResponse, error) {
	if err := checkRange(req); err != nil {
		return nil, err
	}
	v, closeSnap, err := s.snapshotView()
	if err != nil {
		return nil, err
	}
	defer closeSnap()
	return v.rangeKeys(req)
}

// snapshotView returns a view of a new snapshot of the database. Its
// revisions are the published ones when no batch was being applied while
// the snapshot was taken (see applying), and are read from the snapshot
// otherwise: a batch may be committed there and not yet published.
func (s *Store) snapshotView() (view, func(), error) {
	seq := s.applying.Load()
	snap := s.db.NewSnapshot()
	closeSnap := func() { _ = snap.Close() }
	v := view{r: snap, keys: s.keys}
	v.rev, v.compact = s.hub.published()
	if seq%2 == 0 && s.applying.Load() == seq {
		return v, closeSnap, nil
	}
	v, err := loadView(snap, s.keys)
	if err != nil {
		closeSnap()
		return view{}, nil, err
	}
	return v, closeSnap, nil
}

// must panics on a storage error inside Apply (see Apply).
func must(err error) {
	if err != nil {
		panic(fmt.Sprintf("kv: storage failure during apply: %v", err))
	}
}
