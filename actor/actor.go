package actor

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// Lane selects one of an actor's bounded queues; see the package doc for
// each lane's policy when full.
type Lane uint8

const (
	// System carries control messages; it is drained before the others.
	System Lane = iota
	// Network carries peer traffic; when full, messages are dropped and counted.
	Network
	// Client carries client requests; when full, Send returns ErrBusy.
	Client

	laneCount
)

// Handler handles one batch of messages. The slice is only valid during the
// call: the actor reuses it for the next batch.
type Handler[M any] interface {
	Handle(batch []M)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc[M any] func(batch []M)

// Handle calls f(batch).
func (f HandlerFunc[M]) Handle(batch []M) { f(batch) }

// Options configure an actor. A zero field takes its default.
type Options struct {
	// MaxBatch bounds the messages passed to one Handle call. Default 256.
	// With MaxBatch 1 the Network lane has strict priority over Client.
	MaxBatch int
	// SystemCap, NetworkCap and ClientCap bound the lanes. Defaults 64,
	// 4096 and 1024. Each lane's buffer is allocated once, in full.
	SystemCap  int
	NetworkCap int
	ClientCap  int
	// OnPanic is told, once, that the handler panicked, with the value and
	// the stack; the node binary logs it and exits non-zero. It runs on the
	// handler's goroutine after the actor is marked failed and before the
	// queued messages are rejected. Default: write both to standard error.
	OnPanic func(value any, stack []byte)
}

// state is the actor's lifecycle; it only moves forward.
type state uint8

const (
	running    state = iota
	stopping         // Stop requested: the batch in progress finishes, nothing else is handled
	terminated       // Done is closed (or about to be); Err is set
)

// Actor is a mailbox with its handler. It is safe for concurrent use, except
// RunOnce, which one goroutine at a time may call.
type Actor[M any] struct {
	handler  Handler[M]
	maxBatch int
	onPanic  func(value any, stack []byte)
	// synchronous is set by NewSync: no goroutine, RunOnce drives the actor.
	synchronous bool

	mu struct {
		sync.Mutex
		state state
		// err is nil until terminated, then ErrStopped or a *PanicError.
		err   error
		lanes [laneCount]ring[M]
		// tickers are the live Every registrations, in registration order.
		tickers []*ticker[M]
		// Invariant: ticksQueued is the number of tickers with queued set.
		ticksQueued int
		// idle is set by the goroutine just before it waits on wake. The one
		// caller that finds it set clears it and sends the wake token.
		// Invariant: at most one token is ever in wake, so that send never
		// blocks, and no wake-up is lost.
		idle bool
	}
	wake    chan struct{} // capacity 1; see mu.idle
	done    chan struct{} // closed when terminated
	dropped atomic.Uint64 // Network messages refused because the lane was full

	// batch is the reused Handle slice, owned by whoever runs batches: the
	// goroutine, or RunOnce's caller.
	batch []M
}

// New starts an actor whose goroutine hands batches of messages to h.
func New[M any](h Handler[M], opts Options) *Actor[M] {
	a := newActor(h, opts)
	go a.run()
	return a
}

// NewSync builds an actor without a goroutine: the caller handles batches
// with RunOnce. Everything else behaves as with New, except that
// RequestStop (and so Stop) terminates the actor at once, rejecting what is
// queued.
func NewSync[M any](h Handler[M], opts Options) *Actor[M] {
	a := newActor(h, opts)
	a.synchronous = true
	return a
}

func newActor[M any](h Handler[M], opts Options) *Actor[M] {
	opts = opts.withDefaults()
	a := &Actor[M]{
		handler:  h,
		maxBatch: opts.MaxBatch,
		onPanic:  opts.OnPanic,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		batch:    make([]M, 0, opts.MaxBatch),
	}
	a.mu.lanes[System] = newRing[M](opts.SystemCap)
	a.mu.lanes[Network] = newRing[M](opts.NetworkCap)
	a.mu.lanes[Client] = newRing[M](opts.ClientCap)
	return a
}

func (o Options) withDefaults() Options {
	o.MaxBatch = positiveOr(o.MaxBatch, 256, "MaxBatch")
	o.SystemCap = positiveOr(o.SystemCap, 64, "SystemCap")
	o.NetworkCap = positiveOr(o.NetworkCap, 4096, "NetworkCap")
	o.ClientCap = positiveOr(o.ClientCap, 1024, "ClientCap")
	if o.OnPanic == nil {
		o.OnPanic = reportToStderr
	}
	return o
}

func positiveOr(v, def int, name string) int {
	if v < 0 {
		panic(fmt.Sprintf("actor: Options.%s is negative (%d)", name, v))
	}
	if v == 0 {
		return def
	}
	return v
}

func reportToStderr(value any, stack []byte) {
	fmt.Fprintf(os.Stderr, "actor: handler panicked: %v\n%s", value, stack)
}

// Send queues m on lane. It returns nil when m was queued, ErrDropped
// (Network) or ErrBusy (System, Client) when the lane is full, and
// ErrStopped or the *PanicError once the actor stops accepting. A message
// refused this way is never handled nor rejected.
func (a *Actor[M]) Send(lane Lane, m M) error {
	a.mu.Lock()
	err := a.enqueueLocked(lane, m)
	a.unlockAndWake(err == nil && a.claimWakeLocked())
	return err
}

// REQUIRES: a.mu is held.
func (a *Actor[M]) enqueueLocked(lane Lane, m M) error {
	if a.mu.state != running {
		if a.mu.err != nil {
			return a.mu.err
		}
		return ErrStopped
	}
	if a.mu.lanes[lane].push(m) {
		return nil
	}
	if lane == Network {
		a.dropped.Add(1)
		return ErrDropped
	}
	return ErrBusy
}

// claimWakeLocked reports whether the caller must wake the goroutine: true
// for exactly one caller per idle period.
// REQUIRES: a.mu is held.
func (a *Actor[M]) claimWakeLocked() bool {
	if !a.mu.idle {
		return false
	}
	a.mu.idle = false
	return true
}

// unlockAndWake releases a.mu, then sends the wake token if wake is set.
// REQUIRES: a.mu is held; wake came from claimWakeLocked.
func (a *Actor[M]) unlockAndWake(wake bool) {
	a.mu.Unlock()
	if wake {
		a.wake <- struct{}{}
	}
}

// Len is the number of messages waiting on lane (for System, including the
// queued ticks), for metrics.
func (a *Actor[M]) Len(lane Lane) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.mu.lanes[lane].len()
	if lane == System {
		n += a.mu.ticksQueued
	}
	return n
}

// Dropped is the number of Network messages dropped because the lane was full.
func (a *Actor[M]) Dropped() uint64 { return a.dropped.Load() }

// RequestStop starts a clean stop without waiting for it; it is safe to call
// from inside Handle. Later calls, and calls after a failure, do nothing.
func (a *Actor[M]) RequestStop() {
	if a.synchronous {
		a.terminate(ErrStopped)
		return
	}
	a.mu.Lock()
	if a.mu.state == running {
		a.mu.state = stopping
	}
	a.unlockAndWake(a.claimWakeLocked())
}

// Stop stops the actor cleanly and waits until it has terminated: sends are
// refused from now on, the batch in progress finishes, and every message
// still queued is rejected with ErrStopped. It returns nil after a clean
// stop, the *PanicError if the actor had failed, or ctx.Err() if ctx ends
// first (the actor still terminates when its current Handle returns).
// Calling Stop from inside Handle deadlocks until ctx ends: use RequestStop.
func (a *Actor[M]) Stop(ctx context.Context) error {
	a.RequestStop()
	select {
	case <-a.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := a.Err(); err != ErrStopped {
		return err
	}
	return nil
}

// Done is closed once the actor has terminated: the handler will not be
// called again and every queued message has been rejected.
func (a *Actor[M]) Done() <-chan struct{} { return a.done }

// Err is nil while the actor runs, then ErrStopped after a clean stop or a
// *PanicError after a failure.
func (a *Actor[M]) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.err
}
