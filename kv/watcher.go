package kv

type watcherState uint8

const (
	watcherSynced watcherState = iota + 1
	watcherCatchingUp
	watcherClosed
)

// Watcher delivers the events of one watch on Responses, in revision order,
// with no gap and no duplicate. The channel is closed when the watcher ends;
// Err then says why.
type Watcher struct {
	hub      *hub
	span     span
	prevKv   bool
	noPut    bool
	noDelete bool
	ch       chan WatchResponse
	done     chan struct{} // closed when the watcher is closed

	// Guarded by hub.mu.
	state watcherState
	// nextRev is the first revision whose events are not sent yet.
	// Invariant: every matching event below nextRev has been sent, once.
	nextRev int64
	// progress: a progress notification is owed. Invariant: only while
	// catching up (a synced watcher sends it at once).
	progress bool
	err      error
}

func newWatcher(h *hub, req WatchRequest) *Watcher {
	key := req.Key
	if len(key) == 0 {
		key = []byte{0}
	}
	return &Watcher{
		hub:      h,
		span:     makeSpan(key, req.RangeEnd),
		prevKv:   req.PrevKv,
		noPut:    req.NoPut,
		noDelete: req.NoDelete,
		ch:       make(chan WatchResponse, h.bufferSize),
		done:     make(chan struct{}),
	}
}

// Responses is the channel of responses, closed when the watcher ends.
func (w *Watcher) Responses() <-chan WatchResponse { return w.ch }

// Err is why the watcher ended: nil while it runs, then ErrWatchCanceled,
// ErrClosed, a *CompactedError, or a storage error.
func (w *Watcher) Err() error {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	return w.err
}

// Cancel ends the watcher. Its channel is closed soon after (at once if it is
// synced). Cancel may be called more than once.
func (w *Watcher) Cancel() {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.state != watcherClosed {
		h.closeWatcher(w, ErrWatchCanceled)
	}
}

// RequestProgress asks for a progress notification: a response with no
// events whose Header.Revision is a revision up to which every event has been
// sent. It comes after the events already queued, once the watcher has
// caught up.
func (w *Watcher) RequestProgress() {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.state == watcherClosed {
		return
	}
	if w.state == watcherSynced {
		select {
		case w.ch <- WatchResponse{Header: ResponseHeader{Revision: h.mu.rev}}:
			return
		default: // full: the catch-up goroutine will send it
			delete(h.mu.synced, w)
			h.startCatchUp(w)
		}
	}
	w.progress = true
}

// ProgressAll is etcd's RequestProgressAll for the watchers of one watch
// stream. If every watcher is synced, has room in its channel and does not
// wait for a future start revision, it queues on each, under the hub lock,
// a response with no events, StreamProgress set and the published revision
// R: each watcher's events up to R come before that response and later ones
// after it, so a stream that holds back what follows each marker until all
// markers arrived can announce R for all its watchers at once. Otherwise it
// queues nothing and returns false: etcd then ignores the request and the
// client asks again. Every watcher must come from s.
func (s *Store) ProgressAll(ws []*Watcher) (int64, bool) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range ws {
		if w.hub != h {
			panic("kv: ProgressAll with a watcher of another store")
		}
		if w.state != watcherSynced || w.nextRev > h.mu.rev+1 || len(w.ch) == cap(w.ch) {
			return 0, false
		}
	}
	resp := WatchResponse{Header: ResponseHeader{Revision: h.mu.rev}, StreamProgress: true}
	for _, w := range ws {
		w.ch <- resp // room checked above; only the hub sends to a synced watcher
	}
	return h.mu.rev, true
}

// send blocks until resp is queued or the watcher is closed.
func (w *Watcher) send(resp WatchResponse) bool {
	select {
	case w.ch <- resp:
		return true
	case <-w.done:
		return false
	}
}

// wants reports whether an event of this type on key is for w.
func (w *Watcher) wants(typ EventType, key []byte) bool {
	if (typ == EventPut && w.noPut) || (typ == EventDelete && w.noDelete) {
		return false
	}
	return w.span.contains(key)
}

// filter returns w's share of published events: those at or after nextRev
// that it wants, without PrevKv unless asked. complete is false when w wants
// a previous value that Apply did not read. REQUIRES: hub.mu held.
func (w *Watcher) filter(events []Event) (out []Event, complete bool) {
	for i := range events {
		ev := &events[i]
		if ev.Kv.ModRevision < w.nextRev || !w.wants(ev.Type, ev.Kv.Key) {
			continue
		}
		if w.prevKv && ev.prevUnknown {
			return nil, false
		}
		out = append(out, *ev)
		out[len(out)-1].prevUnknown = false
		if !w.prevKv {
			out[len(out)-1].PrevKv = nil
		}
	}
	return out, true
}
