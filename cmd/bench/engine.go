package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// maxConsecutiveErrors stops a closed-loop client whose requests keep
// failing, so a dead system does not turn the benchmark into a busy loop.
const maxConsecutiveErrors = 100

// valueCount is how many distinct random values the writers cycle through.
const valueCount = 64

// Measurement is the raw outcome of one measured phase.
type Measurement struct {
	Spec    Spec
	Start   time.Time
	Elapsed time.Duration
	rec     *recorder
	// GaveUp counts clients that stopped after maxConsecutiveErrors.
	GaveUp int
}

// Hooks are called around the measured phase (not around the warm-up):
// that is where CPU and metrics are sampled.
type Hooks struct {
	Start func()
	End   func()
	// Live, when set, counts completed requests as they happen.
	Live *atomic.Int64
}

// engine runs one workload over a set of connections.
type engine struct {
	spec    Spec
	targets []Target
	clock   Clock
	values  [][]byte
	// fresh numbers the fresh keys of write workloads.
	fresh atomic.Uint64
}

func newEngine(spec Spec, targets []Target, clock Clock) *engine {
	return &engine{spec: spec, targets: targets, clock: clock, values: makeValues(valueCount, spec.ValueSize, 1)}
}

// runWorkload runs spec's warm-up, then its measured phase between
// hooks.Start and hooks.End.
func runWorkload(ctx context.Context, spec Spec, targets []Target, clock Clock, hooks Hooks) (*Measurement, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("no connection to run %s on", spec.Kind)
	}
	e := newEngine(spec, targets, clock)
	if spec.Warmup > 0 {
		if _, err := e.phase(ctx, spec.Warmup, 0, nil); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	if hooks.Start != nil {
		hooks.Start()
	}
	count := 0
	if spec.Kind == KindSeq {
		count = spec.SeqOps
	}
	m, err := e.phase(ctx, spec.Duration, count, hooks.Live)
	if hooks.End != nil {
		hooks.End()
	}
	return m, err
}

// phase runs the workload for dur, or for count requests when count > 0.
func (e *engine) phase(ctx context.Context, dur time.Duration, count int, live *atomic.Int64) (*Measurement, error) {
	start := e.clock.Now()
	m := &Measurement{Spec: e.spec, Start: start, rec: newRecorder(start, live)}
	until := start.Add(dur)
	if count > 0 {
		until = time.Time{}
	}
	if e.spec.Kind == KindRate {
		e.openLoop(ctx, start, until, m.rec)
	} else {
		m.GaveUp = e.closedLoops(ctx, until, count, m.rec)
	}
	m.Elapsed = e.clock.Now().Sub(start)
	if err := ctx.Err(); err != nil {
		return m, err
	}
	return m, nil
}

// clientCount is the number of closed-loop clients of the workload.
func (e *engine) clientCount() int {
	if e.spec.Kind == KindSeq {
		return 1
	}
	return e.spec.Clients
}

// closedLoops runs the clients, each sending its next request when the
// previous one returns, until the deadline (or until count requests were
// sent, when until is zero). It returns how many clients gave up.
func (e *engine) closedLoops(ctx context.Context, until time.Time, count int, into *recorder) int {
	var issued atomic.Int64
	more := func() bool {
		if until.IsZero() {
			return issued.Add(1) <= int64(count)
		}
		return e.clock.Now().Before(until)
	}
	n := e.clientCount()
	recs := make([]*recorder, n)
	gaveUp := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		recs[i] = newRecorder(into.start, into.live)
		wg.Go(func() {
			gaveUp[i] = e.closedLoop(ctx, e.newWorker(uint64(i), e.targets[i%len(e.targets)]), more, recs[i])
		})
	}
	wg.Wait()
	stopped := 0
	for i, r := range recs {
		into.merge(r)
		if gaveUp[i] {
			stopped++
		}
	}
	return stopped
}

// closedLoop is one client; it reports whether it gave up on errors.
func (e *engine) closedLoop(ctx context.Context, w *worker, more func() bool, rec *recorder) bool {
	failures := 0
	for ctx.Err() == nil && more() {
		sent := e.clock.Now()
		err := e.do(ctx, w)
		rec.record(sent, e.clock.Now(), err)
		if err == nil {
			failures = 0
			continue
		}
		if failures++; failures >= maxConsecutiveErrors {
			return true
		}
	}
	return false
}

// openLoop sends request i at start + i/rate whatever happened to the
// earlier ones (up to MaxInFlight outstanding), and measures each from
// that intended time: a stall shows in every request it delayed.
func (e *engine) openLoop(ctx context.Context, start, until time.Time, rec *recorder) {
	inFlight := make(chan struct{}, e.spec.MaxInFlight)
	var mu sync.Mutex // guards rec
	var wg sync.WaitGroup
	for i := uint64(0); ; i++ {
		due := start.Add(intendedOffset(i, e.spec.Rate))
		if !due.Before(until) || e.clock.SleepUntil(ctx, due) != nil {
			break
		}
		select {
		case inFlight <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			err := e.do(ctx, e.newWorker(i, e.targets[i%uint64(len(e.targets))]))
			mu.Lock()
			rec.record(due, e.clock.Now(), err)
			mu.Unlock()
			<-inFlight
		})
	}
	wg.Wait()
}

// intendedOffset is when, after the start, request i of an open loop at
// rate per second is due.
func intendedOffset(i uint64, rate float64) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / rate)
}

// worker is one client's state: its connection, random source and key
// buffer.
type worker struct {
	target Target
	rng    *rand.Rand
	key    []byte
	n      uint64
}

func (e *engine) newWorker(seed uint64, t Target) *worker {
	return &worker{target: t, rng: rand.New(rand.NewPCG(seed, 0x6e617473)), key: make([]byte, 0, e.spec.KeySize), n: seed}
}

// do sends one request of the workload.
func (e *engine) do(ctx context.Context, w *worker) error {
	ctx, cancel := context.WithTimeout(ctx, e.spec.Timeout)
	defer cancel()
	w.n++
	switch e.spec.Kind {
	case KindReadLin:
		return e.get(ctx, w, true)
	case KindReadSer:
		return e.get(ctx, w, false)
	case KindMixed:
		if w.rng.Float64() < e.spec.ReadRatio {
			return e.get(ctx, w, true)
		}
		return e.put(ctx, w, e.randomKey(w))
	}
	if e.spec.Keys > 0 {
		return e.put(ctx, w, e.randomKey(w))
	}
	w.key = appendKey(w.key[:0], e.spec.Kind.keyPrefix(), e.fresh.Add(1), e.spec.KeySize)
	return e.put(ctx, w, w.key)
}

func (e *engine) put(ctx context.Context, w *worker, key []byte) error {
	return w.target.Put(ctx, key, e.values[w.n%uint64(len(e.values))])
}

func (e *engine) get(ctx context.Context, w *worker, linearizable bool) error {
	_, err := w.target.Get(ctx, e.randomKey(w), linearizable)
	return err
}

// randomKey picks a key of the key space uniformly.
func (e *engine) randomKey(w *worker) []byte {
	w.key = appendKey(w.key[:0], 'k', w.rng.Uint64N(uint64(e.spec.keySpace())), e.spec.KeySize)
	return w.key
}

// preload writes every key of spec's key space once, with spec.Clients
// writers, so that reads find values.
func preload(ctx context.Context, spec Spec, targets []Target) error {
	keys := spec.keySpace()
	values := makeValues(valueCount, spec.ValueSize, 2)
	var next atomic.Int64
	errs := make([]error, min(spec.Clients, keys))
	var wg sync.WaitGroup
	for c := range errs {
		t := targets[c%len(targets)]
		wg.Go(func() {
			key := make([]byte, 0, spec.KeySize)
			for i := next.Add(1) - 1; i < int64(keys) && errs[c] == nil; i = next.Add(1) - 1 {
				key = appendKey(key[:0], 'k', uint64(i), spec.KeySize)
				opCtx, cancel := context.WithTimeout(ctx, spec.Timeout)
				errs[c] = t.Put(opCtx, key, values[i%int64(len(values))])
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("preloading %d keys: %w", keys, err)
		}
	}
	return nil
}
