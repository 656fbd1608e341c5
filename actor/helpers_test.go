package actor

import (
	"context"
	"slices"
	"testing"
	"time"
)

// rejectable is a message that records the error it is rejected with.
type rejectable struct {
	id       int
	rejected chan error // buffered: Reject must not block
}

func (r rejectable) Reject(err error) { r.rejected <- err }

// gate is a handler that sends a copy of every batch on batches and, for a
// batch whose first message is blockOn, signals entered and waits for
// release before returning. Tests use it to queue messages while the
// handler is busy, with no sleeps.
type gate[M comparable] struct {
	blockOn M
	batches chan []M
	entered chan struct{}
	release chan struct{}
}

func newGate[M comparable](blockOn M) *gate[M] {
	return &gate[M]{
		blockOn: blockOn,
		batches: make(chan []M, 100),
		entered: make(chan struct{}),
		release: make(chan struct{}),
	}
}

func (g *gate[M]) Handle(batch []M) {
	g.batches <- slices.Clone(batch)
	if batch[0] == g.blockOn {
		g.entered <- struct{}{}
		<-g.release
	}
}

// next returns the next batch the handler saw.
func (g *gate[M]) next(t *testing.T) []M {
	t.Helper()
	return recv(t, g.batches, "a batch")
}

// recv receives from ch, failing the test rather than hanging when nothing
// comes in a generous time: a missing rejection, report or wake-up.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("waited 30s for %s in vain", what)
		var zero T
		return zero
	}
}

// mustSend fails the test if a.Send refuses m.
func mustSend[M any](t *testing.T, a *Actor[M], lane Lane, m M) {
	t.Helper()
	if err := a.Send(lane, m); err != nil {
		t.Fatalf("Send(%d, %v) = %v, want nil", lane, m, err)
	}
}

// stop stops a and fails the test if that does not end cleanly in time.
func stop[M any](t *testing.T, a *Actor[M]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("Stop = %v, want nil", err)
	}
}

// runOnce runs one batch of a synchronous actor and returns a copy of it.
func runOnce[M any](a *Actor[M], h *recorder[M]) []M {
	h.last = nil
	a.RunOnce()
	return h.last
}

// recorder is a handler for synchronous tests that keeps the last batch.
type recorder[M any] struct{ last []M }

func (r *recorder[M]) Handle(batch []M) { r.last = slices.Clone(batch) }

func newSync[M any](opts Options) (*Actor[M], *recorder[M]) {
	h := &recorder[M]{}
	return NewSync[M](h, opts), h
}
