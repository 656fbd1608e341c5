package kv

import (
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"
)

// rangeFixture holds keys a (rev 2), ab (3), abc (4), b (5), c (6), then a
// updated (7): a has version 2.
func rangeFixture(t *testing.T) *harness {
	h := newHarness(t, Options{})
	for _, k := range []string{"a", "ab", "abc", "b", "c"} {
		h.put(k, "v-"+k)
	}
	h.put("a", "v-a2")
	return h
}

func keysOf(kvs []KeyValue) string {
	keys := make([]string, len(kvs))
	for i := range kvs {
		keys[i] = string(kvs[i].Key)
	}
	return strings.Join(keys, ",")
}

func TestRange(t *testing.T) {
	h := rangeFixture(t)
	tests := []struct {
		name      string
		req       RangeRequest
		wantKeys  string
		wantCount int64
		wantMore  bool
	}{
		{"one key", RangeRequest{Key: []byte("ab")}, "ab", 1, false},
		{"missing key", RangeRequest{Key: []byte("aa")}, "", 0, false},
		{"range", RangeRequest{Key: []byte("ab"), RangeEnd: []byte("c")}, "ab,abc,b", 3, false},
		{"prefix", RangeRequest{Key: []byte("ab"), RangeEnd: []byte(prefixEnd("ab"))}, "ab,abc", 2, false},
		{"from key", RangeRequest{Key: []byte("b"), RangeEnd: []byte{0}}, "b,c", 2, false},
		{"all", RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}, "a,ab,abc,b,c", 5, false},
		{"end before key", RangeRequest{Key: []byte("c"), RangeEnd: []byte("a")}, "", 0, false},
		{"end equals key", RangeRequest{Key: []byte("c"), RangeEnd: []byte("c")}, "", 0, false},
		{"limit", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Limit: 2}, "a,ab", 5, true},
		{"limit exact", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Limit: 5}, "a,ab,abc,b,c", 5, false},
		{"count only", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, CountOnly: true}, "", 5, false},
		{"old revision", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 4}, "a,ab,abc", 3, false},
		{"old revision limit", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 5, Limit: 1}, "a", 4, true},
		{"revision 1", RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 1}, "", 0, false},
		{"sort by mod descending", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortOrder: SortDescend, SortTarget: SortByMod}, "a,c,b,abc,ab", 5, false},
		{"sort by version default ascending", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortTarget: SortByVersion, Limit: 2}, "ab,abc", 5, true},
		{"sort by key descending", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortOrder: SortDescend, Limit: 2}, "c,b", 5, true},
		{"sort by value", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortOrder: SortAscend, SortTarget: SortByValue, KeysOnly: true}, "a,ab,abc,b,c", 5, false},
		{"min mod revision", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, MinModRevision: 5}, "a,b,c", 5, false},
		{"max create revision", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, MaxCreateRevision: 3, Limit: 1}, "a", 5, true},
		{"min create max mod", RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, MinCreateRevision: 3, MaxModRevision: 5}, "ab,abc,b", 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.s.Range(&tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysOf(resp.Kvs); got != tt.wantKeys || resp.Count != tt.wantCount || resp.More != tt.wantMore {
				t.Fatalf("keys %q count %d more %v, want %q %d %v", got, resp.Count, resp.More, tt.wantKeys, tt.wantCount, tt.wantMore)
			}
			if resp.Header.Revision != 7 {
				t.Fatalf("header revision %d, want 7", resp.Header.Revision)
			}
		})
	}
}

func TestRangeValuesAndKeysOnly(t *testing.T) {
	h := rangeFixture(t)
	resp, _ := h.s.Range(&RangeRequest{Key: []byte("a")})
	want := KeyValue{Key: []byte("a"), Value: []byte("v-a2"), CreateRevision: 2, ModRevision: 7, Version: 2}
	if len(resp.Kvs) != 1 || kvString(&resp.Kvs[0]) != kvString(&want) {
		t.Fatalf("a: %s, want %s", kvsString(resp.Kvs), kvString(&want))
	}
	old, _ := h.s.Range(&RangeRequest{Key: []byte("a"), Revision: 6})
	want = KeyValue{Key: []byte("a"), Value: []byte("v-a"), CreateRevision: 2, ModRevision: 2, Version: 1}
	if len(old.Kvs) != 1 || kvString(&old.Kvs[0]) != kvString(&want) {
		t.Fatalf("a at 6: %s, want %s", kvsString(old.Kvs), kvString(&want))
	}
	keysOnly, _ := h.s.Range(&RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, KeysOnly: true})
	for _, kv := range keysOnly.Kvs {
		if kv.Value != nil || kv.ModRevision == 0 {
			t.Fatalf("keys_only: %s", kvString(&kv))
		}
	}
}

func TestRangeRevisionErrors(t *testing.T) {
	h := rangeFixture(t)
	if _, err := h.s.Range(&RangeRequest{Key: []byte("a"), Revision: 8}); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("future revision: %v", err)
	}
	if err := h.compact(4); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Range(&RangeRequest{Key: []byte("a"), Revision: 3}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compacted revision: %v", err)
	}
	resp, err := h.s.Range(&RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 4})
	if err != nil || keysOf(resp.Kvs) != "a,ab,abc" {
		t.Fatalf("at the compaction revision: %v %v", resp, err)
	}
	if _, err := h.s.Range(&RangeRequest{}); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
}

// TestRangeKeysWithZeroBytes: the history layout escapes 0x00; keys that
// contain it or 0xFF must keep their order at old revisions.
func TestRangeKeysWithZeroBytes(t *testing.T) {
	h := newHarness(t, Options{})
	keys := []string{"a", "a\x00", "a\x00\x00", "a\x00\xff", "a\x01", "a\xff", "b"}
	for i := len(keys) - 1; i >= 0; i-- {
		h.put(keys[i], "1")
	}
	for _, k := range keys {
		h.put(k, "2")
	}
	rev := h.s.Revision()
	h.del("\x00", "\x00")
	want := strings.Join(keys, ",")
	resp, err := h.s.Range(&RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev})
	if err != nil || keysOf(resp.Kvs) != want {
		t.Fatalf("all at %d: %q, %v; want %q", rev, keysOf(resp.Kvs), err, want)
	}
	resp, _ = h.s.Range(&RangeRequest{Key: []byte("a\x00"), RangeEnd: []byte("a\x01"), Revision: rev})
	if keysOf(resp.Kvs) != "a\x00,a\x00\x00,a\x00\xff" {
		t.Fatalf("[a\\x00, a\\x01): %q", keysOf(resp.Kvs))
	}
	for _, kv := range resp.Kvs {
		if string(kv.Value) != "2" || kv.Version != 2 {
			t.Fatalf("%s", kvString(&kv))
		}
	}
}

// TestRangeBetweenCommitAndPublish: a batch is committed to Pebble before
// the Store publishes it (Committed). A Range in between sees its data,
// so its header must carry its revision too, not the published one; once
// published, the revision comes from the Store without reading it from
// the snapshot (see Store.applying).
func TestRangeBetweenCommitAndPublish(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("k", "v1")
	b := h.applyUncommitted(&Request{Put: &PutRequest{Key: []byte("k"), Value: []byte("v2")}})
	if err := b.Commit(pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	check := func(when string, wantRev int64) {
		t.Helper()
		resp, err := h.s.Range(&RangeRequest{Key: []byte("k")})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v2" || resp.Kvs[0].ModRevision != wantRev || resp.Header.Revision != wantRev {
			t.Fatalf("%s: header revision %d, kvs %s; want v2 at revision %d", when, resp.Header.Revision, kvsString(resp.Kvs), wantRev)
		}
	}
	check("committed, not published", 3)
	h.s.Committed()
	check("published", 3)
	if seq := h.s.applying.Load(); seq%2 != 0 {
		t.Fatalf("applying is %d after Committed, want even", seq)
	}
}
