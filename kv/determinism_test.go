package kv

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestModelAndDeterministicReplay feeds seeded random requests to the model
// and to two stores, one applying a batch per request, one grouping requests
// into random batches. Responses, ranges at every live revision and events
// must match the model, and both stores must hold byte-identical Pebble
// contents.
func TestModelAndDeterministicReplay(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runModelSeed(t, seed) })
	}
}

func runModelSeed(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	m := newModel()
	g := &gen{rng: rng, m: m, compact: true}
	one := newHarness(t, Options{WatchBufferResponses: 4096})
	grouped := newHarness(t, Options{})
	w, err := one.s.Watch(WatchRequest{Key: []byte{0}, RangeEnd: []byte{0}, PrevKv: true})
	if err != nil {
		t.Fatal(err)
	}
	var batch []*Request
	var wantRevs []int64
	flush := func() {
		resps, errs := grouped.applyBatch(batch...)
		for i := range batch {
			if errs[i] == nil && resps[i].Header().Revision != wantRevs[i] {
				t.Fatalf("seed %d: grouped %s at %d, want %d", seed, describe(batch[i]), resps[i].Header().Revision, wantRevs[i])
			}
		}
		batch, wantRevs = batch[:0], wantRevs[:0]
	}
	for i := 0; i < 400; i++ {
		req := g.request()
		wantRev, wantErr := m.apply(req)
		resp, err := one.apply(req)
		if !errorsMatch(wantErr, err) || (err == nil && resp.Header().Revision != wantRev) {
			t.Fatalf("seed %d op %d %s: store %v, %v; model rev %d, %v", seed, i, describe(req), resp, err, wantRev, wantErr)
		}
		batch, wantRevs = append(batch, req), append(wantRevs, wantRev)
		if rng.IntN(4) == 0 {
			flush()
		}
		if i%40 == 0 {
			checkRanges(t, seed, one, m)
		}
	}
	flush()
	checkRanges(t, seed, one, m)
	checkRanges(t, seed, grouped, m)
	if a, b := contents(t, one.db, 'k'), contents(t, grouped.db, 'k'); !reflect.DeepEqual(a, b) {
		t.Fatalf("seed %d: contents differ: %d vs %d keys", seed, len(a), len(b))
	}
	checkLiveEvents(t, seed, w, m.events)
	for _, h := range []*harness{one, grouped} {
		checkIndex(t, h)
	}
}

// checkIndex compares the in-memory key index with the 'L' space.
func checkIndex(t *testing.T, h *harness) {
	t.Helper()
	want, err := loadIndex(h.db, h.s.keys)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.s.index, want) {
		t.Fatalf("index has %d keys, the store %d, or they differ", len(h.s.index), len(want))
	}
	leases, err := loadLeases(h.db, h.s.keys)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.s.leases, leases) {
		t.Fatalf("leases in memory %v, in the store %v", h.s.leases, leases)
	}
}

// checkRanges compares a Range of everything at every revision the store
// still has with the model, and checks the compacted ones are refused.
func checkRanges(t *testing.T, seed uint64, h *harness, m *model) {
	t.Helper()
	all := makeSpan([]byte{0}, []byte{0})
	for rev := int64(1); rev <= m.rev; rev++ {
		resp, err := h.s.Range(&RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev})
		if rev < m.compact {
			if err == nil {
				t.Fatalf("seed %d: range at %d below compaction %d answered", seed, rev, m.compact)
			}
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: range at %d: %v", seed, rev, err)
		}
		want := m.rangeAt(all, rev)
		if got := kvsString(resp.Kvs); got != kvsString(want) || resp.Count != int64(len(want)) {
			t.Fatalf("seed %d: range at %d:\n got %s\nwant %s", seed, rev, got, kvsString(want))
		}
	}
}

// checkLiveEvents drains a watcher that saw every event live.
func checkLiveEvents(t *testing.T, seed uint64, w *Watcher, want []Event) {
	t.Helper()
	var got []Event
	for len(got) < len(want) {
		resp, _ := recv(t, w)
		got = append(got, resp.Events...)
	}
	for i := range want {
		if eventString(&got[i]) != eventString(&want[i]) {
			t.Fatalf("seed %d: event %d: got %s, want %s", seed, i, eventString(&got[i]), eventString(&want[i]))
		}
	}
	w.Cancel()
	if resp := drain(t, w); len(resp.Events) > 0 {
		t.Fatalf("seed %d: extra event %s", seed, eventString(&resp.Events[0]))
	}
}
