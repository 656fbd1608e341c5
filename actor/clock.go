package actor

import (
	"sync"
	"time"
)

// Clock is the source of time for actors and their timers. The simulator
// drives a ManualClock; a node uses RealClock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once, on some goroutine, after d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop cancels the call; it reports false if f has already been called
	// (or started) or the timer was already stopped.
	Stop() bool
}

// RealClock is the wall clock, from package time.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// ManualClock is a Clock that moves only when told to. Timers fire inside
// Advance, in the caller's goroutine, in deadline order (ties in the order
// they were set), which makes runs deterministic.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64         // orders timers with equal deadlines
	timers []*manualTimer // pending, unordered
}

type manualTimer struct {
	clock *ManualClock
	when  time.Time
	seq   uint64
	f     func()
}

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arranges for f to be called by the Advance that reaches
// Now()+d; a d <= 0 fires at the next Advance.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{clock: c, when: c.now.Add(max(d, 0)), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock forward by d, calling each timer that falls due
// with the clock set to its deadline, including timers that those calls set
// within the interval. It is meant to be called from one goroutine.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		f := c.popDue(target)
		if f == nil {
			break
		}
		f() // without c.mu: f may set or stop timers
	}
	c.mu.Lock()
	c.now = target
	c.mu.Unlock()
}

// Pending is the number of timers set and not yet fired or stopped.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// popDue removes the earliest timer due by target, moves the clock to its
// deadline and returns its function; nil when none is due.
func (c *ManualClock) popDue(target time.Time) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := -1
	for i, t := range c.timers {
		if !t.when.After(target) && (next < 0 || t.before(c.timers[next])) {
			next = i
		}
	}
	if next < 0 {
		return nil
	}
	t := c.timers[next]
	c.removeLocked(next)
	c.now = t.when
	return t.f
}

// REQUIRES: c.mu is held.
func (c *ManualClock) removeLocked(i int) {
	last := len(c.timers) - 1
	c.timers[i] = c.timers[last]
	c.timers[last] = nil
	c.timers = c.timers[:last]
}

func (t *manualTimer) before(u *manualTimer) bool {
	return t.when.Before(u.when) || (t.when.Equal(u.when) && t.seq < u.seq)
}

// Stop removes the timer if it has not fired.
func (t *manualTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, u := range c.timers {
		if u == t {
			c.removeLocked(i)
			return true
		}
	}
	return false
}
