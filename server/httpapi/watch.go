package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// streamLine is one line of a watch stream (one server-sent event's data).
// Exactly one of Created, Events, Progress and Canceled is set.
type streamLine struct {
	withHeader
	// Created: the watch is registered; the first line of every stream.
	Created bool `json:"created,omitempty"`
	// Events in revision order; a revision is never split across lines.
	Events []event `json:"events,omitempty"`
	// Progress: every event up to header.revision has been sent.
	Progress bool `json:"progress,omitempty"`
	// Canceled: the last line; Error says why.
	Canceled bool         `json:"canceled,omitempty"`
	Error    *errorDetail `json:"error,omitempty"`
}

// Server-sent event names, one per kind of line.
const (
	sseCreated  = "created"
	sseEvents   = "events"
	sseProgress = "progress"
	sseCanceled = "canceled"
)

var errShuttingDown = errorf(http.StatusServiceUnavailable, server.CodeStopped,
	"the HTTP server is shutting down: resume the watch on another node")

// watch: GET /v1/watch, a stream of JSON lines, or of server-sent events
// when the client accepts text/event-stream.
func (a *api) watch(w http.ResponseWriter, r *http.Request, q *query) {
	req, err := watchRequest(r, q)
	if err == nil {
		err = drainBody(w, r)
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	select {
	case a.watchSlots <- struct{}{}:
		defer func() { <-a.watchSlots }()
	default:
		a.fail(w, errorf(http.StatusServiceUnavailable, server.CodeBusy,
			"this node already serves %d watch streams", a.opts.MaxWatches))
		return
	}
	watcher, err := a.n.Watch(*req)
	if err != nil {
		a.fail(w, err)
		return
	}
	defer watcher.Cancel()
	s := &stream{w: w, rc: http.NewResponseController(w), codec: q.codec, writeTimeout: a.opts.WatchWriteTimeout,
		sse: strings.Contains(r.Header.Get("Accept"), "text/event-stream")}
	rev := a.n.Status().Revision
	s.start(rev)
	created := &streamLine{Created: true}
	created.setRevision(rev)
	if s.send(sseCreated, 0, created) {
		a.pump(r.Context(), s, watcher)
	}
}

// watchBodyBytesMax bounds the body a watch reads to refuse it.
const watchBodyBytesMax = 64 << 10

// drainBody refuses a body on a watch, reading it first: net/http notices
// that a client went away only once the request body is read to its end,
// and a stream must end with its client.
func drainBody(w http.ResponseWriter, r *http.Request) error {
	n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, watchBodyBytesMax))
	switch {
	case err != nil:
		return readError(err)
	case n > 0:
		return badRequest("a watch takes no body")
	}
	return nil
}

// watchRequest reads the keys (as GET /v1/kv), start_revision and the
// filters. A Last-Event-ID (an EventSource reconnecting) resumes after it.
func watchRequest(r *http.Request, q *query) (*kv.WatchRequest, error) {
	s := q.querySpan()
	req := &kv.WatchRequest{Key: s.key, RangeEnd: s.end, StartRevision: q.int("start_revision"),
		PrevKv: q.bool("prev_kv"), NoPut: q.bool("no_put"), NoDelete: q.bool("no_delete")}
	switch {
	case q.err != nil:
		return nil, q.err
	case len(req.Key) == 0:
		return nil, kv.ErrEmptyKey
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		last, err := strconv.ParseInt(id, 10, 64)
		if err != nil || last < 0 {
			return nil, badRequest("Last-Event-ID %q: want the revision of the last event received", id)
		}
		req.StartRevision = max(req.StartRevision, last+1)
	}
	return req, nil
}

// pump copies the watcher's responses to the stream until the client
// leaves, the watch ends or the server shuts down. An idle stream gets a
// progress line every WatchProgressInterval.
func (a *api) pump(ctx context.Context, s *stream, watcher *kv.Watcher) {
	idle := time.NewTimer(a.opts.WatchProgressInterval)
	defer idle.Stop()
	for {
		select {
		case resp, ok := <-watcher.Responses():
			if !ok {
				s.end(watcher.Err(), a.n.Status().Revision)
				return
			}
			if !s.response(resp) || resp.Canceled {
				return
			}
			idle.Reset(a.opts.WatchProgressInterval)
		case <-idle.C:
			watcher.RequestProgress()
			idle.Reset(a.opts.WatchProgressInterval)
		case <-ctx.Done():
			return
		case <-a.opts.Shutdown:
			s.end(errShuttingDown, a.n.Status().Revision)
			return
		}
	}
}

// stream writes the lines of one watch.
type stream struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	sse          bool
	codec        codec
	writeTimeout time.Duration
}

func (s *stream) start(rev int64) {
	h := s.w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	if s.sse {
		h.Set("Content-Type", "text/event-stream")
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies: do not buffer the stream
	h.Set(revisionHeader, formatRevision(rev))
	s.w.WriteHeader(http.StatusOK)
}

// response writes one response of the watcher.
func (s *stream) response(resp kv.WatchResponse) bool {
	line := &streamLine{}
	line.setRevision(resp.Header.Revision)
	switch {
	case resp.Canceled:
		line.Canceled = true
		line.Error = &errorDetail{Code: server.CodeInternal, Message: resp.CancelReason}
		if resp.CompactRevision > 0 {
			line.Error.Code, line.Error.CompactRevision = server.CodeCompacted, resp.CompactRevision
		}
		return s.send(sseCanceled, 0, line)
	case len(resp.Events) == 0:
		line.Progress = true
		return s.send(sseProgress, resp.Header.Revision, line)
	}
	line.Events = s.codec.events(resp.Events)
	// Not the header's revision: a response replayed from history may
	// stop short of it. Every event up to the last one's has been sent.
	return s.send(sseEvents, resp.Events[len(resp.Events)-1].Kv.ModRevision, line)
}

// end writes the last line, saying why the stream ends.
func (s *stream) end(err error, rev int64) {
	if err == nil {
		err = kv.ErrWatchCanceled
	}
	_, d := describe(err)
	line := &streamLine{Canceled: true, Error: &d}
	line.setRevision(rev)
	s.send(sseCanceled, 0, line)
}

// send writes one line, as a server-sent event with the resume revision
// as its id when resumeRev > 0. It reports whether the client took it.
func (s *stream) send(name string, resumeRev int64, line *streamLine) bool {
	var buf bytes.Buffer
	if s.sse {
		if resumeRev > 0 {
			buf.WriteString("id: " + formatRevision(resumeRev) + "\n")
		}
		buf.WriteString("event: " + name + "\ndata: ")
	}
	if err := newEncoder(&buf).Encode(line); err != nil {
		return false
	}
	if s.sse {
		buf.WriteByte('\n')
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout)) // unsupported by some writers: fine
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return false
	}
	return s.rc.Flush() == nil
}
