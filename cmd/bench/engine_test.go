package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tinySpec is a fast workload for the engine's tests.
func tinySpec(k Kind) Spec {
	s := defaultSpec()
	s.Kind = k
	s.SeqOps, s.Clients, s.Duration, s.Warmup = 200, 8, time.Second, 0
	return s
}

func TestSeqSendsExactlySeqOpsWritesWithFreshKeys(t *testing.T) {
	f := newFakeTarget()
	spec := tinySpec(KindSeq)
	spec.Warmup = 0
	var starts, ends int
	m, err := runWorkload(context.Background(), spec, []Target{f}, realClock{}, Hooks{
		Start: func() { starts++ }, End: func() { ends++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.puts != spec.SeqOps || m.rec.hist.TotalCount() != int64(spec.SeqOps) {
		t.Fatalf("puts %d, recorded %d, want %d", f.puts, m.rec.hist.TotalCount(), spec.SeqOps)
	}
	if len(f.data) != spec.SeqOps {
		t.Fatalf("%d distinct keys, want %d (every write a fresh key)", len(f.data), spec.SeqOps)
	}
	for k, v := range f.data {
		if len(k) != spec.KeySize || len(v) != spec.ValueSize || k[0] != 's' {
			t.Fatalf("key %q (%d B) value %d B: want %d B keys starting with s, %d B values", k, len(k), len(v), spec.KeySize, spec.ValueSize)
		}
	}
	if starts != 1 || ends != 1 {
		t.Fatalf("hooks called %d/%d times, want once each", starts, ends)
	}
}

func TestWarmupIsNotMeasured(t *testing.T) {
	clock := newFakeClock()
	f := newFakeTarget()
	f.onCall = func(context.Context, int) error { clock.advance(time.Millisecond); return nil }
	spec := tinySpec(KindSeq)
	spec.Warmup = 100 * time.Millisecond
	var putsAtStart int
	m, err := runWorkload(context.Background(), spec, []Target{f}, clock, Hooks{Start: func() { putsAtStart = f.puts }})
	if err != nil {
		t.Fatal(err)
	}
	if putsAtStart != 100 {
		t.Fatalf("warm-up sent %d writes, want 100 (100 ms at 1 ms each)", putsAtStart)
	}
	if got := m.rec.hist.TotalCount(); got != int64(spec.SeqOps) {
		t.Fatalf("measured %d, want %d", got, spec.SeqOps)
	}
}

func TestConcRunsForTheDurationOnAllConnections(t *testing.T) {
	clock := newFakeClock()
	spec := tinySpec(KindConc)
	// Every client's first write waits for all the others' to start, so
	// that no client can use up the fake time alone.
	var started sync.WaitGroup
	started.Add(spec.Clients)
	var first atomic.Int64
	targets := []*fakeTarget{newFakeTarget(), newFakeTarget(), newFakeTarget()}
	var ts []Target
	for _, f := range targets {
		f.onCall = func(context.Context, int) error {
			if first.Add(1) <= int64(spec.Clients) {
				started.Done()
				started.Wait()
			}
			clock.advance(time.Millisecond)
			return nil
		}
		ts = append(ts, f)
	}
	live := &atomic.Int64{}
	m, err := runWorkload(context.Background(), spec, ts, clock, Hooks{Live: live})
	if err != nil {
		t.Fatal(err)
	}
	n := m.rec.hist.TotalCount()
	// Each write moves the shared clock 1 ms; every client may start one
	// last write just before the deadline.
	if n < 1000 || n >= 1000+int64(spec.Clients) {
		t.Fatalf("%d writes in 1 s of 1 ms writes, want 1000..%d", n, 1000+spec.Clients-1)
	}
	if live.Load() != n {
		t.Fatalf("live counter %d, recorded %d", live.Load(), n)
	}
	for i, f := range targets {
		if f.puts == 0 {
			t.Fatalf("connection %d unused", i)
		}
	}
	if m.Elapsed < time.Second {
		t.Fatalf("elapsed %v < duration", m.Elapsed)
	}
}

func TestErrorsAndTimeoutsAreCountedNotMeasured(t *testing.T) {
	f := newFakeTarget()
	f.onCall = func(ctx context.Context, n int) error {
		switch {
		case n%10 == 0:
			return errFake
		case n%25 == 0:
			return fmt.Errorf("wrapped: %w", context.DeadlineExceeded)
		}
		return nil
	}
	spec := tinySpec(KindSeq)
	spec.SeqOps = 1000
	m, err := runWorkload(context.Background(), spec, []Target{f}, realClock{}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	r := summarize("fake", m)
	// 100 multiples of 10 fail; of the 40 multiples of 25, 20 are not
	// multiples of 10 and time out.
	if r.Errors != 100 || r.Timeouts != 20 || r.Ops != 880 {
		t.Fatalf("errors %d timeouts %d ops %d, want 100, 20, 880", r.Errors, r.Timeouts, r.Ops)
	}
	if r.FirstError == "" {
		t.Fatal("first error not kept")
	}
}

func TestClientGivesUpAfterConsecutiveErrors(t *testing.T) {
	f := newFakeTarget()
	f.onCall = func(context.Context, int) error { return errFake }
	spec := tinySpec(KindConc)
	spec.Clients = 3
	m, err := runWorkload(context.Background(), spec, []Target{f}, realClock{}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if m.GaveUp != 3 || m.rec.errors != 3*maxConsecutiveErrors {
		t.Fatalf("gave up %d, errors %d; want 3 and %d", m.GaveUp, m.rec.errors, 3*maxConsecutiveErrors)
	}
}

func TestOpenLoopSendsOnScheduleWhateverTheLatency(t *testing.T) {
	clock := newFakeClock()
	f := newFakeTarget()
	spec := tinySpec(KindRate)
	spec.Rate = 1000
	m, err := runWorkload(context.Background(), spec, []Target{f}, clock, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if f.puts != 1000 || m.rec.hist.TotalCount() != 1000 {
		t.Fatalf("%d writes sent, %d recorded; want 1000 (1000/s for 1 s)", f.puts, m.rec.hist.TotalCount())
	}
}

// A stall of 10 ms with one request in flight: the requests due during
// the stall are sent late, and their latency counts from when they were
// due, so the histogram shows the stall ten times, not once.
func TestOpenLoopMeasuresFromIntendedTime(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	f := newFakeTarget()
	f.onCall = func(_ context.Context, n int) error {
		if n == 1 {
			clock.advanceTo(start.Add(10 * time.Millisecond))
		}
		return nil
	}
	spec := tinySpec(KindRate)
	spec.Rate, spec.MaxInFlight, spec.Duration = 1000, 1, 100*time.Millisecond
	m, err := runWorkload(context.Background(), spec, []Target{f}, clock, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	h := m.rec.hist
	if h.TotalCount() != 100 {
		t.Fatalf("recorded %d, want 100", h.TotalCount())
	}
	if h.Max() < 9990 || h.Max() > 10010 {
		t.Fatalf("max %d µs, want the 10 ms stall", h.Max())
	}
	// Requests 0..8 were due at 0..8 ms and sent at 10 ms: >= 2 ms each.
	// Later ones are on time (within the fake clock's 1 ms step).
	slow := h.TotalCount() - countBelow(m, 2000)
	if slow != 9 {
		t.Fatalf("%d requests >= 2 ms, want 9 (the stall seen by every request due during it)", slow)
	}
}

// countBelow counts recorded latencies below us.
func countBelow(m *Measurement, us int64) int64 {
	var n int64
	for _, b := range m.rec.hist.Distribution() {
		if b.To < us {
			n += b.Count
		}
	}
	return n
}

func TestIntendedOffset(t *testing.T) {
	for _, c := range []struct {
		i    uint64
		rate float64
		want time.Duration
	}{{0, 100, 0}, {1, 100, 10 * time.Millisecond}, {3, 4000, 750 * time.Microsecond}, {1_000_000, 1e6, time.Second}} {
		if got := intendedOffset(c.i, c.rate); got != c.want {
			t.Errorf("intendedOffset(%d, %v) = %v, want %v", c.i, c.rate, got, c.want)
		}
	}
}

func TestReadsUseTheRightConsistency(t *testing.T) {
	for _, c := range []struct {
		kind     Kind
		lin, ser bool
	}{{KindReadLin, true, false}, {KindReadSer, false, true}} {
		f := newFakeTarget()
		spec := tinySpec(c.kind)
		spec.Duration = 20 * time.Millisecond
		if _, err := runWorkload(context.Background(), spec, []Target{f}, realClock{}, Hooks{}); err != nil {
			t.Fatal(err)
		}
		if (f.linGets > 0) != c.lin || (f.serGets > 0) != c.ser || f.puts != 0 {
			t.Fatalf("%s: %d linearizable, %d serializable reads, %d writes", c.kind, f.linGets, f.serGets, f.puts)
		}
	}
}

func TestMixedFollowsTheReadRatio(t *testing.T) {
	clock := newFakeClock()
	f := newFakeTarget()
	f.onCall = func(context.Context, int) error { clock.advance(100 * time.Microsecond); return nil }
	spec := tinySpec(KindMixed)
	spec.ReadRatio = 0.75
	if _, err := runWorkload(context.Background(), spec, []Target{f}, clock, Hooks{}); err != nil {
		t.Fatal(err)
	}
	total := f.linGets + f.puts
	share := float64(f.linGets) / float64(total)
	if total < 9000 || share < 0.72 || share > 0.78 {
		t.Fatalf("%d reads of %d requests (%.3f), want about 0.75 of about 10000", f.linGets, total, share)
	}
	for k := range f.data {
		if k[0] != 'k' {
			t.Fatalf("mixed wrote %q outside the key space", k)
		}
	}
}

func TestPreloadWritesTheWholeKeySpace(t *testing.T) {
	f := newFakeTarget()
	spec := tinySpec(KindReadLin)
	spec.Keys = 500
	if err := preload(context.Background(), spec, []Target{f, f}); err != nil {
		t.Fatal(err)
	}
	if len(f.data) != 500 || f.puts != 500 {
		t.Fatalf("%d keys in %d writes, want 500 in 500", len(f.data), f.puts)
	}
	f.onCall = func(context.Context, int) error { return errFake }
	if err := preload(context.Background(), spec, []Target{f}); err == nil {
		t.Fatal("preload hid a write error")
	}
}

func TestCancelStopsTheWorkload(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFakeTarget()
	f.onCall = func(_ context.Context, n int) error {
		if n == 50 {
			cancel()
		}
		return nil
	}
	spec := tinySpec(KindConc)
	spec.Duration = time.Hour
	_, err := runWorkload(ctx, spec, []Target{f}, realClock{}, Hooks{})
	if err == nil {
		t.Fatal("a cancelled run reported success")
	}
}

func TestAppendKey(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		size int
		want string
	}{{42, 8, "s0000042"}, {0, 2, "s0"}, {123, 3, "s23"}, {7, 16, "s000000000000007"}} {
		if got := string(appendKey(nil, 's', c.n, c.size)); got != c.want {
			t.Errorf("appendKey(%d, %d) = %q, want %q", c.n, c.size, got, c.want)
		}
	}
}
