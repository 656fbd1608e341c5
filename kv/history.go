package kv

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
)

// replay reads w's events in revisions [from, target] from a Pebble snapshot,
// stopping at a revision boundary once catchUpEvents are collected. next is
// the first revision not read. A from below the snapshot's compaction
// revision is a *CompactedError: that history is gone.
func (h *hub) replay(w *Watcher, from, target int64) (resp WatchResponse, next int64, err error) {
	snap := h.db.NewSnapshot()
	defer snap.Close()
	compact, err := readCompact(snap, h.keys)
	if err != nil {
		return resp, 0, err
	}
	if from < compact {
		return resp, 0, &CompactedError{CompactRevision: compact}
	}
	revs, err := snap.NewIter(&pebble.IterOptions{
		LowerBound: h.keys.revision(nil, from, 0),
		UpperBound: h.keys.revision(nil, target+1, 0),
	})
	if err != nil {
		return resp, 0, err
	}
	hist, err := snap.NewIter(&pebble.IterOptions{
		LowerBound: h.keys.space(nil, spaceHistory),
		UpperBound: h.keys.spaceEnd(nil, spaceHistory),
	})
	if err != nil {
		return resp, 0, errors.Join(err, revs.Close())
	}
	resp.Header.Revision = target
	next, err = h.replayEvents(w, revs, hist, &resp.Events, target)
	return resp, next, errors.Join(err, closeIter(revs), closeIter(hist))
}

func (h *hub) replayEvents(w *Watcher, revs, hist *pebble.Iterator, out *[]Event, target int64) (int64, error) {
	last := int64(0)
	for ok := revs.First(); ok; ok = revs.Next() {
		main, _ := splitRevision(revs.Key())
		if len(*out) >= h.catchUpEvents && main != last {
			return main, nil
		}
		last = main
		typ, key, err := decodeRevRecord(revs.Value())
		if err != nil {
			return 0, err
		}
		if !w.wants(typ, key) {
			continue
		}
		ev, err := historyEvent(h.keys, hist, typ, bytes.Clone(key), main, w.prevKv)
		if err != nil {
			return 0, err
		}
		*out = append(*out, ev)
	}
	return target + 1, nil
}

// historyEvent rebuilds the event of key at revision main from the history,
// with the version before it when prevKv is asked (it is gone when a
// compaction dropped it).
func historyEvent(k keys, hist *pebble.Iterator, typ EventType, key []byte, main int64, prevKv bool) (Event, error) {
	ev := Event{Type: typ, Kv: KeyValue{Key: key, ModRevision: main}}
	hk := k.history(nil, key, main)
	if typ == EventPut {
		if !hist.SeekGE(hk) || !bytes.Equal(hist.Key(), hk) {
			return ev, fmt.Errorf("%w: no history for %q at %d", errCorrupt, key, main)
		}
		if err := decodeRecord(&ev.Kv, key, hist.Value(), true); err != nil {
			return ev, err
		}
		if !prevKv || ev.Kv.Version == 1 || !hist.Next() {
			return ev, nil
		}
	} else if !prevKv || !hist.SeekGE(k.history(nil, key, main-1)) {
		return ev, nil
	}
	escaped, _ := splitHistory(hk)
	if !sameKey(hist.Key(), escaped) || isTombstone(hist.Value()) {
		return ev, nil
	}
	ev.PrevKv = &KeyValue{}
	return ev, decodeRecord(ev.PrevKv, key, hist.Value(), true)
}
