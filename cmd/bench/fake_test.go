package main

import (
	"context"
	"errors"
	"sync"
	"time"
)

// fakeClock is a clock that moves only when told: SleepUntil jumps to
// the time asked for, and targets may advance it to simulate work.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.advanceTo(t)
	return ctx.Err()
}

// advanceTo moves the clock to t unless it is already later.
func (c *fakeClock) advanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// advance moves the clock forward by d.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var (
	errFake         = errors.New("fake: refused")
	errTargetClosed = errors.New("fake: target closed")
)

// fakeTarget is an in-memory Target that counts what it is asked.
type fakeTarget struct {
	mu      sync.Mutex
	data    map[string][]byte
	puts    int
	linGets int
	serGets int
	calls   int
	// onCall, when set, runs inside every call (with the call's number
	// from 1) and returns the call's error.
	onCall func(ctx context.Context, n int) error
	closed bool
}

func newFakeTarget() *fakeTarget { return &fakeTarget{data: map[string][]byte{}} }

func (f *fakeTarget) call(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return errTargetClosed
	}
	f.calls++
	n, hook := f.calls, f.onCall
	f.mu.Unlock()
	if hook != nil {
		return hook(ctx, n)
	}
	return nil
}

func (f *fakeTarget) Put(ctx context.Context, key, value []byte) error {
	if err := f.call(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	f.data[string(key)] = append([]byte(nil), value...)
	return nil
}

func (f *fakeTarget) Get(ctx context.Context, key []byte, linearizable bool) ([]byte, error) {
	if err := f.call(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if linearizable {
		f.linGets++
	} else {
		f.serGets++
	}
	return f.data[string(key)], nil
}

func (f *fakeTarget) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// fakeSystem hands out one shared fakeTarget.
type fakeSystem struct {
	name   string
	target *fakeTarget
	closed bool
}

func (s *fakeSystem) Name() string                            { return s.name }
func (s *fakeSystem) Connect(context.Context) (Target, error) { return &sharedTarget{s.target}, nil }
func (s *fakeSystem) Close() error                            { s.closed = true; return nil }

// sharedTarget lets many connections share one fakeTarget; closing one
// does not close the others.
type sharedTarget struct{ *fakeTarget }

func (sharedTarget) Close() error { return nil }
