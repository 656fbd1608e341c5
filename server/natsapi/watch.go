package natsapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// Bounds of a watch's settings.
const (
	DefaultWatchCredits   = 64
	MaxWatchCredits       = 1 << 16
	DefaultWatchHeartbeat = 5 * time.Second
	MinWatchHeartbeat     = 50 * time.Millisecond
	MaxWatchHeartbeat     = 10 * time.Minute
	// watchSilenceBeats: a side that hears nothing for this many heartbeat
	// intervals considers the other gone.
	watchSilenceBeats = 3
	inboxBytesMax     = 256
	controlBytesMax   = 1024
)

// errWatchInactive ends a watch whose client stopped sending keep-alives.
var errWatchInactive = errors.New("natsapi: watch canceled: no keep-alive from the client")

// watch serves the watch endpoint: it starts a session that publishes the
// events to the client's inbox (see the package doc for the protocol).
func (a *api) watch(c *call) (reply, error) {
	req, err := decodeBody(c, (*WatchCreateJSON).ToWatchCreate)
	if err != nil {
		return reply{}, err
	}
	if err := a.checkWatchCreate(req); err != nil {
		return reply{}, err
	}
	s, err := a.watches.start(req, c.msgpack)
	if err != nil {
		return reply{}, err
	}
	created := WatchCreated{ID: s.id, Control: watchControlSubject(a.opts.Cluster, a.node.ID(), s.id),
		Node: a.name, StartRevision: req.Watch.StartRevision, Credits: req.Credits,
		HeartbeatMillis: int(s.heartbeat / time.Millisecond)}
	return reply{revision: a.node.Status().Revision, value: created}, nil
}

// checkWatchCreate validates a request and fills in its defaults.
func (a *api) checkWatchCreate(req *WatchCreate) error {
	w := &req.Watch
	switch {
	case len(w.Key) == 0:
		return kv.ErrEmptyKey
	case len(w.Key) > kv.DefaultMaxKeyBytes || len(w.RangeEnd) > kv.DefaultMaxKeyBytes:
		return fmt.Errorf("%w: limit %d bytes", kv.ErrKeyTooLarge, kv.DefaultMaxKeyBytes)
	case w.StartRevision < 0:
		return invalidf("start_revision %d is negative", w.StartRevision)
	case !validInbox(req.Inbox):
		return invalidf("inbox %q is not a subject to publish to", req.Inbox)
	case req.Credits < 0 || req.Credits > MaxWatchCredits:
		return invalidf("credits %d: between 1 and %d (0: %d)", req.Credits, MaxWatchCredits, DefaultWatchCredits)
	}
	if req.Credits == 0 {
		req.Credits = DefaultWatchCredits
	}
	hb := time.Duration(req.HeartbeatMillis) * time.Millisecond
	if req.HeartbeatMillis == 0 {
		hb = DefaultWatchHeartbeat
	}
	if hb < MinWatchHeartbeat || hb > MaxWatchHeartbeat {
		return invalidf("heartbeat_ms %d: between %d and %d", req.HeartbeatMillis,
			MinWatchHeartbeat.Milliseconds(), MaxWatchHeartbeat.Milliseconds())
	}
	req.HeartbeatMillis = int(hb.Milliseconds())
	if w.StartRevision == 0 {
		// "From now" is resolved here so that the client learns exactly
		// where the watch starts, and can resume from there.
		w.StartRevision = a.node.Status().Revision + 1
	}
	return nil
}

// validInbox accepts a literal subject: tokens without wildcards or spaces.
func validInbox(s string) bool {
	if s == "" || len(s) > inboxBytesMax || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
	}
	return true
}

// watchTable holds a node's watch sessions and the subscription that
// receives their control messages.
type watchTable struct {
	a   *api
	sub *nats.Subscription // control messages
	mu  struct {
		sync.Mutex
		sessions map[string]*watchSession
		closed   bool
	}
}

func newWatchTable(a *api) *watchTable {
	t := &watchTable{a: a}
	t.mu.sessions = map[string]*watchSession{}
	return t
}

func (t *watchTable) subscribe() error {
	prefix := watchControlPrefix(t.a.opts.Cluster, t.a.node.ID())
	sub, err := t.a.nc.Subscribe(prefix+"*", func(m *nats.Msg) {
		t.control(strings.TrimPrefix(m.Subject, prefix), m)
	})
	t.sub = sub
	return err
}

// start creates and runs a session, refusing beyond MaxWatches.
func (t *watchTable) start(req *WatchCreate, msgpack bool) (*watchSession, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.mu.closed:
		return nil, server.ErrStopped
	case len(t.mu.sessions) >= t.a.opts.MaxWatches:
		return nil, busyError{inflight: len(t.mu.sessions)}
	}
	w, err := t.a.node.Watch(req.Watch)
	if err != nil {
		return nil, err
	}
	s := newWatchSession(t, req, w, msgpack)
	t.mu.sessions[s.id] = s
	go s.run(req.Credits)
	return s, nil
}

func (t *watchTable) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mu.sessions, id)
}

func (t *watchTable) lookup(id string) *watchSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.sessions[id]
}

// closeAll ends every session (the service stopped).
func (t *watchTable) closeAll() {
	if t.sub != nil {
		_ = t.sub.Unsubscribe()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.closed = true
	for _, s := range t.mu.sessions {
		s.stopOnce.Do(func() { close(s.stop) })
	}
}

// control receives a client's credits, keep-alive or cancel. It runs on the
// subscription's goroutine, so it never blocks: it updates the session's
// atomics and nudges its goroutine.
func (t *watchTable) control(id string, m *nats.Msg) {
	s := t.lookup(id)
	if s == nil || len(m.Data) > controlBytesMax {
		return
	}
	var ctl WatchControl
	var err error
	if m.Header.Get(HeaderContentType) == ContentTypeMsgpack {
		err = DecodeMsgpack(m.Data, &ctl)
	} else if len(m.Data) > 0 {
		err = DecodeJSON(m.Data, &ctl)
	}
	if err != nil || ctl.Credits < 0 || ctl.Credits > MaxWatchCredits {
		return
	}
	s.heard.Store(time.Now().UnixNano())
	s.granted.Add(int64(ctl.Credits))
	if ctl.Cancel {
		s.canceled.Store(true)
	}
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}

// watchSession forwards one kv.Watcher to a client's inbox.
type watchSession struct {
	t         *watchTable
	id        string
	inbox     string
	watcher   *kv.Watcher
	msgpack   bool
	heartbeat time.Duration
	seq       uint64 // of the last message sent; owned by run

	granted  atomic.Int64 // credits granted and not yet taken by run
	heard    atomic.Int64 // when the client was last heard, unix ns
	canceled atomic.Bool
	nudge    chan struct{} // a control message arrived
	stop     chan struct{} // the service stopped
	stopOnce sync.Once
}

func newWatchSession(t *watchTable, req *WatchCreate, w *kv.Watcher, msgpack bool) *watchSession {
	s := &watchSession{t: t, id: nuid.Next(), inbox: req.Inbox, watcher: w, msgpack: msgpack,
		heartbeat: time.Duration(req.HeartbeatMillis) * time.Millisecond,
		nudge:     make(chan struct{}, 1), stop: make(chan struct{})}
	s.heard.Store(time.Now().UnixNano())
	return s
}

// run is the session's loop: it forwards responses while it holds credits,
// sends heartbeats when idle, and ends on cancel, silence, the watcher's
// end or the service's stop.
func (s *watchSession) run(credits int) {
	defer s.t.remove(s.id)
	defer s.watcher.Cancel()
	// Ticking at half the interval, and beating on a tick when nothing
	// was sent since the previous one, keeps the silence between two
	// messages within one interval; the client waits three.
	ticker := time.NewTicker(s.heartbeat / 2)
	defer ticker.Stop()
	sent := false // since the last tick
	for {
		credits += int(s.granted.Swap(0))
		var responses <-chan kv.WatchResponse
		if credits > 0 {
			responses = s.watcher.Responses()
		}
		select {
		case resp, ok := <-responses:
			n, err := s.forward(resp, ok)
			if err != nil {
				s.sendCanceled(err, nil)
				return
			}
			if !ok || resp.Canceled {
				return
			}
			credits -= n
			sent = true
		case <-s.nudge:
			if s.canceled.Load() {
				return
			}
		case now := <-ticker.C:
			if now.Sub(time.Unix(0, s.heard.Load())) > watchSilenceBeats*s.heartbeat {
				s.t.a.log.Debug("watch inactive: canceling", "watch", s.id)
				return
			}
			if sent {
				sent = false
			} else {
				s.beat(credits > 0)
				sent = true
			}
		case <-s.stop: // the service stopped
			s.sendCanceled(server.ErrStopped, nil)
			return
		case <-s.t.a.node.Done(): // the node stops: the client resumes elsewhere
			s.sendCanceled(server.ErrStopped, nil)
			return
		}
	}
}

// forward sends one response of the watcher (or its end, when !ok) and
// returns the credits it used.
func (s *watchSession) forward(resp kv.WatchResponse, ok bool) (int, error) {
	switch {
	case !ok:
		s.sendCanceled(watcherEnd(s.watcher.Err()), nil)
		return 0, nil
	case resp.Canceled:
		s.sendCanceled(watcherEnd(s.watcher.Err()), &resp)
		return 0, nil
	}
	return s.sendResponse(resp)
}

// watcherEnd is the error a client is told when the kv watcher ended.
func watcherEnd(err error) error {
	switch {
	case err == nil:
		return errors.New("natsapi: the watch ended")
	case errors.Is(err, kv.ErrClosed):
		return fmt.Errorf("%w: %w", server.ErrStopped, err)
	}
	return err
}

// beat sends a heartbeat and, with credits left, asks the watcher for a
// progress notification, which tells the client how far it is up to date.
func (s *watchSession) beat(withProgress bool) {
	s.publish(WatchKindHeartbeat, nil, false, nil)
	if withProgress {
		s.watcher.RequestProgress()
	}
}

// sendResponse publishes resp, split into as many messages as the NATS
// max payload needs; each costs one credit.
func (s *watchSession) sendResponse(resp kv.WatchResponse) (int, error) {
	parts, err := s.split(resp)
	if err != nil {
		return 0, err
	}
	kind := WatchKindEvents
	if len(resp.Events) == 0 {
		kind = WatchKindProgress
	}
	for i, data := range parts {
		if err := s.publish(kind, data, i < len(parts)-1, nil); err != nil {
			return i, err
		}
	}
	return len(parts), nil
}

// split encodes resp in parts that each fit a message; a revision's events
// may be split, and the client reassembles them (Natsraft-Watch-More).
func (s *watchSession) split(resp kv.WatchResponse) ([][]byte, error) {
	data, err := s.encode(&resp)
	if err != nil {
		return nil, err
	}
	if len(data) <= s.t.a.payloadLimit() {
		return [][]byte{data}, nil
	}
	if len(resp.Events) < 2 {
		return nil, fmt.Errorf("%w: an event of %d bytes does not fit a NATS message (%d)",
			kv.ErrRequestTooLarge, len(data), s.t.a.payloadLimit())
	}
	half := len(resp.Events) / 2
	first, rest := resp, resp
	first.Events, rest.Events = resp.Events[:half], resp.Events[half:]
	a, err := s.split(first)
	if err != nil {
		return nil, err
	}
	b, err := s.split(rest)
	return append(a, b...), err
}

func (s *watchSession) encode(resp *kv.WatchResponse) ([]byte, error) {
	if s.msgpack {
		return marshal(true, resp)
	}
	return marshal(false, WatchResponseToJSON(resp))
}

// sendCanceled tells the client the watch ended, why, and the final
// response of the watcher if any.
func (s *watchSession) sendCanceled(cause error, final *kv.WatchResponse) {
	body := errorBody(cause, s.t.a.node.Status().Revision)
	var data []byte
	if final != nil {
		data, _ = s.encode(final)
		if len(data) > s.t.a.payloadLimit() {
			data = nil
		}
	}
	_ = s.publish(WatchKindCanceled, data, false, errorHeaders(body))
}

func (s *watchSession) publish(kind string, data []byte, more bool, extra map[string][]string) error {
	s.seq++
	m := nats.NewMsg(s.inbox)
	m.Data = data
	for k, v := range extra {
		m.Header[k] = v
	}
	m.Header.Set(HeaderWatchID, s.id)
	m.Header.Set(HeaderWatchSeq, strconv.FormatUint(s.seq, 10))
	m.Header.Set(HeaderWatchKind, kind)
	if more {
		m.Header.Set(HeaderWatchMore, "1")
	}
	if s.msgpack {
		m.Header.Set(HeaderContentType, ContentTypeMsgpack)
	}
	return s.t.a.nc.PublishMsg(m)
}
