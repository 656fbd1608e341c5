package kv

import (
	"encoding/binary"
	"errors"

	"github.com/cockroachdb/pebble"
)

// view is a consistent read of the Store: a Pebble reader and the revisions
// it holds. Clients read through a Pebble snapshot; the applier reads through
// its indexed batch, so it sees its own uncommitted writes.
type view struct {
	r       pebble.Reader
	keys    keys
	rev     int64 // current revision of the view
	compact int64 // compaction revision of the view
}

// errStop ends a visit early without error.
var errStop = errors.New("stop")

// visitFunc receives each live key of a visit, in key order, with its put
// record. Both slices are valid only during the call. Returning errStop ends
// the visit; any other error is returned by visit.
type visitFunc func(key, rec []byte) error

// loadView reads the revisions held by r.
func loadView(r pebble.Reader, k keys) (view, error) {
	v := view{r: r, keys: k}
	var err error
	if v.compact, err = readCompact(r, k); err != nil {
		return view{}, err
	}
	it, err := r.NewIter(&pebble.IterOptions{
		LowerBound: k.space(nil, spaceRevs),
		UpperBound: k.spaceEnd(nil, spaceRevs),
	})
	if err != nil {
		return view{}, err
	}
	// A fresh store is at revision 1; otherwise the newest revision entry
	// (compaction keeps every entry >= the compaction revision) is current.
	v.rev = 1
	if it.Last() {
		v.rev, _ = splitRevision(it.Key())
	}
	v.rev = max(v.rev, v.compact)
	return v, closeIter(it)
}

func readCompact(r pebble.Reader, k keys) (int64, error) {
	val, closer, err := r.Get(k.meta(nil, metaCompact))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(val) != 8 {
		return 0, errCorrupt
	}
	return int64(binary.BigEndian.Uint64(val)), nil
}

// closeIterAfter closes it after a failure, keeping both errors.
func closeIterAfter(it *pebble.Iterator, err error) error {
	return errors.Join(err, it.Close())
}

func closeIter(it *pebble.Iterator) error {
	err := it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkRev resolves a requested revision (<= 0: current) against the view.
func (v *view) checkRev(rev int64) (int64, error) {
	switch {
	case rev <= 0:
		return v.rev, nil
	case rev > v.rev:
		return 0, ErrFutureRev
	case rev < v.compact:
		return 0, ErrCompacted
	}
	return rev, nil
}

// latest reads the current version of key; buf is scratch for the Pebble key.
func (v *view) latest(buf, key []byte) (kv KeyValue, found bool, err error) {
	rec, closer, err := v.r.Get(v.keys.latest(buf[:0], key))
	if errors.Is(err, pebble.ErrNotFound) {
		return kv, false, nil
	}
	if err != nil {
		return kv, false, err
	}
	defer closer.Close()
	return kv, true, decodeRecord(&kv, key, rec, true)
}

// visit calls fn for every key of s alive at rev (<= v.rev), in key order.
func (v *view) visit(s span, rev int64, fn visitFunc) error {
	if s.empty {
		return nil
	}
	var err error
	if rev == v.rev {
		err = v.visitLatest(s, fn)
	} else {
		err = v.visitHistory(s, rev, fn)
	}
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

func (v *view) visitLatest(s span, fn visitFunc) error {
	if s.single {
		return v.visitOneLatest(s.start, fn)
	}
	lower, upper := v.keys.latestBounds(s)
	it, err := v.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for ok := it.First(); ok && err == nil; ok = it.Next() {
		err = fn(it.Key()[2:], it.Value())
	}
	return errors.Join(err, closeIter(it))
}

// visitOneLatest calls fn with key's latest version, if it exists: a
// point lookup, which the bloom filters make cheaper than an iterator.
func (v *view) visitOneLatest(key []byte, fn visitFunc) error {
	rec, closer, err := v.r.Get(v.keys.latest(nil, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return errors.Join(fn(key, rec), closer.Close())
}

// visitHistory finds, for each key of s, its newest version <= rev and
// calls fn with it unless it is a tombstone. Versions of a key sort newest
// first, so that version is one seek away.
func (v *view) visitHistory(s span, rev int64, fn visitFunc) error {
	lower, upper := v.keys.historyBounds(s)
	it, err := v.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	var seek, escaped, key []byte
	for ok := it.First(); ok && err == nil; {
		esc, main := splitHistory(it.Key())
		escaped = append(escaped[:0], esc...)
		if main > rev {
			seek = append(v.keys.space(seek[:0], spaceHistory), escaped...)
			seek = binary.BigEndian.AppendUint64(seek, ^uint64(rev))
			if ok = it.SeekGE(seek); !ok {
				break
			}
			if !sameKey(it.Key(), escaped) {
				continue // no version <= rev; now at the next key
			}
		}
		if !isTombstone(it.Value()) {
			key = unescapeKey(key[:0], escaped)
			err = fn(key, it.Value())
		}
		seek = append(append(v.keys.space(seek[:0], spaceHistory), escaped[:len(escaped)-1]...), escTermPast)
		ok = it.SeekGE(seek)
	}
	return errors.Join(err, closeIter(it))
}
