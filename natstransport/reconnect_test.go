package natstransport

import (
	"net"
	"testing"
	"time"

	"github.com/natsraft/natsraft/raft"
)

// eventWatcher forwards one connection's events to a channel.
type eventWatcher struct {
	counts ConnEvents
	events chan ConnEvent
}

func (w *eventWatcher) options(url string) ConnectOptions {
	w.events = make(chan ConnEvent, 64)
	return ConnectOptions{
		URL: url, ReconnectWaitMin: 10 * time.Millisecond, ReconnectWaitMax: 50 * time.Millisecond,
		Events: &w.counts, OnEvent: func(ev ConnEvent, _ error) { w.events <- ev },
	}
}

// await waits for event want, skipping others.
func (w *eventWatcher) await(t *testing.T, want ConnEvent) {
	t.Helper()
	for waitFor(t, w.events) != want {
	}
}

// TestReconnectResumesDelivery stops the server under two connected nodes,
// sends while it is down, starts it again on the same port and shows that
// messages flow again once the clients have reconnected by themselves.
func TestReconnectResumesDelivery(t *testing.T) {
	first := startServer(t, ServerOptions{})
	port := first.Addr().(*net.TCPAddr).Port
	url := first.ClientURL()
	var wa, wb eventWatcher
	a, _ := newNode(t, connect(t, wa.options(url)), 1, []uint64{1, 2})
	ncB := connect(t, wb.options(url))
	_, in := newNode(t, ncB, 2, []uint64{1, 2})
	hb := func(term uint64) []raft.Message {
		return []raft.Message{{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: term}}
	}
	a.Send(hb(1))
	if got := in.next(t); got[0].Term != 1 {
		t.Fatalf("got %+v", got)
	}

	first.Shutdown()
	first.WaitForShutdown()
	wa.await(t, EventDisconnected)
	wb.await(t, EventDisconnected)
	a.Send(hb(2)) // buffered by the client or dropped: never blocks

	startServer(t, ServerOptions{Port: port})
	wa.await(t, EventReconnected)
	wb.await(t, EventReconnected)
	if err := ncB.Flush(); err != nil { // node 2's subscriptions are back
		t.Fatal(err)
	}
	a.Send(hb(3))
	for {
		got := in.next(t)
		if got[len(got)-1].Term == 3 {
			break
		}
	}
	if wa.counts.Reconnects.Load() != 1 || wb.counts.Disconnects.Load() != 1 {
		t.Fatalf("counters: reconnects %d, disconnects %d", wa.counts.Reconnects.Load(), wb.counts.Disconnects.Load())
	}
}
