package kv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// nextEvents reads responses until n events arrived; it fails on a progress
// or cancel response.
func nextEvents(t *testing.T, w *Watcher, n int) []Event {
	t.Helper()
	var evs []Event
	for len(evs) < n {
		resp, ok := recv(t, w)
		if !ok || resp.Canceled || len(resp.Events) == 0 {
			t.Fatalf("after %d of %d events: response %+v (open %v), err %v", len(evs), n, resp, ok, w.Err())
		}
		for i := 1; i < len(resp.Events); i++ {
			if resp.Events[i].Kv.ModRevision < resp.Events[i-1].Kv.ModRevision {
				t.Fatalf("events out of order in one response")
			}
		}
		evs = append(evs, resp.Events...)
	}
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	return evs
}

func eventsString(evs []Event) string {
	s := ""
	for i := range evs {
		s += eventString(&evs[i]) + "\n"
	}
	return s
}

func expectEvents(t *testing.T, w *Watcher, want ...Event) {
	t.Helper()
	if got := nextEvents(t, w, len(want)); eventsString(got) != eventsString(want) {
		t.Fatalf("events:\n%swant:\n%s", eventsString(got), eventsString(want))
	}
}

func kvp(key, value string, create, mod, version int64) *KeyValue {
	return &KeyValue{Key: []byte(key), Value: []byte(value), CreateRevision: create, ModRevision: mod, Version: version}
}

func putEv(kv, prev *KeyValue) Event { return Event{Type: EventPut, Kv: *kv, PrevKv: prev} }

func delEv(key string, rev int64, prev *KeyValue) Event {
	return Event{Type: EventDelete, Kv: KeyValue{Key: []byte(key), ModRevision: rev}, PrevKv: prev}
}

func mustWatch(t *testing.T, h *harness, req WatchRequest) *Watcher {
	t.Helper()
	w, err := h.s.Watch(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Cancel)
	return w
}

func TestWatchReplayThenLive(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a/1", "x") // 2
	h.put("b", "x")   // 3
	h.put("a/1", "y") // 4
	h.put("a/2", "x") // 5
	w := mustWatch(t, h, WatchRequest{Key: []byte("a/"), RangeEnd: []byte(prefixEnd("a/")), StartRevision: 3, PrevKv: true})
	h.del("a/", prefixEnd("a/")) // 6
	h.put("a/1", "z")            // 7
	expectEvents(t, w,
		putEv(kvp("a/1", "y", 2, 4, 2), kvp("a/1", "x", 2, 2, 1)),
		putEv(kvp("a/2", "x", 5, 5, 1), nil),
		delEv("a/1", 6, kvp("a/1", "y", 2, 4, 2)),
		delEv("a/2", 6, kvp("a/2", "x", 5, 5, 1)),
		putEv(kvp("a/1", "z", 7, 7, 1), nil),
	)
}

func TestWatchRangesAndFilters(t *testing.T) {
	h := newHarness(t, Options{})
	watchers := map[string]*Watcher{
		"key":      mustWatch(t, h, WatchRequest{Key: []byte("b")}),
		"range":    mustWatch(t, h, WatchRequest{Key: []byte("b"), RangeEnd: []byte("c")}),
		"from key": mustWatch(t, h, WatchRequest{Key: []byte("b"), RangeEnd: []byte{0}}),
		"all":      mustWatch(t, h, WatchRequest{RangeEnd: []byte{0}}),
		"no put":   mustWatch(t, h, WatchRequest{Key: []byte{0}, RangeEnd: []byte{0}, NoPut: true}),
		"no del":   mustWatch(t, h, WatchRequest{Key: []byte{0}, RangeEnd: []byte{0}, NoDelete: true}),
	}
	for _, k := range []string{"a", "b", "bb", "c"} {
		h.put(k, "1") // 2..5
	}
	h.del("a", "\x00") // 6
	want := map[string]string{
		"key":      "Pb3 Db6",
		"range":    "Pb3 Pbb4 Db6 Dbb6",
		"from key": "Pb3 Pbb4 Pc5 Db6 Dbb6 Dc6",
		"all":      "Pa2 Pb3 Pbb4 Pc5 Da6 Db6 Dbb6 Dc6",
		"no put":   "Da6 Db6 Dbb6 Dc6",
		"no del":   "Pa2 Pb3 Pbb4 Pc5",
	}
	for name, w := range watchers {
		evs := nextEvents(t, w, len(strings.Fields(want[name])))
		got := make([]string, len(evs))
		for i, ev := range evs {
			got[i] = fmt.Sprintf("%c%s%d", "PD"[ev.Type], ev.Kv.Key, ev.Kv.ModRevision)
			if ev.PrevKv != nil {
				t.Fatalf("%s: prev_kv sent without asking", name)
			}
		}
		if strings.Join(got, " ") != want[name] {
			t.Errorf("%s: %s, want %s", name, strings.Join(got, " "), want[name])
		}
	}
}

func TestWatchFutureStartRevision(t *testing.T) {
	h := newHarness(t, Options{})
	w := mustWatch(t, h, WatchRequest{Key: []byte("a"), StartRevision: 4})
	h.put("a", "1") // 2
	h.put("a", "2") // 3
	h.put("a", "3") // 4
	expectEvents(t, w, putEv(kvp("a", "3", 2, 4, 3), nil))
}

// TestSlowWatcherCatchesUpFromHistory: a watcher that does not read falls
// back to history and still gets every event once, in order.
func TestSlowWatcherCatchesUpFromHistory(t *testing.T) {
	h := newHarness(t, Options{WatchBufferResponses: 1, WatchCatchUpEvents: 2})
	w := mustWatch(t, h, WatchRequest{Key: []byte("k"), PrevKv: true})
	var want []Event
	var prev *KeyValue
	for i := int64(0); i < 20; i++ {
		h.put("other", "x")
		h.put("k", fmt.Sprint(i))
		kv := kvp("k", fmt.Sprint(i), 3, 3+2*i, i+1)
		want = append(want, putEv(kv, prev))
		prev = kv
	}
	expectEvents(t, w, want...)
	h.put("k", "live")
	expectEvents(t, w, putEv(kvp("k", "live", 3, 42, 21), prev))
}

// TestWatcherBehindCompactionIsCanceled: a catching-up watcher whose next
// revision gets compacted ends with the compaction revision.
func TestWatcherBehindCompactionIsCanceled(t *testing.T) {
	h := newHarness(t, Options{WatchBufferResponses: 1, WatchCatchUpEvents: 1})
	w := mustWatch(t, h, WatchRequest{Key: []byte("k")})
	for i := 0; i < 5; i++ {
		h.put("k", fmt.Sprint(i)) // 2..6; 2 fills the buffer, 3 makes it catch up
	}
	if err := h.compact(6); err != nil {
		t.Fatal(err)
	}
	if last := drain(t, w); !last.Canceled || last.CompactRevision != 6 {
		t.Fatalf("last response %+v", last)
	}
	var ce *CompactedError
	if !errors.As(w.Err(), &ce) || ce.CompactRevision != 6 {
		t.Fatalf("err %v", w.Err())
	}
}

func TestWatchCancel(t *testing.T) {
	h := newHarness(t, Options{WatchBufferResponses: 1})
	synced := mustWatch(t, h, WatchRequest{Key: []byte("k")})
	behind := mustWatch(t, h, WatchRequest{Key: []byte("k")})
	h.put("k", "1")
	h.put("k", "2") // behind and synced are both full: both catch up
	recv(t, synced)
	synced.Cancel()
	behind.Cancel()
	behind.Cancel()
	for _, w := range []*Watcher{synced, behind} {
		drain(t, w)
		if !errors.Is(w.Err(), ErrWatchCanceled) {
			t.Fatalf("err %v", w.Err())
		}
	}
}

func TestWatchProgress(t *testing.T) {
	h := newHarness(t, Options{WatchBufferResponses: 1})
	w := mustWatch(t, h, WatchRequest{Key: []byte("k")})
	h.put("other", "1")
	w.RequestProgress()
	if resp, _ := recv(t, w); len(resp.Events) != 0 || resp.Header.Revision != 2 {
		t.Fatalf("progress: %+v", resp)
	}
	// A full buffer: the progress comes after the events queued before it.
	h.put("k", "1") // 3, fills the buffer
	h.put("k", "2") // 4, catching up
	w.RequestProgress()
	expectEvents(t, w, putEv(kvp("k", "1", 3, 3, 1), nil), putEv(kvp("k", "2", 3, 4, 2), nil))
	if resp, _ := recv(t, w); len(resp.Events) != 0 || resp.Header.Revision != 4 {
		t.Fatalf("progress after catch-up: %+v", resp)
	}
}

func TestCloseEndsWatchers(t *testing.T) {
	h := newHarness(t, Options{WatchBufferResponses: 1})
	ws := []*Watcher{mustWatch(t, h, WatchRequest{Key: []byte("k")}), mustWatch(t, h, WatchRequest{Key: []byte("k")})}
	h.put("k", "1")
	h.put("k", "2")
	h.s.Close()
	for _, w := range ws {
		drain(t, w)
		if !errors.Is(w.Err(), ErrClosed) {
			t.Fatalf("err %v", w.Err())
		}
	}
	if _, err := h.s.Watch(WatchRequest{Key: []byte("k")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("watch after close: %v", err)
	}
}

// TestWatchersUnderConcurrentWrites: a writer applies seeded random
// requests while watchers start at random revisions (past, current,
// future) with tiny buffers and slow readers. Each must see exactly the
// model's events from its start revision, in order, with no gap or
// duplicate, across replay, live delivery and falls back to catch-up.
func TestWatchersUnderConcurrentWrites(t *testing.T) {
	const ops, watchers = 300, 24
	h := newHarness(t, Options{WatchBufferResponses: 2, WatchCatchUpEvents: 3})
	rng := rand.New(rand.NewPCG(7, 7))
	m := newModel()
	g := &gen{rng: rng, m: m}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; i < ops; i++ {
			req := g.request()
			m.apply(req)
			h.applyBatch(req)
		}
	}()
	spans := [][2]string{{"a", ""}, {"c/", prefixEnd("c/")}, {"a\x00", "b"}, {"\x00", "\x00"}}
	var final atomic.Int64
	type result struct {
		req WatchRequest
		got []Event
	}
	results := make([]result, watchers)
	var consumers sync.WaitGroup
	ws := make([]*Watcher, watchers)
	for i := range ws {
		sp := spans[i%len(spans)]
		start := max(1, h.s.Revision()-int64(i%5)+int64(i%3))
		req := WatchRequest{Key: []byte(sp[0]), RangeEnd: bs(sp[1]), StartRevision: start, PrevKv: i%2 == 0}
		ws[i] = mustWatch(t, h, req)
		results[i].req = req
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			for {
				var resp WatchResponse
				var open bool
				select {
				case resp, open = <-ws[i].Responses():
					if !open {
						t.Errorf("watcher %d ended: %v", i, ws[i].Err())
						return
					}
				case <-time.After(stallTimeout):
					t.Errorf("watcher %d stalled", i)
					return
				}
				if len(resp.Events) == 0 && final.Load() != 0 && resp.Header.Revision >= final.Load() {
					return
				}
				results[i].got = append(results[i].got, resp.Events...)
				if i%3 == 0 {
					runtime.Gosched() // a slow reader
				}
			}
		}()
		runtime.Gosched()
	}
	<-writerDone
	final.Store(h.s.Revision())
	for _, w := range ws {
		w.RequestProgress()
	}
	consumers.Wait()
	for i, r := range results {
		want := modelEvents(m.events, r.req)
		if eventsString(r.got) != eventsString(want) {
			t.Fatalf("watcher %d (%q..%q from %d): got %d events, want %d\n got %s\nwant %s",
				i, r.req.Key, r.req.RangeEnd, r.req.StartRevision, len(r.got), len(want), eventsString(r.got), eventsString(want))
		}
	}
}

func modelEvents(all []Event, req WatchRequest) []Event {
	s := makeSpan(req.Key, req.RangeEnd)
	var out []Event
	for _, ev := range all {
		if ev.Kv.ModRevision >= req.StartRevision && s.contains(ev.Kv.Key) {
			if !req.PrevKv {
				ev.PrevKv = nil
			}
			out = append(out, ev)
		}
	}
	return out
}

// TestPrevKvWatcherArrivingAfterApply: Apply skipped reading the previous
// value (no watcher wanted it); a prev_kv watcher created before Committed
// still gets it, from history.
func TestPrevKvWatcherArrivingAfterApply(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("k", "1")
	b := h.applyUncommitted(&Request{Put: &PutRequest{Key: []byte("k"), Value: []byte("2")}})
	withPrev := mustWatch(t, h, WatchRequest{Key: []byte("k"), PrevKv: true})
	without := mustWatch(t, h, WatchRequest{Key: []byte("k")})
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	h.s.Committed()
	expectEvents(t, withPrev, putEv(kvp("k", "2", 2, 3, 2), kvp("k", "1", 2, 2, 1)))
	expectEvents(t, without, putEv(kvp("k", "2", 2, 3, 2), nil))
}
