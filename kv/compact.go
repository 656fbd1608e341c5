package kv

import (
	"encoding/binary"
	"slices"

	"github.com/cockroachdb/pebble"
)

// compact discards the history below rev, in the batch, as etcd's
// compaction does: every key keeps its newest version <= rev (unless that is
// a tombstone) and all newer ones; the revision log keeps the entries >= rev,
// so a watch can start at rev. No revision is added.
//
// Only keys changed since the previous compaction can have versions to drop:
// the others kept exactly one version <= the previous compaction revision.
// So the work is proportional to the changes since then, and the writes are
// one range deletion per changed key plus one for the revision log.
//
// NB: a compaction after a very long history is one large batch; a chunked
// compaction (bounded keys per apply, progress kept in the meta space) is the
// next step if that matters.
func (t *writeTxn) compact(c *CompactionRequest) (*CompactionResponse, error) {
	s := t.s
	switch {
	case c.Revision <= s.compactRev:
		return nil, ErrCompacted
	case c.Revision > t.beginRev:
		return nil, ErrFutureRev
	}
	touched, err := t.changedKeys(c.Revision)
	must(err)
	it, err := t.b.NewIter(&pebble.IterOptions{
		LowerBound: s.keys.space(nil, spaceHistory),
		UpperBound: s.keys.spaceEnd(nil, spaceHistory),
	})
	must(err)
	for _, key := range touched {
		t.compactKey(it, []byte(key), c.Revision)
	}
	must(closeIter(it))
	lower := s.keys.space(nil, spaceRevs)
	must(t.b.DeleteRange(lower, s.keys.revision(nil, c.Revision, 0), nil))
	value := binary.BigEndian.AppendUint64(nil, uint64(c.Revision))
	must(t.b.Set(s.keys.meta(nil, metaCompact), value, nil))
	s.compactRev = c.Revision
	return &CompactionResponse{Header: ResponseHeader{Revision: t.beginRev}}, nil
}

// changedKeys lists, sorted, the keys of the revision log entries <= rev
// (entries below the previous compaction revision are gone already).
func (t *writeTxn) changedKeys(rev int64) ([]string, error) {
	k := t.s.keys
	it, err := t.b.NewIter(&pebble.IterOptions{
		LowerBound: k.space(nil, spaceRevs),
		UpperBound: k.revision(nil, rev+1, 0),
	})
	if err != nil {
		return nil, err
	}
	seen := map[string]struct{}{}
	for ok := it.First(); ok; ok = it.Next() {
		_, key, derr := decodeRevRecord(it.Value())
		if derr != nil {
			return nil, closeIterAfter(it, derr)
		}
		seen[string(key)] = struct{}{}
	}
	if err := closeIter(it); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(seen))
	for key := range seen {
		keys = append(keys, key)
	}
	slices.Sort(keys) // deterministic write order
	return keys, nil
}

// compactKey drops the versions of key older than its newest version <= rev,
// and that version too when it is a tombstone.
func (t *writeTxn) compactKey(it *pebble.Iterator, key []byte, rev int64) {
	k := t.s.keys
	bound := k.historyBound(nil, key, escTerm)
	escaped := bound[2:]
	end := append(bound[:len(bound)-1:len(bound)-1], escTermPast)
	if !it.SeekGE(k.history(nil, key, rev)) || !sameKey(it.Key(), escaped) {
		return // no version <= rev
	}
	if !isTombstone(it.Value()) {
		if !it.Next() || !sameKey(it.Key(), escaped) {
			return // nothing older
		}
	}
	must(t.b.DeleteRange(it.Key(), end, nil))
}

// sameKey reports whether history key hk is a version of the key whose
// escaped form (terminator included) is escaped.
func sameKey(hk, escaped []byte) bool {
	esc, _ := splitHistory(hk)
	return string(esc) == string(escaped)
}
