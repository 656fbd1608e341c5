package etcdapi

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"

	"github.com/natsraft/natsraft/kv"
)

// A Watch stream, as etcd's serverWatchStream:
//
//	recvLoop ──create──► kv.Watcher ──► forwarder ──┐
//	         ──cancel / progress / created replies──┼──► out ──► sendLoop ──► gRPC
//	                                                 │
//	(one forwarder per watcher) ─────────────────────┘
//
// Each watcher's responses arrive in revision order, a revision never split
// (kv's guarantee); the send loop is the only goroutine that sends on the
// gRPC stream. The Created reply is queued before the watcher's forwarder
// starts, so it comes first; after a Canceled reply nothing more is sent
// for that ID.
//
// A progress request for the whole stream is answered as etcd 3.7 does:
// only if every watcher is synced (kv.Store.ProgressAll queues a marker on
// each, at one revision R), with one response of watch ID -1 at R. The send
// loop holds back what follows a watcher's marker until every marker
// arrived, so no event above R is sent before the response that says "all
// up to R". Otherwise the request is ignored, as etcd ignores it; clients
// (kube-apiserver) ask again.

// invalidWatchID is clientv3.InvalidWatchID.
const invalidWatchID = -1

// errDuplicateWatchID is etcd's mvcc.ErrWatcherDuplicateID text.
var errDuplicateWatchID = errors.New("mvcc: duplicate watch ID provided on the WatchStream")

type watchServer struct {
	pb.UnimplementedWatchServer
	s *Server
}

func (ws *watchServer) Watch(stream pb.Watch_WatchServer) error {
	st := newWatchStream(ws.s, stream)
	ws.s.mu.Lock()
	ws.s.mu.watchStreams++
	ws.s.mu.Unlock()
	defer func() {
		ws.s.mu.Lock()
		ws.s.mu.watchStreams--
		ws.s.mu.Unlock()
	}()
	return st.run()
}

// outItem is one thing for the send loop: a reply of the recv loop, a
// watcher's response, or the end of a watcher.
type outItem struct {
	reply  *pb.WatchResponse
	id     int64
	resp   kv.WatchResponse
	ended  bool  // the watcher's channel closed
	reason error // why it ended (nil: canceled by the client)
}

type streamWatcher struct {
	id             int64
	w              *kv.Watcher
	progressNotify bool
	// Send loop only: events were sent since the last progress tick, and
	// the client canceled it (nothing more is sent).
	sentEvents bool
	canceled   bool
}

type watchStream struct {
	s      *Server
	grpc   pb.Watch_WatchServer
	ctx    context.Context // ends with the stream
	cancel context.CancelFunc
	out    chan outItem
	wg     sync.WaitGroup // forwarders and the send loop

	mu struct {
		sync.Mutex
		watchers map[int64]*streamWatcher
		nextID   int64
		closed   bool
		// barrier is the stream progress being gathered, nil if none.
		barrier *progressBarrier
	}
}

// progressBarrier gathers the markers of one ProgressAll.
type progressBarrier struct {
	rev     int64
	waiting map[int64]bool // watchers whose marker has not arrived
	held    []outItem      // what came after a marker, in arrival order
}

func newWatchStream(s *Server, stream pb.Watch_WatchServer) *watchStream {
	ctx, cancel := context.WithCancel(stream.Context())
	st := &watchStream{s: s, grpc: stream, ctx: ctx, cancel: cancel, out: make(chan outItem, 64)}
	st.mu.watchers = map[int64]*streamWatcher{}
	return st
}

// run serves the stream until the client closes it, a send fails, or the
// stream's context ends (a require-leader stream without leader ends with
// etcd's no-leader error).
func (st *watchStream) run() error {
	st.wg.Add(1)
	sendErr := make(chan error, 1)
	go func() {
		defer st.wg.Done()
		sendErr <- st.sendLoop()
	}()
	recvErr := make(chan error, 1)
	go func() { recvErr <- st.recvLoop() }()
	var err error
	select {
	case err = <-recvErr:
	case err = <-sendErr:
	case <-st.grpc.Context().Done():
		err = context.Cause(st.grpc.Context())
	}
	st.close()
	if errors.Is(err, io.EOF) {
		return nil // the client closed its side
	}
	if _, ok := status.FromError(err); !ok || errors.Is(err, context.Canceled) {
		err = rpctypes.ErrGRPCWatchCanceled
	}
	return err
}

// close cancels every watcher and waits for the forwarders and the send
// loop. The recv loop may still be blocked in Recv; it ends when run
// returns, and creates no watcher after close.
func (st *watchStream) close() {
	st.cancel()
	st.mu.Lock()
	st.mu.closed = true
	for _, sw := range st.mu.watchers {
		sw.w.Cancel()
	}
	st.mu.Unlock()
	st.wg.Wait()
}

func (st *watchStream) recvLoop() error {
	for {
		req, err := st.grpc.Recv()
		if err != nil {
			return err
		}
		switch u := req.RequestUnion.(type) {
		case *pb.WatchRequest_CreateRequest:
			if u.CreateRequest != nil {
				st.create(u.CreateRequest)
			}
		case *pb.WatchRequest_CancelRequest:
			if u.CancelRequest != nil {
				st.cancelWatch(u.CancelRequest.WatchId)
			}
		case *pb.WatchRequest_ProgressRequest:
			if u.ProgressRequest != nil {
				st.requestProgress()
			}
		}
		// An unknown request is ignored, as etcd ignores it.
	}
}

// reply queues a reply of the recv loop for the send loop.
func (st *watchStream) reply(r *pb.WatchResponse) {
	select {
	case st.out <- outItem{reply: r}:
	case <-st.ctx.Done():
	}
}

func (st *watchStream) create(c *pb.WatchCreateRequest) {
	rev := st.s.node.Revision()
	if c.StartRevision < 0 {
		st.reply(&pb.WatchResponse{Header: st.s.header(rev), WatchId: invalidWatchID, Created: true,
			Canceled: true, CancelReason: rpctypes.ErrCompacted.Error()})
		return
	}
	req := kv.WatchRequest{Key: c.Key, RangeEnd: c.RangeEnd, StartRevision: c.StartRevision, PrevKv: c.PrevKv}
	if req.StartRevision == 0 {
		// Pin "from now" to the revision the Created reply reports, so a
		// client resuming from it misses nothing.
		req.StartRevision = rev + 1
	}
	for _, f := range c.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			req.NoPut = true
		case pb.WatchCreateRequest_NODELETE:
			req.NoDelete = true
		}
	}
	var compacted *kv.CompactedError
	w, err := st.s.node.Watch(req)
	if errors.As(err, &compacted) {
		// etcd creates the watcher, then cancels it with the compaction
		// revision; do the same in two replies.
		st.createCompacted(c, rev, compacted.CompactRevision)
		return
	}
	if err != nil {
		st.reply(&pb.WatchResponse{Header: st.s.header(rev), WatchId: invalidWatchID, Created: true,
			Canceled: true, CancelReason: err.Error()})
		return
	}
	sw, err := st.register(c, w)
	if err != nil {
		w.Cancel()
		st.reply(&pb.WatchResponse{Header: st.s.header(rev), WatchId: invalidWatchID, Created: true,
			Canceled: true, CancelReason: err.Error()})
		return
	}
	st.reply(&pb.WatchResponse{Header: st.s.header(rev), WatchId: sw.id, Created: true})
	go st.forward(sw) // counted in st.wg by register
}

func (st *watchStream) createCompacted(c *pb.WatchCreateRequest, rev, compactRev int64) {
	st.mu.Lock()
	id, err := st.allocateID(c.WatchId)
	st.mu.Unlock()
	if err != nil {
		st.reply(&pb.WatchResponse{Header: st.s.header(rev), WatchId: invalidWatchID, Created: true,
			Canceled: true, CancelReason: err.Error()})
		return
	}
	st.reply(&pb.WatchResponse{Header: st.s.header(rev), WatchId: id, Created: true})
	st.reply(&pb.WatchResponse{Header: st.s.header(rev), WatchId: id, Canceled: true, CompactRevision: compactRev})
}

// register gives w its ID: the client's if it chose one (etcd 3.4+), or
// the lowest free one from the stream's counter.
func (st *watchStream) register(c *pb.WatchCreateRequest, w *kv.Watcher) (*streamWatcher, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.mu.closed {
		return nil, context.Canceled
	}
	id, err := st.allocateID(c.WatchId)
	if err != nil {
		return nil, err
	}
	sw := &streamWatcher{id: id, w: w, progressNotify: c.ProgressNotify}
	st.mu.watchers[id] = sw
	st.wg.Add(1) // its forwarder; under mu, so never after close's Wait began
	return sw, nil
}

// allocateID REQUIRES: st.mu held.
func (st *watchStream) allocateID(asked int64) (int64, error) {
	if asked != 0 {
		if _, used := st.mu.watchers[asked]; used {
			return 0, errDuplicateWatchID
		}
		return asked, nil
	}
	for st.mu.watchers[st.mu.nextID] != nil {
		st.mu.nextID++
	}
	id := st.mu.nextID
	st.mu.nextID++
	return id, nil
}

// forward moves one watcher's responses to the send loop, then says why
// it ended.
func (st *watchStream) forward(sw *streamWatcher) {
	defer st.wg.Done()
	for resp := range sw.w.Responses() {
		select {
		case st.out <- outItem{id: sw.id, resp: resp}:
		case <-st.ctx.Done():
			return
		}
	}
	select {
	case st.out <- outItem{id: sw.id, ended: true, reason: endReason(sw.w.Err())}:
	case <-st.ctx.Done():
	}
}

// endReason is why a watcher ended, nil when its owner canceled it.
func endReason(err error) error {
	if errors.Is(err, kv.ErrWatchCanceled) {
		return nil
	}
	if err == nil {
		return kv.ErrClosed
	}
	return err
}

func (st *watchStream) cancelWatch(id int64) {
	st.mu.Lock()
	sw, ok := st.mu.watchers[id]
	if ok {
		delete(st.mu.watchers, id)
	}
	st.mu.Unlock()
	if !ok {
		return // etcd answers nothing for an unknown ID
	}
	sw.w.Cancel()
	st.reply(&pb.WatchResponse{Header: st.s.header(0), WatchId: id, Canceled: true})
}

// requestProgress is etcd's RequestProgressAll (see the top of the file).
func (st *watchStream) requestProgress() {
	st.mu.Lock()
	if st.mu.barrier != nil {
		st.mu.Unlock()
		return // one is being gathered; its answer will do
	}
	ws := make([]*kv.Watcher, 0, len(st.mu.watchers))
	b := &progressBarrier{waiting: map[int64]bool{}}
	for id, sw := range st.mu.watchers {
		ws = append(ws, sw.w)
		b.waiting[id] = true
	}
	if len(ws) == 0 {
		st.mu.Unlock()
		st.reply(&pb.WatchResponse{Header: st.s.header(0), WatchId: invalidWatchID})
		return
	}
	// The barrier is in place before any marker can reach the send loop.
	st.mu.barrier = b
	rev, ok := st.s.node.ProgressAll(ws)
	b.rev = rev
	if !ok {
		st.mu.barrier = nil
	}
	st.mu.Unlock()
}

// sendLoop is the only sender on the gRPC stream.
func (st *watchStream) sendLoop() error {
	ticker := time.NewTicker(st.s.opts.ProgressNotifyInterval)
	defer ticker.Stop()
	for {
		select {
		case it := <-st.out:
			if err := st.handle(it); err != nil {
				return err
			}
		case <-ticker.C:
			st.progressTick()
		case <-st.ctx.Done():
			return st.ctx.Err()
		}
	}
}

// progressTick asks a progress notification of every progress_notify
// watcher that sent no event since the last tick (etcd's sendLoop).
func (st *watchStream) progressTick() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, sw := range st.mu.watchers {
		if sw.progressNotify && !sw.sentEvents {
			sw.w.RequestProgress()
		}
		sw.sentEvents = false
	}
}

// handle sends one item, or holds it behind a progress barrier.
func (st *watchStream) handle(it outItem) error {
	if it.reply != nil {
		return st.send(it.reply)
	}
	st.mu.Lock()
	b := st.mu.barrier
	if b != nil {
		if hold, done := b.take(it); hold {
			if done {
				st.mu.barrier = nil
			}
			st.mu.Unlock()
			if done {
				return st.release(b)
			}
			return nil
		}
	}
	sw := st.watcherLocked(it.id)
	st.mu.Unlock()
	if sw == nil {
		return nil // canceled by the client: nothing more for it
	}
	return st.sendWatcherItem(sw, it)
}

// take decides what the barrier does with it: hold it (the watcher's
// marker arrived, or this is the marker), and whether the barrier is then
// complete. A watcher that ends releases its place.
func (b *progressBarrier) take(it outItem) (hold, done bool) {
	waiting, known := b.waiting[it.id]
	switch {
	case !known:
		return false, false // a watcher created after the request
	case it.resp.StreamProgress:
		b.waiting[it.id] = false
	case it.ended || it.resp.Canceled:
		if waiting {
			b.waiting[it.id] = false
		}
		b.held = append(b.held, it)
	case !waiting:
		b.held = append(b.held, it)
	default:
		return false, false // before its marker: goes out now
	}
	for _, w := range b.waiting {
		if w {
			return true, false
		}
	}
	return true, true
}

// release sends the stream progress, then what the barrier held.
func (st *watchStream) release(b *progressBarrier) error {
	if err := st.send(&pb.WatchResponse{Header: st.s.header(b.rev), WatchId: invalidWatchID}); err != nil {
		return err
	}
	for _, it := range b.held {
		if err := st.handle(it); err != nil {
			return err
		}
	}
	return nil
}

// watcherLocked REQUIRES: st.mu held.
func (st *watchStream) watcherLocked(id int64) *streamWatcher {
	return st.mu.watchers[id]
}

func (st *watchStream) sendWatcherItem(sw *streamWatcher, it outItem) error {
	resp := &pb.WatchResponse{Header: st.s.header(it.resp.Header.Revision), WatchId: sw.id}
	switch {
	case it.resp.StreamProgress:
		return nil // a marker without its barrier (cannot happen)
	case it.ended && it.reason == nil:
		return nil // canceled by the client: already answered
	case it.ended:
		resp.Canceled, resp.CancelReason = true, it.reason.Error()
		st.forget(sw.id)
	case it.resp.Canceled:
		// A compaction cancel carries no reason, as etcd's: clientv3 then
		// reports ErrCompacted with the compaction revision.
		resp.Canceled, resp.CompactRevision = true, it.resp.CompactRevision
		if it.resp.CompactRevision == 0 {
			resp.CancelReason = it.resp.CancelReason
		}
		st.forget(sw.id)
	default:
		resp.Events = eventsToPB(it.resp.Events)
		if len(resp.Events) > 0 {
			st.mu.Lock()
			sw.sentEvents = true
			st.mu.Unlock()
		}
	}
	return st.send(resp)
}

// forget drops a watcher the store ended; its forwarder ends by itself.
func (st *watchStream) forget(id int64) {
	st.mu.Lock()
	delete(st.mu.watchers, id)
	st.mu.Unlock()
}

func (st *watchStream) send(resp *pb.WatchResponse) error {
	return st.grpc.Send(resp)
}
