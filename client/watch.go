package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
)

// WatchResponse is one step of a watch: events in revision order (a
// revision's events are never split), or a progress notification (no
// events; only with WithProgressNotify), or the end of the watch
// (Canceled, with Err).
type WatchResponse struct {
	Header kv.ResponseHeader
	Events []kv.Event
	// CompactRevision is set when the watch ended because the revision it
	// had to start or resume from was compacted.
	CompactRevision int64
	Canceled        bool
	err             error
}

// Err is why the watch ended (on the last response), nil otherwise.
func (r *WatchResponse) Err() error { return r.err }

// IsProgressNotify reports a progress notification: every event up to
// Header.Revision has been delivered.
func (r *WatchResponse) IsProgressNotify() bool { return len(r.Events) == 0 && !r.Canceled }

// WatchChan delivers a watch's responses; it is closed when the watch ends.
type WatchChan <-chan WatchResponse

// Watch watches key (or a range, with the range options) from WithRev, or
// from after the newest revision this client has seen. Events arrive in
// revision order, each exactly once: when the node serving the watch fails
// or goes silent, the watch resumes on another node from the revision
// after the last one delivered, transparently. The channel closes when ctx
// is done, or after a last response with Canceled set and Err saying why
// (ErrCompacted, with CompactRevision, when the history to resume from is
// gone). Consume the channel: the node sends no more than
// Options.WatchCredits messages ahead of the consumer.
func (c *Client) Watch(ctx context.Context, key string, opts ...OpOption) WatchChan {
	o := newOp(opts)
	w := &watcher{c: c, ctx: ctx, req: o.watchRequest(key), progressNotify: o.progressNotify,
		out: make(chan WatchResponse)}
	w.nextRevision = w.req.StartRevision
	if w.nextRevision == 0 && c.Revision() > 0 {
		w.nextRevision = c.Revision() + 1
	}
	go w.run()
	return w.out
}

// watcher is the goroutine of one Watch.
type watcher struct {
	c              *Client
	ctx            context.Context
	req            kv.WatchRequest
	progressNotify bool
	out            chan WatchResponse

	// nextRevision is the first revision not yet received in full: where
	// a resumed watch starts. 0 until known ("from now").
	nextRevision int64
	// pending are received responses not yet delivered, with the credits
	// each frees once delivered.
	pending      []WatchResponse
	pendingParts []int
	// grant is the credits freed and not yet granted to the node.
	grant int
	// partial collects the parts of a response split across messages.
	partial      *kv.WatchResponse
	partialParts int
}

// testHookSession, when set by a test, learns the node of each session.
var testHookSession func(node string)

// session is the watch as served by one node.
type session struct {
	id        string
	sub       *nats.Subscription
	msgs      chan *nats.Msg
	control   string
	heartbeat time.Duration
	lastSeq   uint64
	heard     time.Time
	sent      bool // a control message went out since the last tick
}

// sessionEnd says why a session ended.
type sessionEnd int

const (
	endResume   sessionEnd = iota // the node failed or went silent: resume elsewhere
	endFinal                      // the watch is over (a final response is pending)
	endCanceled                   // ctx is done
)

func (w *watcher) run() {
	defer close(w.out)
	for {
		s, err := w.open()
		if err != nil {
			w.finish(err)
			return
		}
		end := w.serve(s)
		w.close(s, end != endFinal)
		switch end {
		case endCanceled:
			return
		case endFinal:
			w.drain()
			return
		}
	}
}

// open starts a session on whichever node answers, retrying until ctx is
// done or the watch is refused for good.
func (w *watcher) open() (*session, error) {
	for attempt := 0; ; attempt++ {
		s, err := w.tryOpen()
		if err == nil {
			return s, nil
		}
		if !resumable(err) {
			return nil, err
		}
		if werr := w.c.backoff(w.ctx, attempt); werr != nil {
			return nil, werr
		}
	}
}

func (w *watcher) tryOpen() (*session, error) {
	parts := 0
	for _, n := range w.pendingParts {
		parts += n
	}
	credits := max(1, w.c.opts.WatchCredits-parts)
	s := &session{msgs: make(chan *nats.Msg, credits+16)}
	inbox := w.c.nc.NewInbox()
	sub, err := w.c.nc.ChanSubscribe(inbox, s.msgs)
	if err != nil {
		return nil, err
	}
	req := w.req
	req.StartRevision = w.nextRevision
	create := natsapi.WatchCreate{Watch: req, Inbox: inbox, Credits: credits,
		HeartbeatMillis: int(w.c.opts.WatchHeartbeat.Milliseconds())}
	var created natsapi.WatchCreated
	if _, err := w.c.do(w.ctx, request{endpoint: natsapi.EndpointWatch, body: &create, idempotent: true, anyNode: true}, &created); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	s.id, s.sub, s.control = created.ID, sub, created.Control
	s.heartbeat = time.Duration(created.HeartbeatMillis) * time.Millisecond
	s.heard = time.Now()
	w.nextRevision = created.StartRevision
	w.grant, w.partial, w.partialParts = 0, nil, 0
	if testHookSession != nil {
		testHookSession(created.Node)
	}
	return s, nil
}

// resumable reports whether a failed (re)start may be tried again.
func resumable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code.Retryable() || e.Code == server.CodeTimeout
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout)
}

// serve runs one session until it ends.
func (w *watcher) serve(s *session) sessionEnd {
	ticker := time.NewTicker(s.heartbeat / 2)
	defer ticker.Stop()
	for {
		var out chan WatchResponse
		var next WatchResponse
		if len(w.pending) > 0 {
			out, next = w.out, w.pending[0]
		}
		select {
		case out <- next:
			w.grant += w.pendingParts[0]
			w.pending, w.pendingParts = w.pending[1:], w.pendingParts[1:]
			if w.grant >= max(1, w.c.opts.WatchCredits/2) {
				w.sendControl(s, natsapi.WatchControl{Credits: w.grant})
			}
		case m := <-s.msgs:
			if end, done := w.receive(s, m); done {
				return end
			}
		case now := <-ticker.C:
			if now.Sub(s.heard) > 3*s.heartbeat {
				return endResume // the node is gone
			}
			if s.sent {
				s.sent = false
			} else {
				w.sendControl(s, natsapi.WatchControl{Credits: w.grant}) // a keep-alive
			}
		case <-w.ctx.Done():
			return endCanceled
		}
	}
}

// receive handles one message of the session.
func (w *watcher) receive(s *session, m *nats.Msg) (sessionEnd, bool) {
	if m.Header.Get(natsapi.HeaderWatchID) != s.id {
		return 0, false // an abandoned session's message on the same inbox
	}
	s.heard = time.Now()
	seq, err := strconv.ParseUint(m.Header.Get(natsapi.HeaderWatchSeq), 10, 64)
	if err != nil || seq != s.lastSeq+1 {
		return endResume, true // a lost message: resume from what is complete
	}
	s.lastSeq = seq
	switch m.Header.Get(natsapi.HeaderWatchKind) {
	case natsapi.WatchKindEvents, natsapi.WatchKindProgress:
		if err := w.receiveResponse(m); err != nil {
			w.enqueueEnd(err, 0)
			return endFinal, true
		}
	case natsapi.WatchKindCanceled:
		return w.receiveCanceled(m), true
	}
	return 0, false
}

// receiveResponse reassembles a response and queues it for delivery.
func (w *watcher) receiveResponse(m *nats.Msg) error {
	var part kv.WatchResponse
	if err := msgpack.Unmarshal(m.Data, &part); err != nil {
		return fmt.Errorf("%w: undecodable watch message: %v", ErrInternal, err)
	}
	if w.partial == nil {
		w.partial = &part
	} else {
		w.partial.Events = append(w.partial.Events, part.Events...)
		w.partial.Header = part.Header
	}
	w.partialParts++
	if m.Header.Get(natsapi.HeaderWatchMore) != "" {
		return nil
	}
	resp, parts := *w.partial, w.partialParts
	w.partial, w.partialParts = nil, 0
	w.accept(resp, parts)
	return nil
}

// accept advances the resume point past resp and queues it. Events below
// the resume point were delivered already (never twice).
func (w *watcher) accept(resp kv.WatchResponse, parts int) {
	events := resp.Events[:0]
	for _, ev := range resp.Events {
		if ev.Kv.ModRevision >= w.nextRevision {
			events = append(events, ev)
		}
	}
	hadEvents := len(resp.Events) > 0
	resp.Events = events
	switch {
	case len(events) > 0:
		w.nextRevision = events[len(events)-1].Kv.ModRevision + 1
	case !hadEvents:
		w.nextRevision = max(w.nextRevision, resp.Header.Revision+1)
	}
	if len(events) == 0 && (hadEvents || !w.progressNotify) {
		w.grant += parts
		return
	}
	w.pending = append(w.pending, WatchResponse{Header: resp.Header, Events: events})
	w.pendingParts = append(w.pendingParts, parts)
}

// receiveCanceled ends the session: a node that stopped is left for
// another; any other reason ends the watch.
func (w *watcher) receiveCanceled(m *nats.Msg) sessionEnd {
	err := replyError(m)
	if err == nil {
		err = fmt.Errorf("%w: watch canceled without a reason", ErrInternal)
	}
	if resumable(err) {
		return endResume
	}
	var final kv.WatchResponse
	if len(m.Data) > 0 {
		_ = msgpack.Unmarshal(m.Data, &final)
	}
	compact := final.CompactRevision
	if e := (*Error)(nil); errors.As(err, &e) && compact == 0 {
		compact = e.CompactRevision
	}
	w.enqueueEnd(err, compact)
	return endFinal
}

func (w *watcher) enqueueEnd(err error, compactRevision int64) {
	w.pending = append(w.pending, WatchResponse{Canceled: true, CompactRevision: compactRevision, err: err,
		Header: kv.ResponseHeader{Revision: w.nextRevision - 1}})
	w.pendingParts = append(w.pendingParts, 0)
}

// sendControl grants credits and shows the node the client is alive.
func (w *watcher) sendControl(s *session, ctl natsapi.WatchControl) {
	data, err := msgpack.Marshal(&ctl)
	if err != nil {
		return
	}
	m := nats.NewMsg(s.control)
	m.Data = data
	m.Header.Set(natsapi.HeaderContentType, natsapi.ContentTypeMsgpack)
	if w.c.nc.PublishMsg(m) == nil && ctl.Credits > 0 {
		w.grant -= ctl.Credits
	}
	s.sent = true
}

// close leaves a session, asking its node to stop when it may still run.
func (w *watcher) close(s *session, cancelRemote bool) {
	if cancelRemote {
		w.sendControl(s, natsapi.WatchControl{Cancel: true})
	}
	_ = s.sub.Unsubscribe()
}

// finish delivers the end of a watch that could not (re)start.
func (w *watcher) finish(err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if w.ctx.Err() != nil {
			return
		}
	}
	var compact int64
	if e := (*Error)(nil); errors.As(err, &e) {
		compact = e.CompactRevision
	}
	w.enqueueEnd(err, compact)
	w.drain()
}

// drain delivers what is pending, the last response included.
func (w *watcher) drain() {
	for _, resp := range w.pending {
		select {
		case w.out <- resp:
		case <-w.ctx.Done():
			return
		}
	}
	w.pending, w.pendingParts = nil, nil
}
