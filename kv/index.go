package kv

import "github.com/cockroachdb/pebble"

// keyMeta is a live key's latest version without its value.
type keyMeta struct {
	createRevision, modRevision, version, lease int64
}

// keyIndex maps every live key to its keyMeta, like etcd's in-memory key
// index (ours holds the latest version only). With it a Put reads nothing
// from Pebble unless it needs the previous value (prev_kv, ignore_value, or a
// watcher with prev_kv), and IgnoreValue/IgnoreLease checks are map lookups.
//
// It costs about 100 bytes plus the key per live key, and a scan of the
// 'L' space on Open, Restore and Discard. Values are pointers so that an
// update does not allocate. Only the applier touches it; it includes the
// applied but uncommitted requests.
type keyIndex map[string]*keyMeta

func loadIndex(r pebble.Reader, k keys) (keyIndex, error) {
	lower, upper := k.space(nil, spaceLatest), k.spaceEnd(nil, spaceLatest)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	idx := keyIndex{}
	for ok := it.First(); ok; ok = it.Next() {
		meta, _, err := decodeMeta(it.Key()[2:], it.Value())
		if err != nil {
			return nil, closeIterAfter(it, err)
		}
		idx[string(it.Key()[2:])] = &meta
	}
	return idx, closeIter(it)
}

// set records key's new latest version.
func (idx keyIndex) set(kv *KeyValue) {
	meta := keyMeta{kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease}
	if m := idx[string(kv.Key)]; m != nil {
		*m = meta
		return
	}
	idx[string(kv.Key)] = &meta
}
