package store

import (
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble"
	"github.com/natsraft/natsraft/raft"
)

// toLogEnd as scanLog's hi scans to the last stored entry.
const toLogEnd = math.MaxUint64

// scanLog calls fn with every stored entry in [lo, hi), in order, each
// verified: its checksum, and that no index is missing from lo on (up to
// hi, unless hi is toLogEnd or fn stopped early by returning false).
// e.Data aliases Pebble's buffer and is valid only during fn.
func scanLog(r pebble.Reader, lo, hi uint64, fn func(e raft.Entry) bool) (err error) {
	key := appendLogKey(nil, lo)
	upper := logSpanEnd
	if hi != toLogEnd {
		upper = appendLogKey(nil, hi)
	}
	iter, err := r.NewIter(&pebble.IterOptions{LowerBound: key, UpperBound: upper})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, iter.Close()) }()
	next := lo
	for valid := iter.First(); valid; valid = iter.Next() {
		v, err := iter.ValueAndErr()
		if err != nil {
			return pebbleReadError(fmt.Sprintf("log entry %d", next), err)
		}
		e, err := decodeEntry(iter.Key(), v)
		if err != nil {
			return err
		}
		if e.Index != next {
			return missingEntry(next, e.Index)
		}
		next++
		if !fn(e) {
			return nil
		}
	}
	if err := iter.Error(); err != nil {
		return pebbleReadError(fmt.Sprintf("log entry %d", next), err)
	}
	if hi != toLogEnd && next != hi {
		return missingEntry(next, 0)
	}
	return nil
}

// missingEntry reports that entry index is absent where the log must hold
// it; found is the next index stored, or 0 for none.
func missingEntry(index, found uint64) error {
	what := fmt.Sprintf("log entry %d", index)
	if found == 0 {
		return corruptf(what, appendLogKey(nil, index), "missing: the log ends before it")
	}
	return corruptf(what, appendLogKey(nil, index), "missing: the next entry stored is %d", found)
}

// pebbleReadError wraps an error Pebble returned while reading what;
// Pebble's own corruption (block checksums, truncated files) becomes
// ErrCorrupt.
func pebbleReadError(what string, err error) error {
	if pebble.IsCorruptionError(err) {
		return fmt.Errorf("%w: reading %s: %w", ErrCorrupt, what, err)
	}
	return fmt.Errorf("store: reading %s: %w", what, err)
}

// entryReader collects entries under a byte budget with limitSize's rule:
// at least one entry, then as long as the running total fits maxBytes.
type entryReader struct {
	maxBytes uint64
	size     uint64
	full     bool
	ents     []raft.Entry
	// slab is where entry data read from Pebble is copied: one allocation
	// for many entries.
	slab []byte
}

const slabBytes = 64 << 10

// admit reports whether e fits the budget; once one does not, none does.
func (r *entryReader) admit(e *raft.Entry) bool {
	size := r.size + e.PayloadBytes()
	if r.full || (len(r.ents) > 0 && size > r.maxBytes) {
		r.full = true
		return false
	}
	r.size = size
	return true
}

// addAll appends entries from ents while they fit.
func (r *entryReader) addAll(ents []raft.Entry) {
	for i := range ents {
		if !r.admit(&ents[i]) {
			return
		}
		r.ents = append(r.ents, ents[i])
	}
}

// readPebble appends the entries [lo, hi) read from Pebble while they fit.
// termOf gives the term memory holds for each index: a stored entry that
// disagrees is corrupt.
func (r *entryReader) readPebble(db pebble.Reader, lo, hi uint64, termOf func(uint64) uint64) error {
	if lo >= hi {
		return nil
	}
	var corrupt error
	err := scanLog(db, lo, hi, func(e raft.Entry) bool {
		if want := termOf(e.Index); e.Term != want {
			corrupt = corruptf(fmt.Sprintf("log entry %d", e.Index), appendLogKey(nil, e.Index),
				"term %d, but the log's term there is %d", e.Term, want)
			return false
		}
		if !r.admit(&e) {
			return false
		}
		e.Data = r.copyData(e.Data)
		r.ents = append(r.ents, e)
		return true
	})
	if err != nil {
		return err
	}
	return corrupt
}

// copyData copies data into the slab and returns the copy.
func (r *entryReader) copyData(data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	if len(data) > cap(r.slab)-len(r.slab) {
		r.slab = make([]byte, 0, max(slabBytes, len(data)))
	}
	start := len(r.slab)
	r.slab = append(r.slab, data...)
	return r.slab[start:len(r.slab):len(r.slab)]
}
