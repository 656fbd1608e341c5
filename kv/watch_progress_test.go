package kv

import "testing"

// TestProgressAll: a marker on every watcher at one revision when all are
// synced; nothing at all when one is catching up or waits for the future.
func TestProgressAll(t *testing.T) {
	h := newHarness(t, Options{WatchBufferResponses: 2})
	a := mustWatch(t, h, WatchRequest{Key: []byte("a")})
	b := mustWatch(t, h, WatchRequest{Key: []byte("b")})
	h.put("a", "1") // 2
	rev, ok := h.s.ProgressAll([]*Watcher{a, b})
	if !ok || rev != 2 {
		t.Fatalf("ProgressAll of synced watchers: %d, %v", rev, ok)
	}
	expectEvents(t, a, putEv(kvp("a", "1", 2, 2, 1), nil))
	for _, w := range []*Watcher{a, b} {
		if resp, _ := recv(t, w); !resp.StreamProgress || len(resp.Events) != 0 || resp.Header.Revision != 2 {
			t.Fatalf("marker: %+v", resp)
		}
	}

	h.put("b", "1") // 3
	h.put("b", "2") // 4
	h.put("b", "3") // 5: b's buffer of 2 is full, b catches up
	if _, ok := h.s.ProgressAll([]*Watcher{a, b}); ok {
		t.Fatal("ProgressAll with a watcher catching up")
	}
	if len(a.Responses()) != 0 {
		t.Fatal("a failed ProgressAll queued a marker")
	}
	future := mustWatch(t, h, WatchRequest{Key: []byte("c"), StartRevision: 100})
	if _, ok := h.s.ProgressAll([]*Watcher{a, future}); ok {
		t.Fatal("ProgressAll with a watcher waiting for revision 100")
	}
	if rev, ok := h.s.ProgressAll(nil); !ok || rev != 5 {
		t.Fatalf("ProgressAll of no watcher: %d, %v", rev, ok)
	}
}
