package store

import (
	"fmt"
	"sort"

	"github.com/natsraft/natsraft/raft"
)

// entryID names one log position.
type entryID struct {
	index, term uint64
}

// termRun says that the entries from index on, up to the next run, have
// term. Terms change only at elections, so a handful of runs describe the
// whole log and Term() never touches Pebble.
type termRun struct {
	index, term uint64
}

// memLog is the in-memory shape of the stored log: its bounds, the term of
// every entry (as runs), and a tail cache of the most recent entries that
// serves the leader's replication reads.
//
// memLog is not synchronised; Store guards it with Store.mu.
type memLog struct {
	// dummy is the entry just before the first stored one: the snapshot's
	// last included entry, or the last compacted one (MemoryStorage's
	// entries[0]). FirstIndex() == dummy.index+1.
	dummy entryID
	// last is LastIndex(). Invariant: last >= dummy.index.
	last uint64
	// runs describe the terms of [dummy.index, last].
	// Invariant: runs[0].index == dummy.index, runs[0].term == dummy.term;
	// indexes strictly increase and stay <= last; terms strictly increase.
	runs []termRun
	// cache holds the entries [last+1-len(cache), last]: always a suffix of
	// the log. Slices handed out alias it, so stored elements are never
	// overwritten: truncation reallocates on the next append.
	cache []raft.Entry
	// cacheBytes sums PayloadBytes over cache.
	// Invariant: cacheBytes <= cacheBytesMax.
	cacheBytes    uint64
	cacheBytesMax uint64
}

func newMemLog(dummy entryID, cacheBytesMax uint64) memLog {
	l := memLog{cacheBytesMax: cacheBytesMax}
	l.reset(dummy)
	return l
}

// reset empties the log; dummy becomes the entry before the first.
func (l *memLog) reset(dummy entryID) {
	l.dummy = dummy
	l.last = dummy.index
	l.runs = append(l.runs[:0], termRun(dummy))
	l.cache = nil
	l.cacheBytes = 0
}

func (l *memLog) firstIndex() uint64 { return l.dummy.index + 1 }

// cacheFirst is the index of the first cached entry (last+1 if none).
func (l *memLog) cacheFirst() uint64 { return l.last + 1 - uint64(len(l.cache)) }

// term returns the term of entry i.
// REQUIRES: l.dummy.index <= i <= l.last.
func (l *memLog) term(i uint64) uint64 {
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].index > i })
	return l.runs[k-1].term
}

// noteEntry extends the term runs and last over the next entry.
// REQUIRES: id.index == l.last+1.
func (l *memLog) noteEntry(id entryID) {
	if id.index != l.last+1 {
		panic(fmt.Sprintf("store: log entry %d appended after %d", id.index, l.last))
	}
	top := l.runs[len(l.runs)-1]
	switch {
	case id.term < top.term:
		// §5.3 Log Matching relies on terms never decreasing along a log.
		panic(fmt.Sprintf("store: log entry %d has term %d below term %d of entry %d",
			id.index, id.term, top.term, id.index-1))
	case id.term > top.term:
		l.runs = append(l.runs, termRun(id))
	}
	l.last = id.index
}

// append adds ents to the log and the tail cache, evicting the oldest
// cached entries beyond cacheBytesMax.
// REQUIRES: ents are contiguous and ents[0].Index == l.last+1.
func (l *memLog) append(ents []raft.Entry) {
	for i := range ents {
		l.noteEntry(entryID{ents[i].Index, ents[i].Term})
		l.cacheBytes += ents[i].PayloadBytes()
	}
	l.cache = append(l.cache, ents...)
	l.evict()
}

// evict drops the oldest cached entries until the cache fits its budget.
func (l *memLog) evict() {
	n := 0
	for ; n < len(l.cache) && l.cacheBytes > l.cacheBytesMax; n++ {
		l.cacheBytes -= l.cache[n].PayloadBytes()
	}
	l.cache = l.cache[n:]
}

// truncate removes the entries from index from on (a conflict, §5.3).
// REQUIRES: l.dummy.index < from <= l.last+1.
func (l *memLog) truncate(from uint64) {
	l.dropCacheFrom(from)
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].index >= from })
	l.runs = l.runs[:k]
	l.last = from - 1
}

// dropCacheFrom drops the cached entries at or after from.
func (l *memLog) dropCacheFrom(from uint64) {
	first := l.cacheFirst()
	if from <= first {
		l.cache, l.cacheBytes = nil, 0
		return
	}
	keep := from - first
	for _, e := range l.cache[keep:] {
		l.cacheBytes -= e.PayloadBytes()
	}
	// A full slice expression: the next append must not overwrite entries
	// that callers of Entries still hold.
	l.cache = l.cache[:keep:keep]
}

// compact discards the entries up to and including to, which becomes the
// dummy entry.
// REQUIRES: l.dummy.index < to.index <= l.last and to.term == l.term(to.index).
func (l *memLog) compact(to entryID) {
	if first := l.cacheFirst(); to.index >= first {
		for _, e := range l.cache[:to.index+1-first] {
			l.cacheBytes -= e.PayloadBytes()
		}
		l.cache = l.cache[to.index+1-first:]
	}
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].index > to.index })
	l.runs = append(l.runs[:0], l.runs[k-1:]...)
	l.runs[0].index = to.index
	l.dummy = to
}

// cached returns the cached entries [lo, hi). The result aliases the cache
// and must not be modified.
// REQUIRES: l.cacheFirst() <= lo <= hi <= l.last+1.
func (l *memLog) cached(lo, hi uint64) []raft.Entry {
	first := l.cacheFirst()
	return l.cache[lo-first : hi-first : hi-first]
}

// check verifies every invariant listed on memLog's fields.
func (l *memLog) check() error {
	if l.last < l.dummy.index {
		return fmt.Errorf("last %d below dummy %d", l.last, l.dummy.index)
	}
	if len(l.runs) == 0 || l.runs[0] != termRun(l.dummy) {
		return fmt.Errorf("first run %v does not match dummy %v", l.runs, l.dummy)
	}
	for k := 1; k < len(l.runs); k++ {
		prev, run := l.runs[k-1], l.runs[k]
		if run.index <= prev.index || run.term <= prev.term || run.index > l.last {
			return fmt.Errorf("runs out of order at %d: %v", k, l.runs)
		}
	}
	var bytes uint64
	for k, e := range l.cache {
		if e.Index != l.cacheFirst()+uint64(k) || e.Term != l.term(e.Index) {
			return fmt.Errorf("cache entry %d is (%d,%d), want index %d term %d",
				k, e.Index, e.Term, l.cacheFirst()+uint64(k), l.term(e.Index))
		}
		bytes += e.PayloadBytes()
	}
	if bytes != l.cacheBytes || bytes > l.cacheBytesMax || l.cacheFirst() <= l.dummy.index {
		return fmt.Errorf("cache of %d bytes (counted %d, max %d) from %d over dummy %d",
			bytes, l.cacheBytes, l.cacheBytesMax, l.cacheFirst(), l.dummy.index)
	}
	return nil
}
