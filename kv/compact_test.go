package kv

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble"
)

func spaceIter(t *testing.T, h *harness, space byte) *pebble.Iterator {
	t.Helper()
	k := h.s.keys
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: k.space(nil, space), UpperBound: k.spaceEnd(nil, space)})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// historyVersions lists, per key, the revisions kept in the history space
// ("t" marks a tombstone), newest first.
func historyVersions(t *testing.T, h *harness) map[string]string {
	t.Helper()
	it := spaceIter(t, h, spaceHistory)
	defer it.Close()
	out := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		esc, main := splitHistory(it.Key())
		key := string(unescapeKey(nil, esc))
		mark := ""
		if isTombstone(it.Value()) {
			mark = "t"
		}
		if out[key] != "" {
			out[key] += ","
		}
		out[key] += fmt.Sprint(main, mark)
	}
	return out
}

func revisionLogRange(t *testing.T, h *harness) (first, last int64) {
	t.Helper()
	it := spaceIter(t, h, spaceRevs)
	defer it.Close()
	if it.First() {
		first, _ = splitRevision(it.Key())
	}
	if it.Last() {
		last, _ = splitRevision(it.Key())
	}
	return first, last
}

// TestCompactionKeepsNewestVersionPerKey: a (2, 3, 6), b (4, deleted 5),
// c (7, deleted 8, 9). Compacting at 6 keeps a@6, drops b entirely (its
// newest version <= 6 is a tombstone) and leaves c alone.
func TestCompactionKeepsNewestVersionPerKey(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1")
	h.put("a", "2")
	h.put("b", "1")
	h.del("b", "")
	h.put("a", "3")
	h.put("c", "1")
	h.del("c", "")
	h.put("c", "2")
	if err := h.compact(6); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "6", "c": "9,8t,7"}
	if got := historyVersions(t, h); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history after compact 6: %v, want %v", got, want)
	}
	if first, last := revisionLogRange(t, h); first != 6 || last != 9 {
		t.Fatalf("revision log spans [%d, %d], want [6, 9]", first, last)
	}
	resp, err := h.s.Range(&RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 6})
	if err != nil || keysOf(resp.Kvs) != "a" || string(resp.Kvs[0].Value) != "3" {
		t.Fatalf("range at 6: %v %v", resp, err)
	}
	// A second compaction only touches keys changed since the first.
	if err := h.compact(9); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"a": "6", "c": "9"}
	if got := historyVersions(t, h); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history after compact 9: %v, want %v", got, want)
	}
	if h.s.Revision() != 9 || h.s.CompactRevision() != 9 {
		t.Fatalf("revision %d compact %d", h.s.Revision(), h.s.CompactRevision())
	}
}

func TestCompactionErrors(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1")
	h.put("a", "2")
	if err := h.compact(4); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("future compaction: %v", err)
	}
	if err := h.compact(3); err != nil {
		t.Fatal(err)
	}
	for _, rev := range []int64{2, 3} {
		if err := h.compact(rev); !errors.Is(err, ErrCompacted) {
			t.Fatalf("compact %d again: %v", rev, err)
		}
	}
	resp := h.mustApply(&Request{Range: &RangeRequest{Key: []byte("a")}})
	if resp.Range.Header.Revision != 3 {
		t.Fatalf("compaction moved the revision: %d", resp.Range.Header.Revision)
	}
	if _, err := h.s.Watch(WatchRequest{Key: []byte("a"), StartRevision: 2}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("watch below compaction: %v", err)
	}
	var ce *CompactedError
	if _, err := h.s.Watch(WatchRequest{Key: []byte("a"), StartRevision: 1}); !errors.As(err, &ce) || ce.CompactRevision != 3 {
		t.Fatalf("watch below compaction: %v", err)
	}
}

// TestCompactionAtCurrentRevisionThenWrite: the revision survives a
// compaction at the current revision, and a reopened store agrees.
func TestCompactionAtCurrentRevisionThenWrite(t *testing.T) {
	h := newHarness(t, Options{})
	if err := h.compact(1); err != nil {
		t.Fatal(err)
	}
	h.put("a", "1")
	h.del("a", "")
	if err := h.compact(3); err != nil {
		t.Fatal(err)
	}
	if got := historyVersions(t, h); len(got) != 0 {
		t.Fatalf("history after compacting a deleted key: %v", got)
	}
	s2, err := Open(h.db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Revision() != 3 {
		t.Fatalf("reopened at %d, want 3", s2.Revision())
	}
	if resp := h.put("b", "1"); resp.Header.Revision != 4 {
		t.Fatalf("put after compaction at %d, want 4", resp.Header.Revision)
	}
}
