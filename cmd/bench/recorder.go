package main

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"
)

// Latencies are recorded in microseconds, from 1 µs to 60 s, with 3
// significant digits.
const (
	latencyMaxMicros = 60_000_000
	latencySigFigs   = 3
	// timelineInterval is the width of one throughput-over-time bucket.
	timelineInterval = 100 * time.Millisecond
)

func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, latencyMaxMicros, latencySigFigs)
}

// Clock is the time source of the workload engine; tests use a fake one.
type Clock interface {
	Now() time.Time
	// SleepUntil returns at t or later, or early with ctx's error.
	SleepUntil(ctx context.Context, t time.Time) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recorder collects one worker's outcomes; recorders are merged at the end
// of a phase, so recording needs no lock.
type recorder struct {
	start    time.Time // of the measured phase
	hist     *hdrhistogram.Histogram
	errors   int64
	timeouts int64
	firstErr error
	// timeline counts completions per timelineInterval since start.
	timeline []int64
	live     *atomic.Int64 // completions, read by the progress display
}

func newRecorder(start time.Time, live *atomic.Int64) *recorder {
	return &recorder{start: start, hist: newLatencyHistogram(), live: live}
}

// record notes one request sent (or due) at from and finished at to.
func (r *recorder) record(from, to time.Time, err error) {
	if err != nil {
		r.recordError(err)
		return
	}
	us := to.Sub(from).Microseconds()
	_ = r.hist.RecordValue(min(max(us, 0), latencyMaxMicros))
	if i := int(to.Sub(r.start) / timelineInterval); i >= 0 {
		for len(r.timeline) <= i {
			r.timeline = append(r.timeline, 0)
		}
		r.timeline[i]++
	}
	if r.live != nil {
		r.live.Add(1)
	}
}

func (r *recorder) recordError(err error) {
	if isTimeout(err) {
		r.timeouts++
	} else {
		r.errors++
	}
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// isTimeout reports whether err is a request that ran out of time rather
// than one the system refused.
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
}

// merge adds o's outcomes to r.
func (r *recorder) merge(o *recorder) {
	r.hist.Merge(o.hist)
	r.errors += o.errors
	r.timeouts += o.timeouts
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	for len(r.timeline) < len(o.timeline) {
		r.timeline = append(r.timeline, 0)
	}
	for i, n := range o.timeline {
		r.timeline[i] += n
	}
}
