package main

import "context"

// Target is one connection to a system under test. A Target is used by
// several goroutines at once. Put and Get must not retain key or value
// after they return (the workload reuses its buffers).
type Target interface {
	// Put writes key=value and returns once the write is durable and
	// acknowledged by the system (for natsraft: committed and applied).
	Put(ctx context.Context, key, value []byte) error
	// Get reads key; linearizable selects a linearizable read, otherwise a
	// serializable (local, possibly stale) one where the system has both.
	// A missing key is not an error: it returns nil, nil.
	Get(ctx context.Context, key []byte, linearizable bool) ([]byte, error)
	Close() error
}

// System is a system under test: a cluster that hands out connections.
type System interface {
	// Name labels the system in the output, e.g. "natsraft" or
	// "jetstream sync=always".
	Name() string
	// Connect opens one new connection.
	Connect(ctx context.Context) (Target, error)
	// Close releases what the system owns (processes, directories).
	Close() error
}

// breakdownSource is a System that can report where a commit's time goes
// (natsraft's Prometheus histograms). Scrape returns the cumulative state;
// the difference of two scrapes covers the phase between them.
type breakdownSource interface {
	ScrapeBreakdown(ctx context.Context) (metricSnapshot, error)
}

// processOwner is a System that runs in processes bench started; their
// CPU time is measured on its own.
type processOwner interface {
	PIDs() []int
}

// connectAll opens n connections to sys, closing them all on failure.
func connectAll(ctx context.Context, sys System, n int) ([]Target, error) {
	targets := make([]Target, 0, n)
	for range n {
		t, err := sys.Connect(ctx)
		if err != nil {
			closeAll(targets)
			return nil, err
		}
		targets = append(targets, t)
	}
	return targets, nil
}

func closeAll(targets []Target) {
	for _, t := range targets {
		_ = t.Close()
	}
}

// closerFunc is a System's Close: it runs f, if any.
type closerFunc func() error

func (f closerFunc) Close() error {
	if f == nil {
		return nil
	}
	return f()
}
