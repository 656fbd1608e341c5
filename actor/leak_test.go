package actor

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// actorGoroutines counts the goroutines New started, whether or not they
// have begun running, and those running a ticker callback.
func actorGoroutines() int {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	n := 0
	for g := range strings.SplitSeq(stacks, "\n\n") {
		if strings.Contains(g, "created by github.com/natsraft/natsraft/actor.New[") ||
			strings.Contains(g, "natsraft/actor.(*ticker[") {
			n++
		}
	}
	return n
}

// Stopped actors leave no goroutine behind, real-clock tickers included.
func TestStoppedActorsLeaveNoGoroutine(t *testing.T) {
	var actors []*Actor[int]
	for i := range 20 {
		a := New[int](HandlerFunc[int](func([]int) {}), Options{})
		a.Every(RealClock{}, time.Millisecond, -1)
		mustSend(t, a, Client, i)
		actors = append(actors, a)
	}
	if n := actorGoroutines(); n < 20 {
		t.Fatalf("found %d actor goroutines before Stop, want at least 20 (is the stack match broken?)", n)
	}
	for _, a := range actors {
		stop(t, a)
	}
	// Done closes inside the goroutine's last deferred call, so give the
	// runtime a moment to retire them; poll, bounded.
	deadline := time.Now().Add(30 * time.Second)
	for actorGoroutines() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d actor goroutines still running after Stop", actorGoroutines())
		}
		runtime.Gosched()
	}
}
