package natsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsraft/natsraft/internal/testcluster"
	"github.com/natsraft/natsraft/kv"
)

// The watch protocol by hand, as a client in another language would speak
// it: JSON bodies, an inbox, credits and keep-alives on the control subject.

// watchCluster is a cluster whose nodes serve the API; apis are by node.
type watchCluster struct {
	*testcluster.Cluster
	apis map[string]*api
	nc   *nats.Conn
}

func startWatchCluster(t *testing.T) *watchCluster {
	c := &watchCluster{Cluster: testcluster.Start(t, "n1", "n2", "n3"), apis: map[string]*api{}}
	for name, n := range c.Nodes {
		a, err := register(n.NATS(), n, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		c.apis[name] = a
	}
	c.nc = c.Connect("watcher")
	c.Leader()
	return c
}

// byHand is one watch spoken by hand.
type byHand struct {
	t       *testing.T
	c       *watchCluster
	sub     *nats.Subscription
	created WatchCreated
	seq     uint64
}

func (c *watchCluster) watch(t *testing.T, body string) *byHand {
	t.Helper()
	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	body = body[:len(body)-1] + fmt.Sprintf(`,"inbox":%q}`, inbox)
	reply, err := c.nc.Request(Subject("test", EndpointWatch), []byte(body), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := reply.Header.Get(HeaderErrorCode); code != "" {
		t.Fatalf("watch %s: %s %s", body, code, reply.Header.Get(HeaderError))
	}
	w := &byHand{t: t, c: c, sub: sub}
	if err := json.Unmarshal(reply.Data, &w.created); err != nil {
		t.Fatal(err)
	}
	return w
}

// next returns the next message, checking the sequence.
func (w *byHand) next() (kind string, resp WatchResponseJSON) {
	w.t.Helper()
	m, err := w.sub.NextMsg(5 * time.Second)
	if err != nil {
		w.t.Fatalf("after message %d: %v", w.seq, err)
	}
	if m.Header.Get(HeaderWatchID) != w.created.ID || m.Header.Get(HeaderWatchSeq) != strconv.FormatUint(w.seq+1, 10) {
		w.t.Fatalf("message %d: headers %v", w.seq+1, m.Header)
	}
	w.seq++
	kind = m.Header.Get(HeaderWatchKind)
	if len(m.Data) > 0 {
		if err := json.Unmarshal(m.Data, &resp); err != nil {
			w.t.Fatal(err)
		}
	}
	return kind, resp
}

func (w *byHand) control(body string) {
	w.t.Helper()
	if err := w.c.nc.Publish(w.created.Control, []byte(body)); err != nil {
		w.t.Fatal(err)
	}
}

func (c *watchCluster) put(t *testing.T, key, value string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Nodes[c.Leader()].Write(ctx, &kv.Request{Put: &kv.PutRequest{Key: []byte(key), Value: []byte(value)}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Put.Header.Revision
}

func (c *watchCluster) sessions() int {
	n := 0
	for _, a := range c.apis {
		a.watches.mu.Lock()
		n += len(a.watches.mu.sessions)
		a.watches.mu.Unlock()
	}
	return n
}

// TestWatchCreditsBoundWhatTheNodeSends: with two credits the node sends
// two costed messages and then only heartbeats, until the client grants
// more; the events arrive in order, each once.
func TestWatchCreditsBoundWhatTheNodeSends(t *testing.T) {
	c := startWatchCluster(t)
	w := c.watch(t, `{"key":"k/","prefix":true,"credits":2,"heartbeat_ms":100}`)
	var revs []int64
	for i := range 5 {
		revs = append(revs, c.put(t, fmt.Sprintf("k/%d", i), "v"))
	}
	var got []int64
	costed := 0
	collect := func(kind string, resp WatchResponseJSON) {
		switch kind {
		case WatchKindEvents, WatchKindProgress:
			costed++
			for _, ev := range resp.Events {
				got = append(got, ev.Kv.ModRevision)
			}
		case WatchKindHeartbeat:
		default:
			t.Fatalf("unexpected %s message", kind)
		}
	}
	for costed < 2 {
		collect(w.next())
		w.control(`{}`) // a keep-alive
	}
	for beats := 0; beats < 3; beats++ {
		kind, resp := w.next()
		if kind != WatchKindHeartbeat {
			t.Fatalf("out of credits, the node sent a %s message: %+v", kind, resp)
		}
		w.control(`{}`)
	}
	w.control(`{"credits":100}`)
	for len(got) < len(revs) {
		collect(w.next())
	}
	if fmt.Sprint(got) != fmt.Sprint(revs) {
		t.Fatalf("events at revisions %v, want %v", got, revs)
	}
}

func TestWatchEndsOnCancelAndOnSilence(t *testing.T) {
	c := startWatchCluster(t)
	w := c.watch(t, `{"key":"a","heartbeat_ms":5000}`)
	w.next() // a heartbeat or a progress: the session runs
	w.control(`{"cancel":true}`)
	c.WaitFor("the canceled watch to end", func() bool { return c.sessions() == 0 })

	// No keep-alive from the client: the node gives up after three beats.
	start := time.Now()
	c.watch(t, `{"key":"a","heartbeat_ms":50}`)
	c.WaitFor("the silent client's watch to end", func() bool { return c.sessions() == 0 })
	if time.Since(start) < 150*time.Millisecond {
		t.Fatalf("the watch ended after %v, before three heartbeats", time.Since(start))
	}
}

func TestWatchResolvesFromNowAndReplaysHistory(t *testing.T) {
	c := startWatchCluster(t)
	first := c.put(t, "a", "1")
	c.put(t, "a", "2")
	w := c.watch(t, `{"key":"a","start_revision":`+strconv.FormatInt(first, 10)+`,"prev_kv":true}`)
	var events []EventJSON
	for len(events) < 2 {
		if kind, resp := w.next(); kind == WatchKindEvents {
			events = append(events, resp.Events...)
		}
	}
	if *events[0].Kv.Value != "1" || *events[1].Kv.Value != "2" || *events[1].PrevKv.Value != "1" {
		t.Fatalf("replayed events: %+v", events)
	}
	// Polled: "from now" is the serving node's now; let every node apply.
	c.WaitFor("every node to apply the puts", func() bool {
		for _, n := range c.Nodes {
			if n.Status().Revision < first+1 {
				return false
			}
		}
		return true
	})
	now := c.watch(t, `{"key":"a"}`)
	if now.created.StartRevision != first+2 {
		t.Fatalf("a watch from now starts at %d, want %d", now.created.StartRevision, first+2)
	}
}

// TestWatchSplitsAResponseLargerThanAMessage replays 1.2 MB of history:
// the response is split across messages, each under the NATS max payload.
func TestWatchSplitsAResponseLargerThanAMessage(t *testing.T) {
	c := startWatchCluster(t)
	// Six values just under the request limit add up to more than the
	// server's max payload (8 MiB in the test cluster).
	value := strings.Repeat("v", 1400<<10)
	var revs []int64
	for i := range 6 {
		revs = append(revs, c.put(t, fmt.Sprintf("big/%d", i), value))
	}
	// Polled: so that whichever node serves the watch replays all six in
	// one response.
	c.WaitFor("every node to apply the puts", func() bool {
		for _, n := range c.Nodes {
			if n.Status().Revision < revs[5] {
				return false
			}
		}
		return true
	})
	w := c.watch(t, `{"key":"big/","prefix":true,"start_revision":`+strconv.FormatInt(revs[0], 10)+`}`)
	var got []int64
	parts := 0
	for len(got) < len(revs) {
		m, err := w.sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(HeaderWatchKind) != WatchKindEvents {
			continue
		}
		var r WatchResponseJSON
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		parts++
		for _, ev := range r.Events {
			got = append(got, ev.Kv.ModRevision)
		}
		if more := m.Header.Get(HeaderWatchMore) != ""; more != (len(got) < len(revs)) {
			t.Fatalf("part %d (%d events so far): more=%v", parts, len(got), more)
		}
	}
	if parts < 2 || fmt.Sprint(got) != fmt.Sprint(revs) {
		t.Fatalf("%d parts, events at %v, want %v", parts, got, revs)
	}
}
