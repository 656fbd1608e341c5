package kv

import (
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
)

// WatchRequest is etcd's WatchCreateRequest. Key and RangeEnd follow Range's
// rules; an empty Key is "\x00" (etcd's watch server does the same).
// StartRevision 0 watches from the next revision.
type WatchRequest struct {
	Key           []byte `msgpack:"key,omitempty"`
	RangeEnd      []byte `msgpack:"range_end,omitempty"`
	StartRevision int64  `msgpack:"start_revision,omitempty"`
	PrevKv        bool   `msgpack:"prev_kv,omitempty"`
	NoPut         bool   `msgpack:"no_put,omitempty"`    // etcd filter NOPUT
	NoDelete      bool   `msgpack:"no_delete,omitempty"` // etcd filter NODELETE
}

// WatchResponse carries events in revision order (a revision is never split
// across responses), or, with no events, a progress notification: every
// event up to Header.Revision has been sent. The last response of a watcher
// canceled by the Store has Canceled set; CompactRevision is set when the
// watcher fell behind a compaction.
type WatchResponse struct {
	Header          ResponseHeader `msgpack:"header"`
	Events          []Event        `msgpack:"events,omitempty"`
	CompactRevision int64          `msgpack:"compact_revision,omitempty"`
	Canceled        bool           `msgpack:"canceled,omitempty"`
	CancelReason    string         `msgpack:"cancel_reason,omitempty"`
	// StreamProgress marks the progress notification queued by
	// ProgressAll, on behalf of a group of watchers.
	StreamProgress bool `msgpack:"-"`
}

// hub hands published events to watchers. A watcher is either synced (it
// gets live events from publish, never blocking it) or catching up (its own
// goroutine replays history from Pebble until it reaches the published
// revision, then joins the synced set under the lock, so no revision is
// missed or sent twice). A synced watcher whose buffer is full falls back to
// catching up: etcd's unsynced/victim scheme, with bounded memory.
type hub struct {
	db            *pebble.DB
	keys          keys
	bufferSize    int
	catchUpEvents int
	goroutines    sync.WaitGroup // catch-up goroutines
	prevKvCount   atomic.Int64   // open watchers that want prev_kv

	mu struct {
		sync.Mutex
		rev        int64 // published revision
		compactRev int64 // published compaction revision
		watchers   map[*Watcher]struct{}
		synced     map[*Watcher]struct{}
		closed     bool
	}
}

func newHub(db *pebble.DB, k keys, opts Options, rev, compactRev int64) *hub {
	h := &hub{db: db, keys: k, bufferSize: opts.WatchBufferResponses, catchUpEvents: opts.WatchCatchUpEvents}
	h.mu.rev, h.mu.compactRev = rev, compactRev
	h.mu.watchers = map[*Watcher]struct{}{}
	h.mu.synced = map[*Watcher]struct{}{}
	return h
}

// wantsPrevKv tells Apply whether to read previous values for events. A
// watcher that arrives after Apply skipped one gets it from history.
func (h *hub) wantsPrevKv() bool { return h.prevKvCount.Load() > 0 }

// published returns the published revision and compaction revision.
func (h *hub) published() (rev, compactRev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.rev, h.mu.compactRev
}

// Watch starts a watcher. A StartRevision below the compaction revision is
// refused with a *CompactedError.
func (s *Store) Watch(req WatchRequest) (*Watcher, error) {
	h := s.hub
	w := newWatcher(h, req)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.mu.closed:
		return nil, ErrClosed
	case req.StartRevision < 0:
		return nil, invalidf("negative start revision %d", req.StartRevision)
	case req.StartRevision > 0 && req.StartRevision < h.mu.compactRev:
		return nil, &CompactedError{CompactRevision: h.mu.compactRev}
	}
	h.mu.watchers[w] = struct{}{}
	if w.prevKv {
		h.prevKvCount.Add(1)
	}
	if req.StartRevision == 0 || req.StartRevision > h.mu.rev {
		w.nextRev = max(h.mu.rev+1, req.StartRevision)
		w.state = watcherSynced
		h.mu.synced[w] = struct{}{}
		return w, nil
	}
	w.nextRev = req.StartRevision
	h.startCatchUp(w)
	return w, nil
}

// publish makes rev the published revision and sends events (those of the
// revisions after the previous one, in order) to the synced watchers.
// After a restore every synced watcher catches up from the new state.
func (h *hub) publish(events []Event, rev, compactRev int64, restored bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.rev, h.mu.compactRev = rev, compactRev
	for w := range h.mu.synced {
		if restored {
			delete(h.mu.synced, w)
			h.startCatchUp(w)
			continue
		}
		h.deliver(w, events, rev)
	}
}

// deliver sends w its share of events without blocking, or moves it to
// catching up when its buffer is full or it needs a previous value that
// Apply did not read. REQUIRES: h.mu held, w synced.
func (h *hub) deliver(w *Watcher, events []Event, rev int64) {
	evs, complete := w.filter(events)
	if complete && len(evs) == 0 {
		w.nextRev = max(w.nextRev, rev+1)
		return
	}
	if complete {
		select {
		case w.ch <- WatchResponse{Header: ResponseHeader{Revision: rev}, Events: evs}:
			w.nextRev = max(w.nextRev, rev+1)
			return
		default:
		}
	}
	delete(h.mu.synced, w)
	h.startCatchUp(w)
}

// startCatchUp REQUIRES: h.mu held, w not synced.
func (h *hub) startCatchUp(w *Watcher) {
	w.state = watcherCatchingUp
	h.goroutines.Add(1)
	go h.catchUp(w)
}

// catchUp replays history to w, a chunk at a time, until w reaches the
// published revision and joins the synced set.
func (h *hub) catchUp(w *Watcher) {
	defer h.goroutines.Done()
	for {
		from, target, progress, ok := h.catchUpStep(w)
		if !ok {
			return
		}
		resp, next := WatchResponse{Header: ResponseHeader{Revision: target}}, from
		if from <= target {
			var err error
			if resp, next, err = h.replay(w, from, target); err != nil {
				h.endCatchUp(w, err)
				return
			}
		}
		// A progress notification is a response without events; one owed
		// after events goes out on the next step (from > target).
		progressSent := progress && next > target && len(resp.Events) == 0
		if (len(resp.Events) > 0 || progressSent) && !w.send(resp) {
			h.endCatchUp(w, nil)
			return
		}
		h.advance(w, next, progressSent)
	}
}

// catchUpStep returns the revisions to replay next, or joins w to the synced
// set (ok false) when it has caught up, or ends it if it was canceled. A
// caught-up watcher that owes a progress notification gets one more step,
// with from > target, to send it (blocking) before it joins.
func (h *hub) catchUpStep(w *Watcher) (from, target int64, progress, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case w.state == watcherClosed:
		close(w.ch) // catching up, this goroutine owns the channel
		return 0, 0, false, false
	case w.nextRev > h.mu.rev && !w.progress:
		w.state = watcherSynced
		h.mu.synced[w] = struct{}{}
		return 0, 0, false, false
	}
	return w.nextRev, h.mu.rev, w.progress, true
}

func (h *hub) advance(w *Watcher, next int64, progressSent bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.nextRev = next
	if progressSent {
		w.progress = false
	}
}

// endCatchUp ends a catching-up watcher: canceled by its owner (err nil),
// behind a compaction, or failed to read history. The watcher is told why in
// a last response, then its channel is closed.
func (h *hub) endCatchUp(w *Watcher, err error) {
	if err != nil {
		resp := WatchResponse{Canceled: true, CancelReason: err.Error()}
		if ce, ok := err.(*CompactedError); ok {
			resp.CompactRevision = ce.CompactRevision
		}
		resp.Header.Revision, _ = h.published()
		w.send(resp)
	}
	h.mu.Lock()
	if w.state != watcherClosed {
		h.closeWatcher(w, err)
	}
	h.mu.Unlock()
	close(w.ch)
}

// closeWatcher marks w closed. A synced watcher's channel is closed here;
// a catching-up one's by its goroutine. REQUIRES: h.mu held, w not closed.
func (h *hub) closeWatcher(w *Watcher, err error) {
	if w.state == watcherSynced {
		delete(h.mu.synced, w)
		close(w.ch)
	}
	w.state, w.err = watcherClosed, err
	delete(h.mu.watchers, w)
	if w.prevKv {
		h.prevKvCount.Add(-1)
	}
	close(w.done)
}

// close ends every watcher with ErrClosed and waits for their goroutines.
func (h *hub) close() {
	h.mu.Lock()
	h.mu.closed = true
	for w := range h.mu.watchers {
		h.closeWatcher(w, ErrClosed)
	}
	h.mu.Unlock()
	h.goroutines.Wait()
}
