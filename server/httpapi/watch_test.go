package httpapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/httpapi"
)

func TestWatch(t *testing.T) {
	c := startCluster(t, httpapi.Options{WatchProgressInterval: 50 * time.Millisecond}, "n1", "n2", "n3")
	t.Run("EventsInOrderWithPrevKv", func(t *testing.T) { testWatchEvents(t, c) })
	t.Run("ServerSentEvents", func(t *testing.T) { testWatchSSE(t, c) })
	t.Run("ResumeOnAnotherNode", func(t *testing.T) { testWatchResume(t, c) })
	t.Run("LastEventIDResumes", func(t *testing.T) { testWatchLastEventID(t, c) })
	t.Run("ProgressWhenIdle", func(t *testing.T) { testWatchProgress(t, c) })
	t.Run("Filters", func(t *testing.T) { testWatchFilters(t, c) })
	t.Run("BadRequests", func(t *testing.T) { testWatchBadRequests(t, c) })
	t.Run("DisconnectFreesTheStream", func(t *testing.T) { testWatchDisconnect(t, c) })
	t.Run("ShutdownEndsStreams", func(t *testing.T) { testWatchShutdown(t, c) })
	t.Run("NodeStopEndsStreams", func(t *testing.T) { testWatchNodeStop(t, c) }) // last: stops n3
}

func testWatchEvents(t *testing.T, c *cluster) {
	ws := openWatch(t, c.followerURL()+"/v1/watch?prefix=w1/&prev_kv=true")
	created := ws.next()
	if !created.line.Created || created.line.Header.Revision <= 0 {
		t.Fatalf("first line: %s", mustJSON(created.line))
	}
	u := c.leaderURL()
	put(t, u, "w1/a", "1")
	put(t, u, "w1/b", "2")
	put(t, u, "w1/a", "3")
	do(t, http.MethodDelete, u+"/v1/kv/w1/a", "").decode(t, http.StatusOK, new(deleteJSON))
	var txn txnJSON
	do(t, http.MethodPost, u+"/v1/txn", `{"success":[{"put":{"key":"w1/c","value":"4"}},{"put":{"key":"w1/d","value":"5"}}]}`).
		decode(t, http.StatusOK, &txn)
	put(t, u, "w0", "not watched")
	evs := ws.events(6)
	want := []struct{ typ, key, value, prev string }{
		{"put", "w1/a", "1", ""}, {"put", "w1/b", "2", ""}, {"put", "w1/a", "3", "1"},
		{"delete", "w1/a", "", "3"}, {"put", "w1/c", "4", ""}, {"put", "w1/d", "5", ""},
	}
	for i, w := range want {
		ev := evs[i]
		prev := ""
		if ev.PrevKv != nil {
			prev = ev.PrevKv.Value
		}
		if ev.Type != w.typ || ev.Kv.Key != w.key || ev.Kv.Value != w.value || prev != w.prev {
			t.Fatalf("event %d: %s, want %+v", i, mustJSON(ev), w)
		}
		if i > 0 && ev.Kv.ModRevision <= evs[i-1].Kv.ModRevision && i != 5 {
			t.Fatalf("event %d at revision %d after %d", i, ev.Kv.ModRevision, evs[i-1].Kv.ModRevision)
		}
	}
	if evs[4].Kv.ModRevision != txn.Header.Revision || evs[5].Kv.ModRevision != txn.Header.Revision {
		t.Fatalf("the txn's events: %s, txn at %d", mustJSON(evs[4:]), txn.Header.Revision)
	}
}

func testWatchSSE(t *testing.T, c *cluster) {
	ws := openWatch(t, c.leaderURL()+"/v1/watch?key=sse", "Accept", "text/event-stream")
	if !ws.sse || ws.resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers: %v", ws.resp.Header)
	}
	if it := ws.next(); it.event != "created" || it.id != "" || !it.line.Created {
		t.Fatalf("first event: %+v", it)
	}
	p := put(t, c.followerURL(), "sse", "x")
	for {
		it := ws.next()
		if it.event == "progress" {
			if rev, err := strconv.ParseInt(it.id, 10, 64); err != nil || rev != it.line.Header.Revision {
				t.Fatalf("progress event: %+v", it)
			}
			continue
		}
		if it.event != "events" || it.id != strconv.FormatInt(p.Header.Revision, 10) ||
			len(it.line.Events) != 1 || it.line.Events[0].Kv.Value != "x" {
			t.Fatalf("event: %+v, want the put at %d", it, p.Header.Revision)
		}
		return
	}
}

// putSeq writes values from..to-1 to key and returns their revisions.
func putSeq(t *testing.T, u, key string, from, to int) []int64 {
	var revs []int64
	for i := from; i < to; i++ {
		revs = append(revs, put(t, u, key, strconv.Itoa(i)).Header.Revision)
	}
	return revs
}

// testWatchResume: a client that reads some writes live on one node,
// disconnects, and resumes on another with start_revision = last + 1
// sees every write once, the missed ones replayed from history.
func testWatchResume(t *testing.T, c *cluster) {
	lead := c.Leader()
	var names []string
	for _, name := range c.Names {
		if name != lead {
			names = append(names, name)
		}
	}
	first := openWatch(t, c.urls[names[0]]+"/v1/watch?key=seq")
	first.next() // created
	var got []eventJSON
	for i := range 3 {
		putSeq(t, c.urls[lead], "seq", i, i+1)
		got = append(got, first.events(1)...)
	}
	first.close()
	putSeq(t, c.urls[lead], "seq", 3, 10)
	last := got[len(got)-1].Kv.ModRevision
	second := openWatch(t, fmt.Sprintf("%s/v1/watch?key=seq&start_revision=%d", c.urls[names[1]], last+1))
	second.next()
	got = append(got, second.events(7)...)
	for i, ev := range got {
		if ev.Kv.Value != strconv.Itoa(i) {
			t.Fatalf("event %d has value %q: %s", i, ev.Kv.Value, mustJSON(got))
		}
	}
}

// testWatchLastEventID: an EventSource reconnecting sends Last-Event-ID,
// which wins over the start_revision of its unchanged URL.
func testWatchLastEventID(t *testing.T, c *cluster) {
	revs := putSeq(t, c.leaderURL(), "lei", 0, 1)
	path := fmt.Sprintf("/v1/watch?key=lei&start_revision=%d", revs[0])
	ws := openWatch(t, c.urls["n1"]+path, "Accept", "text/event-stream")
	ws.next()
	ws.events(1) // replayed
	revs = append(revs, putSeq(t, c.leaderURL(), "lei", 1, 2)...)
	var it streamItem
	for it = ws.next(); it.event != "events"; it = ws.next() {
	}
	if it.id != strconv.FormatInt(revs[1], 10) {
		t.Fatalf("event id %q, want %d", it.id, revs[1])
	}
	ws.close()
	putSeq(t, c.leaderURL(), "lei", 2, 4)
	ws = openWatch(t, c.urls["n2"]+path, "Accept", "text/event-stream", "Last-Event-ID", it.id)
	ws.next()
	if evs := ws.events(2); evs[0].Kv.Value != "2" || evs[1].Kv.Value != "3" {
		t.Fatalf("after Last-Event-ID %s: %s", it.id, mustJSON(evs))
	}
}

func testWatchProgress(t *testing.T, c *cluster) {
	ws := openWatch(t, c.followerURL()+"/v1/watch?key=quiet")
	created := ws.next().line
	p := ws.next().line // nothing is written to "quiet": a heartbeat comes
	if !p.Progress || p.Header.Revision < created.Header.Revision || len(p.Events) != 0 {
		t.Fatalf("after %s: %s, want progress", mustJSON(created), mustJSON(p))
	}
}

func testWatchFilters(t *testing.T, c *cluster) {
	ws := openWatch(t, c.leaderURL()+"/v1/watch?prefix=f/&no_delete=true")
	ws.next()
	u := c.leaderURL()
	put(t, u, "f/1", "a")
	do(t, http.MethodDelete, u+"/v1/kv/f/1", "").decode(t, http.StatusOK, new(deleteJSON))
	put(t, u, "f/1", "b")
	if evs := ws.events(2); evs[0].Kv.Value != "a" || evs[1].Kv.Value != "b" {
		t.Fatalf("no_delete: %s", mustJSON(evs))
	}
}

func testWatchBadRequests(t *testing.T, c *cluster) {
	u := c.leaderURL()
	for _, bad := range []struct {
		path    string
		headers []string
	}{
		{"/v1/watch", nil},
		{"/v1/watch?key=", nil},
		{"/v1/watch?key=a&start_revision=-1", nil},
		{"/v1/watch?key=a&prefix=b", nil},
		{"/v1/watch?key=a&limit=3", nil},
		{"/v1/watch?key=a", []string{"Last-Event-ID", "yesterday"}},
	} {
		_, r := tryWatch(t, u+bad.path, bad.headers...)
		r.wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
	}
	do(t, http.MethodGet, u+"/v1/watch?key=a", "a body").wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
}

// testWatchDisconnect: a client that goes away frees its stream; with
// MaxWatches 1 a second stream waits for the first to go.
func testWatchDisconnect(t *testing.T, c *cluster) {
	u := c.serve("n1", httpapi.Options{MaxWatches: 1})
	first := openWatch(t, u+"/v1/watch?key=one")
	first.next()
	_, r := tryWatch(t, u+"/v1/watch?key=two")
	r.wantError(t, http.StatusServiceUnavailable, server.CodeBusy)
	first.close()
	var second *watchStream
	c.WaitFor("the closed stream's slot", func() bool { // the server notices the disconnect
		second, _ = tryWatch(t, u+"/v1/watch?key=two")
		return second != nil
	})
	second.next()
}

func testWatchShutdown(t *testing.T, c *cluster) {
	shutdown := make(chan struct{})
	ws := openWatch(t, c.serve("n2", httpapi.Options{Shutdown: shutdown})+"/v1/watch?key=s")
	ws.next()
	close(shutdown)
	if last := ws.ended(); last.Error.Code != server.CodeStopped || !last.Error.Retryable {
		t.Fatalf("last line: %s", mustJSON(last))
	}
}

func testWatchNodeStop(t *testing.T, c *cluster) {
	ws := openWatch(t, c.urls["n3"]+"/v1/watch?key=s", "Accept", "text/event-stream")
	ws.next()
	c.StopNode("n3")
	if last := ws.ended(); last.Error.Code != server.CodeStopped {
		t.Fatalf("last line: %s", mustJSON(last))
	}
}
