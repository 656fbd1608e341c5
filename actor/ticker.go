package actor

import (
	"slices"
	"time"
)

// ticker delivers one message on the System lane every interval, coalesced.
// It is not queued in the System ring: its queued flag stands for the
// message, so a waiting tick takes no lane room and can never be duplicated.
type ticker[M any] struct {
	a        *Actor[M]
	clock    Clock
	interval time.Duration
	tick     M
	fire     func() // t.onFire, bound once so re-arming does not allocate it

	// Guarded by a.mu.
	timer   Timer
	queued  bool // the tick waits for the next batch
	stopped bool // cancelled or the actor terminated; never re-armed
}

// Every queues tick on the System lane each time interval passes on clock,
// unless a tick from this call is still waiting to be handled: ticks
// coalesce, so a slow handler sees one tick, not a backlog. Ticks come after
// the System lane's messages in a batch. The returned cancel stops the ticks
// and withdraws a waiting one; termination stops them too. On a terminated
// actor Every does nothing.
func (a *Actor[M]) Every(clock Clock, interval time.Duration, tick M) (cancel func()) {
	if interval <= 0 {
		panic("actor: Every needs a positive interval")
	}
	t := &ticker[M]{a: a, clock: clock, interval: interval, tick: tick}
	t.fire = t.onFire
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.state == terminated {
		return func() {}
	}
	a.mu.tickers = append(a.mu.tickers, t)
	t.timer = clock.AfterFunc(interval, t.fire)
	return t.cancel
}

// onFire re-arms the timer and queues the tick unless one is waiting.
func (t *ticker[M]) onFire() {
	a := t.a
	a.mu.Lock()
	if t.stopped {
		a.mu.Unlock()
		return
	}
	t.timer = t.clock.AfterFunc(t.interval, t.fire)
	wake := false
	if !t.queued {
		t.queued = true
		a.mu.ticksQueued++
		wake = a.claimWakeLocked()
	}
	a.unlockAndWake(wake)
}

func (t *ticker[M]) cancel() {
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopLocked()
	a.mu.tickers = slices.DeleteFunc(a.mu.tickers, func(u *ticker[M]) bool { return u == t })
}

// stopLocked stops the timer and withdraws a waiting tick.
// REQUIRES: t.a.mu is held.
func (t *ticker[M]) stopLocked() {
	t.stopped = true
	t.timer.Stop()
	if t.queued {
		t.queued = false
		t.a.mu.ticksQueued--
	}
}

// REQUIRES: a.mu is held.
func (a *Actor[M]) stopTickersLocked() {
	for _, t := range a.mu.tickers {
		t.stopLocked()
	}
	a.mu.tickers = nil
}

// takeTicksLocked appends up to room waiting ticks to b, in registration order.
// REQUIRES: a.mu is held.
func (a *Actor[M]) takeTicksLocked(b []M, room int) []M {
	for _, t := range a.mu.tickers {
		if room == 0 || a.mu.ticksQueued == 0 {
			break
		}
		if t.queued {
			t.queued = false
			a.mu.ticksQueued--
			b = append(b, t.tick)
			room--
		}
	}
	return b
}
