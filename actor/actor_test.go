package actor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Messages sent while the handler is busy arrive together, as one batch.
func TestMessagesQueuedWhileBusyArriveAsOneBatch(t *testing.T) {
	g := newGate(0)
	a := New[int](g, Options{})
	defer stop(t, a)

	mustSend(t, a, Client, 0)
	recv(t, g.entered, "the handler")
	var want []int
	for i := 1; i <= 100; i++ {
		mustSend(t, a, Client, i)
		want = append(want, i)
	}
	close(g.release)

	if got := g.next(t); !slices.Equal(got, []int{0}) {
		t.Fatalf("first batch = %v, want [0]", got)
	}
	if got := g.next(t); !slices.Equal(got, want) {
		t.Fatalf("second batch = %v, want 1..100 in one batch", got)
	}
}

func TestBatchIsBoundedByMaxBatch(t *testing.T) {
	a, _ := newSync[int](Options{MaxBatch: 30})
	for i := range 100 {
		mustSend(t, a, Client, i)
	}
	var sizes []int
	for n := a.RunOnce(); n > 0; n = a.RunOnce() {
		sizes = append(sizes, n)
	}
	if want := []int{30, 30, 30, 10}; !slices.Equal(sizes, want) {
		t.Fatalf("batch sizes = %v, want %v", sizes, want)
	}
}

// A batch lists System messages, then ticks, then Network, then Client,
// each lane in FIFO order, whatever the order of the sends.
func TestBatchOrdersLanesSystemFirst(t *testing.T) {
	a, h := newSync[string](Options{})
	clock := NewManualClock(time.Unix(0, 0))
	a.Every(clock, time.Second, "tick")
	clock.Advance(time.Second)
	mustSend(t, a, Client, "c1")
	mustSend(t, a, Network, "n1")
	mustSend(t, a, System, "s1")
	mustSend(t, a, Client, "c2")
	mustSend(t, a, Network, "n2")
	mustSend(t, a, System, "s2")

	want := []string{"s1", "s2", "tick", "n1", "n2", "c1", "c2"}
	if got := runOnce(a, h); !slices.Equal(got, want) {
		t.Fatalf("batch = %v, want %v", got, want)
	}
}

// When Network and Client both hold more than the batch has room for, each
// gets half; otherwise Network takes what Client leaves.
func TestNetworkAndClientShareTheBatch(t *testing.T) {
	a, h := newSync[string](Options{MaxBatch: 4})
	for i := range 3 {
		mustSend(t, a, Network, fmt.Sprint("n", i))
		mustSend(t, a, Client, fmt.Sprint("c", i))
	}
	mustSend(t, a, Network, "n3")
	mustSend(t, a, Network, "n4")

	for _, want := range [][]string{
		{"n0", "n1", "c0", "c1"}, // both lanes full: half each
		{"n2", "n3", "n4", "c2"}, // one client left: network takes the rest
	} {
		if got := runOnce(a, h); !slices.Equal(got, want) {
			t.Fatalf("batch = %v, want %v", got, want)
		}
	}
}

func TestNetworkShare(t *testing.T) {
	for _, c := range []struct{ room, network, client, want int }{
		{room: 4, network: 10, client: 10, want: 2},
		{room: 5, network: 10, client: 10, want: 3},
		{room: 4, network: 10, client: 1, want: 3},
		{room: 4, network: 1, client: 10, want: 1},
		{room: 4, network: 10, client: 0, want: 4},
		{room: 0, network: 10, client: 10, want: 0},
	} {
		if got := networkShare(c.room, c.network, c.client); got != c.want {
			t.Errorf("networkShare(%d, %d, %d) = %d, want %d",
				c.room, c.network, c.client, got, c.want)
		}
	}
}

// A full Network lane drops the message, counts it and reports ErrDropped.
func TestFullNetworkLaneDropsAndCounts(t *testing.T) {
	a, h := newSync[string](Options{NetworkCap: 2})
	mustSend(t, a, Network, "n1")
	mustSend(t, a, Network, "n2")
	for i := range 3 {
		if err := a.Send(Network, "lost"); !errors.Is(err, ErrDropped) {
			t.Fatalf("Send on full Network lane = %v, want ErrDropped", err)
		}
		if got := a.Dropped(); got != uint64(i+1) {
			t.Fatalf("Dropped = %d, want %d", got, i+1)
		}
	}
	if got := a.Len(Network); got != 2 {
		t.Fatalf("Len(Network) = %d, want 2", got)
	}
	mustSend(t, a, Client, "c1") // other lanes are unaffected

	if got, want := runOnce(a, h), []string{"n1", "n2", "c1"}; !slices.Equal(got, want) {
		t.Fatalf("batch = %v, want %v (the dropped message must not be handled)", got, want)
	}
	mustSend(t, a, Network, "n3") // room again
	if got := a.Dropped(); got != 3 {
		t.Fatalf("Dropped = %d after a successful send, want 3", got)
	}
}

// A full Client lane refuses with ErrBusy: nothing dropped, nothing rejected.
func TestFullClientLaneReturnsBusy(t *testing.T) {
	a, h := newSync[any](Options{ClientCap: 2})
	rejected := make(chan error, 10)
	mustSend[any](t, a, Client, rejectable{1, rejected})
	mustSend[any](t, a, Client, rejectable{2, rejected})

	err := a.Send(Client, rejectable{3, rejected})
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("Send on full Client lane = %v, want ErrBusy saying busy", err)
	}
	if a.Dropped() != 0 || len(rejected) != 0 {
		t.Fatalf("Dropped = %d, rejections = %d; a busy refusal must do neither",
			a.Dropped(), len(rejected))
	}
	if got := runOnce(a, h); len(got) != 2 {
		t.Fatalf("batch = %v, want the two queued requests", got)
	}
	mustSend[any](t, a, Client, rejectable{3, rejected})
}

func TestFullSystemLaneReturnsBusy(t *testing.T) {
	a, _ := newSync[int](Options{SystemCap: 1})
	mustSend(t, a, System, 1)
	if err := a.Send(System, 2); !errors.Is(err, ErrBusy) {
		t.Fatalf("Send on full System lane = %v, want ErrBusy", err)
	}
}

func TestLenReportsEachLane(t *testing.T) {
	a, _ := newSync[int](Options{})
	mustSend(t, a, System, 1)
	for range 2 {
		mustSend(t, a, Network, 1)
	}
	for range 3 {
		mustSend(t, a, Client, 1)
	}
	got := []int{a.Len(System), a.Len(Network), a.Len(Client)}
	if want := []int{1, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("Len by lane = %v, want %v", got, want)
	}
	a.RunOnce()
	if n := a.Len(System) + a.Len(Network) + a.Len(Client); n != 0 {
		t.Fatalf("Len after RunOnce = %d, want 0", n)
	}
}

func TestRunOnceRefusesGoroutineActor(t *testing.T) {
	a := New[int](HandlerFunc[int](func([]int) {}), Options{})
	defer stop(t, a)
	defer func() {
		if recover() == nil {
			t.Fatal("RunOnce on a New actor did not panic")
		}
	}()
	a.RunOnce()
}

func TestNegativeOptionPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "ClientCap") {
			t.Fatalf("recover() = %v, want a panic naming ClientCap", r)
		}
	}()
	NewSync[int](HandlerFunc[int](func([]int) {}), Options{ClientCap: -1})
}

// Many senders racing an actor with tiny lanes: every message is handled
// exactly once, in each sender's order. A lost wake-up shows as a hang.
func TestConcurrentSendersEachMessageHandledOnce(t *testing.T) {
	const senders, perSender = 4, 2000
	type msg struct{ sender, seq int }
	seen := make([][]int, senders)
	all := make(chan struct{})
	total := 0
	a := New[msg](HandlerFunc[msg](func(batch []msg) {
		for _, m := range batch {
			seen[m.sender] = append(seen[m.sender], m.seq)
		}
		if total += len(batch); total == senders*perSender {
			close(all)
		}
	}), Options{ClientCap: 16, MaxBatch: 8})
	defer stop(t, a)

	for s := range senders {
		go func() {
			for i := 0; i < perSender; {
				if err := a.Send(Client, msg{s, i}); err == nil {
					i++
				} else {
					runtime.Gosched() // ErrBusy: let the actor drain
				}
			}
		}()
	}
	recv(t, all, "every message to be handled")
	for s, seqs := range seen {
		for i, seq := range seqs {
			if seq != i {
				t.Fatalf("sender %d: message %d handled at position %d", s, seq, i)
			}
		}
	}
}

// Stop rejects what is queued, lets the batch in progress finish, and
// refuses later sends; the handler is not called again.
func TestStopRejectsQueuedMessages(t *testing.T) {
	g := newGate[any]("busy")
	a := New[any](g, Options{})
	rejected := make(chan error, 10)

	mustSend[any](t, a, Client, "busy")
	recv(t, g.entered, "the handler")
	mustSend[any](t, a, Client, rejectable{1, rejected})
	mustSend[any](t, a, Client, rejectable{2, rejected})
	mustSend[any](t, a, System, rejectable{3, rejected})
	mustSend[any](t, a, Network, "not a Rejecter")
	a.RequestStop()
	if err := a.Send(Client, rejectable{4, rejected}); err != ErrStopped {
		t.Fatalf("Send while stopping = %v, want ErrStopped", err)
	}
	close(g.release)
	stop(t, a)

	for range 3 {
		if err := recv(t, rejected, "a rejection"); err != ErrStopped {
			t.Fatalf("queued request rejected with %v, want ErrStopped", err)
		}
	}
	if len(rejected) != 0 {
		t.Fatal("a refused request was also rejected")
	}
	if got := g.next(t); !slices.Equal(got, []any{"busy"}) || len(g.batches) != 0 {
		t.Fatalf("handled %v then %d more batches; want only [busy]", got, len(g.batches))
	}
	if a.Err() != ErrStopped || a.Send(Network, "late") != ErrStopped {
		t.Fatalf("after Stop: Err = %v; want ErrStopped and sends refused", a.Err())
	}
}

func TestStopReturnsContextErrorWhileHandlerBlocks(t *testing.T) {
	g := newGate(1)
	a := New[int](g, Options{})
	mustSend(t, a, Client, 1)
	recv(t, g.entered, "the handler")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Stop(ctx); err != context.Canceled {
		t.Fatalf("Stop with a cancelled context = %v, want context.Canceled", err)
	}
	close(g.release)
	recv(t, a.Done(), "Done")
	if a.Err() != ErrStopped {
		t.Fatalf("Err = %v, want ErrStopped", a.Err())
	}
}

func TestRequestStopFromInsideHandler(t *testing.T) {
	var a *Actor[string]
	a = New[string](HandlerFunc[string](func([]string) { a.RequestStop() }), Options{})
	mustSend(t, a, Client, "stop yourself")
	recv(t, a.Done(), "the actor to stop itself")
	stop(t, a) // idempotent
}

func TestSyncStopRejectsAtOnce(t *testing.T) {
	a, h := newSync[any](Options{})
	rejected := make(chan error, 1)
	mustSend[any](t, a, Client, rejectable{1, rejected})
	stop(t, a)

	if err := recv(t, rejected, "a rejection"); err != ErrStopped {
		t.Fatalf("rejected with %v, want ErrStopped", err)
	}
	if got := runOnce(a, h); got != nil {
		t.Fatalf("RunOnce after Stop handled %v", got)
	}
}
