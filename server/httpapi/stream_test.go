package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// watchStream is an open watch whose lines a goroutine parses.
type watchStream struct {
	t     testing.TB
	resp  *http.Response
	sse   bool
	items chan streamItem
	done  chan struct{}
}

// streamItem is one line of the stream (one event, with SSE).
type streamItem struct {
	id, event string // SSE only
	line      lineJSON
}

// streamClient has no timeout: a stream lasts as long as the test wants.
var streamClient = &http.Client{}

// tryWatch opens a watch; on a status other than 200 it returns the
// result instead.
func tryWatch(t testing.TB, url string, headers ...string) (*watchStream, result) {
	t.Helper()
	resp, err := streamClient.Do(newRequest(t, http.MethodGet, url, "", headers...))
	if err != nil {
		t.Fatalf("watch %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		r := result{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
		r.checkRevision(t, "watch "+url)
		return nil, r
	}
	ws := &watchStream{t: t, resp: resp, items: make(chan streamItem, 64), done: make(chan struct{}),
		sse: resp.Header.Get("Content-Type") == "text/event-stream"}
	t.Cleanup(ws.close)
	go ws.read()
	return ws, result{status: resp.StatusCode, header: resp.Header}
}

func openWatch(t testing.TB, url string, headers ...string) *watchStream {
	t.Helper()
	ws, r := tryWatch(t, url, headers...)
	if ws == nil {
		t.Fatalf("watch %s: %d %s", url, r.status, r.body)
	}
	if _, err := fmt.Sscan(r.header.Get("X-Natsraft-Revision"), new(int64)); err != nil {
		t.Fatalf("watch without X-Natsraft-Revision: %v", err)
	}
	return ws
}

func (ws *watchStream) close() {
	select {
	case <-ws.done:
	default:
		close(ws.done)
		ws.resp.Body.Close()
	}
}

// read parses the stream until it ends, then closes items.
func (ws *watchStream) read() {
	defer close(ws.items)
	sc := bufio.NewScanner(ws.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var item streamItem
	var data string
	for sc.Scan() {
		text := sc.Text()
		switch {
		case !ws.sse:
			data = text
		case text != "":
			field, value, _ := strings.Cut(text, ": ")
			switch field {
			case "id":
				item.id = value
			case "event":
				item.event = value
			case "data":
				data = value
			default:
				data = "unknown SSE field " + field
			}
			continue
		}
		dec := json.NewDecoder(strings.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&item.line); err != nil {
			item.line = lineJSON{Error: &errorDetailJSON{Message: fmt.Sprintf("bad line %q: %v", data, err)}}
		}
		select {
		case ws.items <- item:
		case <-ws.done:
			return
		}
		item, data = streamItem{}, ""
	}
}

// next returns the next line; it fails the test if the stream ends or
// stays silent for 10 s.
func (ws *watchStream) next() streamItem {
	ws.t.Helper()
	select {
	case it, ok := <-ws.items:
		if !ok {
			ws.t.Fatal("the watch stream ended")
		}
		return it
	case <-time.After(10 * time.Second):
		ws.t.Fatal("no line on the watch stream for 10s")
	}
	return streamItem{}
}

// events returns the next n events, skipping progress lines; lines never
// split a revision, so n must end at a line's end.
func (ws *watchStream) events(n int) []eventJSON {
	ws.t.Helper()
	var out []eventJSON
	for len(out) < n {
		it := ws.next()
		switch {
		case it.line.Progress:
			continue
		case len(it.line.Events) == 0:
			ws.t.Fatalf("want events, got %s", mustJSON(it.line))
		}
		out = append(out, it.line.Events...)
	}
	if len(out) != n {
		ws.t.Fatalf("got %d events, want %d: %s", len(out), n, mustJSON(out))
	}
	return out
}

// ended waits for the last line, a canceled one, and the end of the stream.
func (ws *watchStream) ended() lineJSON {
	ws.t.Helper()
	var last streamItem
	for {
		select {
		case it, ok := <-ws.items:
			if !ok {
				if !last.line.Canceled || last.line.Error == nil {
					ws.t.Fatalf("the stream ended after %s, not a canceled line", mustJSON(last.line))
				}
				return last.line
			}
			last = it
		case <-time.After(10 * time.Second):
			ws.t.Fatal("the watch stream did not end within 10s")
		}
	}
}
