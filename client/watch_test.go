package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
	"github.com/natsraft/natsraft/server/natsapi/natsapitest"
)

var watchTestOptions = Options{
	Timeout:        10 * time.Second,
	AttemptTimeout: time.Second,
	WatchHeartbeat: 100 * time.Millisecond,
}

// startWatchCluster returns a cluster and a client that has read from it,
// so that a watch it starts without a revision begins after that read
// rather than at whatever "now" is when the watch reaches a node, which
// could be after the test's first write.
func startWatchCluster(t *testing.T) (*natsapitest.Cluster, *Client) {
	c := natsapitest.Start(t, natsapi.Options{}, "n1", "n2", "n3")
	cl, err := New(c.Conn(), c.Name(), watchTestOptions)
	if err != nil {
		t.Fatal(err)
	}
	c.Leader()
	if _, err := cl.Get(testContext(t), "any"); err != nil {
		t.Fatal(err)
	}
	return c, cl
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// receive takes events from ch until it holds n, failing on the end of
// the watch or after 10 s.
func receive(t *testing.T, ch WatchChan, n int) []kv.Event {
	t.Helper()
	var events []kv.Event
	timeout := time.After(10 * time.Second)
	for len(events) < n {
		select {
		case resp, ok := <-ch:
			if !ok || resp.Canceled {
				t.Fatalf("the watch ended after %d events: %v", len(events), resp.Err())
			}
			events = append(events, resp.Events...)
		case <-timeout:
			t.Fatalf("%d of %d events in 10 s", len(events), n)
		}
	}
	return events
}

func TestWatchDeliversEventsInOrder(t *testing.T) {
	_, cl := startWatchCluster(t)
	ctx := testContext(t)
	ch := cl.Watch(ctx, "w/", WithPrefix(), WithPrevKV())
	var revs []int64
	for i := range 10 {
		p, err := cl.Put(ctx, fmt.Sprintf("w/%d", i%3), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, p.Header.Revision)
	}
	del, err := cl.Delete(ctx, "w/0")
	if err != nil {
		t.Fatal(err)
	}
	events := receive(t, ch, 11)
	for i, ev := range events[:10] {
		if ev.Type != kv.EventPut || ev.Kv.ModRevision != revs[i] || string(ev.Kv.Value) != fmt.Sprint(i) {
			t.Fatalf("event %d: %+v, want a put of %d at %d", i, ev, i, revs[i])
		}
		if (i >= 3) != (ev.PrevKv != nil) || (i >= 3 && string(ev.PrevKv.Value) != fmt.Sprint(i-3)) {
			t.Fatalf("event %d: prev kv %+v", i, ev.PrevKv)
		}
	}
	if last := events[10]; last.Type != kv.EventDelete || last.Kv.ModRevision != del.Header.Revision {
		t.Fatalf("delete event: %+v", last)
	}
}

// sessionLog follows which node serves a watch.
type sessionLog struct {
	t      *testing.T
	ch     chan string
	latest string
}

func logSessions(t *testing.T) *sessionLog {
	l := &sessionLog{t: t, ch: make(chan string, 100)}
	testHookSession = func(node string) { l.ch <- node }
	t.Cleanup(func() { testHookSession = nil })
	return l
}

// serving is the node of the latest session (waiting for the first).
func (l *sessionLog) serving() string {
	if l.latest == "" {
		l.latest = <-l.ch
	}
	for {
		select {
		case node := <-l.ch:
			l.latest = node
		default:
			return l.latest
		}
	}
}

// movedFrom waits for a session on a node other than from.
func (l *sessionLog) movedFrom(from string) string {
	timeout := time.After(10 * time.Second)
	for l.latest == from {
		select {
		case l.latest = <-l.ch:
		case <-timeout:
			l.t.Fatalf("the watch did not leave %s", from)
		}
	}
	return l.serving()
}

// TestWatchResumesWhenItsNodeStops stops the node serving the watch, twice,
// while a writer keeps writing: the watch resumes on another node, and sees
// every acknowledged write once, in order.
func TestWatchResumesWhenItsNodeStops(t *testing.T) {
	c, cl := startWatchCluster(t)
	sessions := logSessions(t)
	ctx := testContext(t)
	ch := cl.Watch(ctx, "r/", WithPrefix())
	writer, err := New(c.Conn(), c.Name(), watchTestOptions)
	if err != nil {
		t.Fatal(err)
	}
	w := &history{acked: map[string]int64{}, attempted: map[string]bool{}}
	first := sessions.serving()
	w.write(t, ctx, writer, 10)
	c.StopNode(first)
	w.write(t, ctx, writer, 10)
	second := sessions.movedFrom(first)
	c.StartNode(first, server.Config{})
	c.StopNode(second)
	w.write(t, ctx, writer, 10)
	sessions.movedFrom(second)
	c.StartNode(second, server.Config{})
	w.write(t, ctx, writer, 5)
	w.check(t, ch)
}

// history is what a writer wrote: values are unique; acked ones with the
// revision of their put.
type history struct {
	acked     map[string]int64
	attempted map[string]bool
}

func (h *history) write(t *testing.T, ctx context.Context, cl *Client, n int) {
	t.Helper()
	for range n {
		v := fmt.Sprint(len(h.attempted))
		h.attempted[v] = true
		p, err := cl.Put(ctx, "r/k", v)
		switch {
		case err == nil:
			h.acked[v] = p.Header.Revision
		case !errors.Is(err, ErrTimeout): // outcome unknown: allowed
			t.Fatal(err) // a refusal would have been retried
		}
	}
}

// check reads the watch until every acknowledged write was seen: each
// exactly once, at its revision, in revision order; nothing unwritten.
func (h *history) check(t *testing.T, ch WatchChan) {
	t.Helper()
	seen := map[string]bool{}
	missing := len(h.acked)
	last := int64(0)
	timeout := time.After(10 * time.Second)
	for missing > 0 {
		var resp WatchResponse
		select {
		case r, ok := <-ch:
			if !ok || r.Canceled {
				t.Fatalf("the watch ended with %d acked writes unseen: %v", missing, r.Err())
			}
			resp = r
		case <-timeout:
			t.Fatalf("%d acked writes unseen after 10 s", missing)
		}
		for _, ev := range resp.Events {
			v, rev := string(ev.Kv.Value), ev.Kv.ModRevision
			switch {
			case rev <= last:
				t.Fatalf("event at revision %d after %d", rev, last)
			case seen[v] || !h.attempted[v]:
				t.Fatalf("value %q seen twice or never written", v)
			case h.acked[v] != 0 && h.acked[v] != rev:
				t.Fatalf("value %q at revision %d, acked at %d", v, rev, h.acked[v])
			}
			last, seen[v] = rev, true
			if h.acked[v] != 0 {
				missing--
			}
		}
	}
}

func TestWatchFromACompactedRevisionEnds(t *testing.T) {
	c, cl := startWatchCluster(t)
	ctx := testContext(t)
	var last int64
	for i := range 3 {
		p, err := cl.Put(ctx, "c", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		last = p.Header.Revision
	}
	if _, err := cl.Compact(ctx, last); err != nil {
		t.Fatal(err)
	}
	// Polled: whichever node serves the watch must have applied the
	// compaction (a lagging one would still replay the history).
	applied := c.Nodes[c.Leader()].Status().AppliedIndex
	c.WaitFor("every node to apply the compaction", func() bool {
		for _, n := range c.Nodes {
			if n.Status().AppliedIndex < applied {
				return false
			}
		}
		return true
	})
	ch := cl.Watch(ctx, "c", WithRev(last-1))
	resp, ok := <-ch
	if !ok || !resp.Canceled || !errors.Is(resp.Err(), ErrCompacted) || resp.CompactRevision != last {
		t.Fatalf("watch below the compaction: %+v (%v)", resp, resp.Err())
	}
	if _, ok := <-ch; ok {
		t.Fatal("the channel stays open after the end")
	}
}

// TestWatchWithFewCreditsGetsEverything: two messages of credit, a hundred
// responses, and a 1.2 MB replay split across messages.
func TestWatchWithFewCreditsGetsEverything(t *testing.T) {
	c, cl := startWatchCluster(t)
	ctx := testContext(t)
	slow, err := New(c.Conn(), c.Name(), Options{WatchCredits: 2, WatchHeartbeat: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	first, err := cl.Put(ctx, "f/0", strings.Repeat("v", 200<<10))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 6; i++ {
		if _, err := cl.Put(ctx, fmt.Sprintf("f/%d", i), strings.Repeat("v", 200<<10)); err != nil {
			t.Fatal(err)
		}
	}
	// Polled: so that whichever node serves the watch replays the six
	// large puts in one response, which is then split.
	c.WaitFor("every node to apply the large puts", func() bool {
		for _, n := range c.Nodes {
			if n.Status().Revision < first.Header.Revision+5 {
				return false
			}
		}
		return true
	})
	ch := slow.Watch(ctx, "f/", WithPrefix(), WithRev(first.Header.Revision))
	var revs []int64
	for i := range 100 {
		p, err := cl.Put(ctx, "f/small", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, p.Header.Revision)
	}
	events := receive(t, ch, 106)
	for i, ev := range events {
		want := first.Header.Revision + int64(i)
		if i >= 6 {
			want = revs[i-6]
		}
		if ev.Kv.ModRevision != want {
			t.Fatalf("event %d at revision %d, want %d", i, ev.Kv.ModRevision, want)
		}
	}
}

func TestWatchEndsWithItsContext(t *testing.T) {
	_, cl := startWatchCluster(t)
	ctx, cancel := context.WithCancel(testContext(t))
	ch := cl.Watch(ctx, "x", WithProgressNotify())
	if resp := <-ch; !resp.IsProgressNotify() {
		t.Fatalf("first response %+v, want a progress notification", resp)
	}
	cancel()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the channel is still open 5 s after the context ended")
		}
	}
}
