package actor

import (
	"slices"
	"testing"
	"time"
)

var epoch = time.Unix(1_000_000, 0)

func TestManualClockFiresInDeadlineOrder(t *testing.T) {
	clock := NewManualClock(epoch)
	var fired []string
	at := func(name string) func() {
		return func() { fired = append(fired, name+"@"+clock.Now().Sub(epoch).String()) }
	}
	clock.AfterFunc(30*time.Millisecond, at("c"))
	clock.AfterFunc(10*time.Millisecond, at("a"))
	clock.AfterFunc(20*time.Millisecond, func() {
		at("b")()
		clock.AfterFunc(5*time.Millisecond, at("b+5")) // set while advancing
	})
	clock.AfterFunc(10*time.Millisecond, at("a2"))
	clock.AfterFunc(15*time.Millisecond, at("stopped")).Stop()
	clock.AfterFunc(40*time.Millisecond, at("later"))

	clock.Advance(35 * time.Millisecond)
	want := []string{"a@10ms", "a2@10ms", "b@20ms", "b+5@25ms", "c@30ms"}
	if !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	if got := clock.Now().Sub(epoch); got != 35*time.Millisecond {
		t.Fatalf("Now = epoch+%v, want epoch+35ms", got)
	}
	if clock.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1 (later)", clock.Pending())
	}
}

func TestManualTimerStopReportsWhetherPending(t *testing.T) {
	clock := NewManualClock(epoch)
	tm := clock.AfterFunc(time.Second, func() {})
	clock.Advance(time.Second)
	if tm.Stop() {
		t.Fatal("Stop after firing = true, want false")
	}
	tm = clock.AfterFunc(time.Second, func() { t.Fatal("stopped timer fired") })
	if !tm.Stop() || tm.Stop() {
		t.Fatal("Stop on a pending timer should be true once, then false")
	}
	clock.Advance(time.Hour)
}

// Ticks coalesce: however many intervals pass, one tick waits at a time.
func TestTicksCoalesce(t *testing.T) {
	a, h := newSync[string](Options{})
	clock := NewManualClock(epoch)
	cancel := a.Every(clock, 10*time.Millisecond, "tick")

	clock.Advance(35 * time.Millisecond) // three intervals
	if got := a.Len(System); got != 1 {
		t.Fatalf("Len(System) after three intervals = %d, want 1", got)
	}
	if got := runOnce(a, h); !slices.Equal(got, []string{"tick"}) {
		t.Fatalf("batch = %v, want one tick", got)
	}
	if n := a.RunOnce(); n != 0 {
		t.Fatalf("second RunOnce handled %d, want 0", n)
	}
	clock.Advance(5 * time.Millisecond) // the fourth interval ends at 40ms
	if got := a.Len(System); got != 1 {
		t.Fatalf("Len(System) after the next interval = %d, want 1", got)
	}

	cancel()
	if a.Len(System) != 0 || clock.Pending() != 0 {
		t.Fatalf("after cancel: Len(System) = %d, timers = %d; want 0, 0", a.Len(System), clock.Pending())
	}
	clock.Advance(time.Second)
	if a.Len(System) != 0 {
		t.Fatal("a tick arrived after cancel")
	}
	cancel() // idempotent
}

func TestTwoTickersEachDeliver(t *testing.T) {
	a, h := newSync[string](Options{})
	clock := NewManualClock(epoch)
	a.Every(clock, 10*time.Millisecond, "fast")
	a.Every(clock, 20*time.Millisecond, "slow")
	clock.Advance(20 * time.Millisecond)
	if got := runOnce(a, h); !slices.Equal(got, []string{"fast", "slow"}) {
		t.Fatalf("batch = %v, want [fast slow]", got)
	}
}

func TestTickersEndWithActor(t *testing.T) {
	a, _ := newSync[string](Options{})
	clock := NewManualClock(epoch)
	a.Every(clock, 10*time.Millisecond, "tick")
	stop(t, a)
	if clock.Pending() != 0 {
		t.Fatalf("timers pending after Stop = %d, want 0", clock.Pending())
	}
	a.Every(clock, 10*time.Millisecond, "tick")()
	if clock.Pending() != 0 {
		t.Fatal("Every on a stopped actor set a timer")
	}
}

// A tick wakes an idle goroutine actor.
func TestTickWakesIdleActor(t *testing.T) {
	g := newGate("never blocks")
	a := New[string](g, Options{})
	defer stop(t, a)
	clock := NewManualClock(epoch)
	a.Every(clock, time.Second, "tick")
	clock.Advance(time.Second)
	if got := g.next(t); !slices.Equal(got, []string{"tick"}) {
		t.Fatalf("batch = %v, want [tick]", got)
	}
}

func TestEveryRejectsNonPositiveInterval(t *testing.T) {
	a, _ := newSync[int](Options{})
	defer func() {
		if recover() == nil {
			t.Fatal("Every(0) did not panic")
		}
	}()
	a.Every(NewManualClock(epoch), 0, 1)
}
