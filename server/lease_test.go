package server

import (
	"testing"
	"time"

	"github.com/natsraft/natsraft/kv"
)

// TestLessorExpiry: deadlines come from the grant or renewal plus the TTL;
// an expired lease is handed out once, then again after leaseRevokeRetry
// if its revoke was not applied; promotion extends every lease.
func TestLessorExpiry(t *testing.T) {
	l := newLessor()
	t0 := time.Unix(1000, 0)
	l.refresh(1, 10, t0)
	l.refresh(2, 20, t0)
	if got := l.expired(t0.Add(5*time.Second), 10); len(got) != 0 {
		t.Fatalf("expired before the TTL: %v", got)
	}
	at := t0.Add(11 * time.Second)
	if got := l.expired(at, 10); len(got) != 1 || got[0] != 1 {
		t.Fatalf("expired after 11 s: %v", got)
	}
	if got := l.expired(at.Add(time.Second), 10); len(got) != 0 {
		t.Fatalf("a revoke in flight handed out again: %v", got)
	}
	if got := l.expired(at.Add(leaseRevokeRetry+time.Millisecond), 10); len(got) != 1 {
		t.Fatalf("a lost revoke not retried: %v", got)
	}
	l.refresh(2, 20, t0.Add(15*time.Second)) // renewed
	if left, ok := l.remaining(2, t0.Add(25*time.Second)); !ok || left != 10*time.Second {
		t.Fatalf("remaining after renewal: %v, %v", left, ok)
	}
	// A new leader extends every lease the state machine holds and forgets
	// the others.
	l.promote([]kv.Lease{{ID: 2, TTL: 20}, {ID: 3, TTL: 5}}, t0.Add(100*time.Second), time.Second)
	if _, ok := l.remaining(1, t0); ok {
		t.Fatal("promotion kept a lease the state machine does not hold")
	}
	if left, _ := l.remaining(3, t0.Add(100*time.Second)); left != 6*time.Second {
		t.Fatalf("lease 3 after promotion: %v left", left)
	}
	l.forget(3)
	if got := l.expired(t0.Add(200*time.Second), 10); len(got) != 1 || got[0] != 2 {
		t.Fatalf("after forget: %v", got)
	}
}

func TestMinLeaseTTL(t *testing.T) {
	for _, tc := range []struct {
		tick time.Duration
		want int64
	}{{100 * time.Millisecond, 2}, {10 * time.Millisecond, 1}, {time.Second, 15}} {
		n := &Node{cfg: Config{TickInterval: tc.tick}}
		if got := n.MinLeaseTTL(); got != tc.want {
			t.Errorf("tick %v: min TTL %d, want %d", tc.tick, got, tc.want)
		}
	}
}
