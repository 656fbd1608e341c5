package natstransport

import (
	"bytes"
	"sync"
	"time"

	"github.com/natsraft/natsraft/raft"
)

// preallocBytesMax bounds the buffer allocated for a snapshot before its
// bytes arrive; larger images grow as chunks come.
const preallocBytesMax = 64 << 20

// snapshotReceiver reassembles snapshots, at most one partial image per
// sender. Chunks arrive on the snapshot lane's goroutine; idle timers fire
// on their own goroutines, hence mu.
type snapshotReceiver struct {
	t   *Transport
	enc *bufferEncoder // acks; used on the snapshot lane goroutine only

	mu        sync.Mutex
	partial   map[uint64]*assembly // by sender
	completed map[uint64]uint64    // by sender: last transfer delivered, to repeat a lost done
	closed    bool
}

// assembly is a partial snapshot image.
// Invariant: len(data) <= total.
type assembly struct {
	id     uint64
	total  uint64
	crc    uint32
	header raft.Message // the MsgSnap from the first chunk
	data   []byte
	idle   *time.Timer
}

// chunkResult is what one chunk leads to: an ack to send, a complete
// snapshot to deliver, a drop to count.
type chunkResult struct {
	ack      snapshotAck
	snapshot *raft.Message
	drop     DropReason
	dropped  bool
}

func (r *snapshotReceiver) init(t *Transport) {
	r.t = t
	r.enc = newBufferEncoder()
	r.partial = make(map[uint64]*assembly)
	r.completed = make(map[uint64]uint64)
}

// receive handles one chunk envelope whose header has been checked.
func (r *snapshotReceiver) receive(h *rawHeader, d *decoder) {
	var c snapshotChunk
	d.chunk(&c)
	if err := d.finish(h); err != nil {
		r.t.dropInvalid(err, h.from)
		return
	}
	var res chunkResult
	if checksum(c.data) != c.chunkCRC {
		res = r.corrupt(h.from, &c)
	} else {
		res = r.apply(h.from, &c)
	}
	if res.dropped {
		r.t.drop(res.drop, 1, "from", h.from, "transfer", c.transferID, "offset", c.offset)
	}
	if res.snapshot != nil {
		r.t.counters.snapshotsReceived.Add(1)
		r.t.deliver(*res.snapshot)
	}
	if res.ack.status != ackNone {
		r.sendAck(h.from, &res.ack)
	}
}

func (r *snapshotReceiver) sendAck(to uint64, a *snapshotAck) {
	cfg := &r.t.cfg
	e := r.enc
	e.reset()
	e.header(kindAck, cfg.Cluster, cfg.Group, cfg.NodeID, to)
	e.ack(a)
	r.t.publish(LaneControl, Subject(cfg.Cluster, cfg.Group, to, LaneControl), e.buf.b, 0)
}

// corrupt answers a chunk that failed its checksum: resend from what we hold.
func (r *snapshotReceiver) corrupt(from uint64, c *snapshotChunk) chunkResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := chunkResult{drop: DropChecksum, dropped: true}
	if a := r.partial[from]; a != nil && a.id == c.transferID {
		res.ack = snapshotAck{transferID: a.id, offset: uint64(len(a.data)), status: ackResend}
	}
	return res
}

// apply adds a verified chunk to its sender's image.
func (r *snapshotReceiver) apply(from uint64, c *snapshotChunk) chunkResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return chunkResult{}
	case c.totalBytes > r.t.cfg.Limits.SnapshotBytesMax:
		return abort(c, DropTooLarge)
	case c.offset == 0 && !validHeader(c.header):
		return abort(c, DropMessageType)
	case c.offset == 0:
		r.begin(from, c)
	}
	a := r.partial[from]
	if a == nil || a.id != c.transferID {
		return r.unknown(from, c)
	}
	if c.totalBytes != a.total || c.totalCRC != a.crc {
		r.discard(from, a)
		return abort(c, DropMalformed)
	}
	return r.append(from, a, c)
}

func abort(c *snapshotChunk, reason DropReason) chunkResult {
	return chunkResult{
		ack:  snapshotAck{transferID: c.transferID, status: ackAbort},
		drop: reason, dropped: true,
	}
}

// validHeader reports whether h can head a snapshot: a MsgSnap with
// metadata and without data.
func validHeader(h *raft.Message) bool {
	return h != nil && h.Type == raft.MsgSnap && h.Snapshot != nil && len(h.Snapshot.Data) == 0
}

// begin starts (or restarts) the image of c's transfer. A new transfer from
// the same sender replaces the old one: one snapshot in flight per peer.
// REQUIRES: r.mu is held; c.offset == 0 and validHeader(c.header).
func (r *snapshotReceiver) begin(from uint64, c *snapshotChunk) {
	if a := r.partial[from]; a != nil {
		if a.id == c.transferID {
			a.data = a.data[:0]
			return
		}
		r.discard(from, a)
	}
	a := &assembly{
		id: c.transferID, total: c.totalBytes, crc: c.totalCRC, header: *c.header,
		data: make([]byte, 0, min(c.totalBytes, preallocBytesMax)),
	}
	a.header.Context = bytes.Clone(a.header.Context) // do not pin the chunk
	a.header.Entries = nil
	a.idle = time.AfterFunc(r.t.cfg.Snapshot.IdleTimeout, func() { r.expire(from, a) })
	r.partial[from] = a
}

// unknown answers a chunk of no current transfer: repeat done if it was
// delivered already, otherwise ask for the transfer from the start.
// REQUIRES: r.mu is held.
func (r *snapshotReceiver) unknown(from uint64, c *snapshotChunk) chunkResult {
	res := chunkResult{drop: DropSnapshotStale, dropped: true}
	res.ack = snapshotAck{transferID: c.transferID, status: ackResend}
	if id, ok := r.completed[from]; ok && id == c.transferID {
		res.ack = snapshotAck{transferID: c.transferID, offset: c.totalBytes, status: ackDone}
	}
	return res
}

// append adds c if it is the next chunk; otherwise it asks for what is
// missing (a gap: a chunk was lost) or repeats how far we are (a duplicate).
// REQUIRES: r.mu is held.
func (r *snapshotReceiver) append(from uint64, a *assembly, c *snapshotChunk) chunkResult {
	received := uint64(len(a.data))
	stale := chunkResult{drop: DropSnapshotStale, dropped: true}
	stale.ack = snapshotAck{transferID: a.id, offset: received, status: ackProgress}
	switch {
	case c.offset > received:
		stale.ack.status = ackResend
		return stale
	case c.offset < received:
		return stale
	case received+uint64(len(c.data)) > a.total:
		r.discard(from, a)
		return abort(c, DropMalformed)
	}
	a.data = append(a.data, c.data...)
	a.idle.Reset(r.t.cfg.Snapshot.IdleTimeout)
	if uint64(len(a.data)) < a.total {
		return chunkResult{ack: snapshotAck{transferID: a.id, offset: uint64(len(a.data)), status: ackProgress}}
	}
	return r.complete(from, a)
}

// complete verifies a whole image and makes it the MsgSnap to deliver.
// REQUIRES: r.mu is held; len(a.data) == a.total.
func (r *snapshotReceiver) complete(from uint64, a *assembly) chunkResult {
	r.discard(from, a)
	if checksum(a.data) != a.crc {
		return chunkResult{
			ack:  snapshotAck{transferID: a.id, status: ackAbort},
			drop: DropChecksum, dropped: true,
		}
	}
	r.completed[from] = a.id
	m := a.header
	m.From, m.To = from, r.t.cfg.NodeID
	m.Snapshot = &raft.Snapshot{Metadata: a.header.Snapshot.Metadata, Data: a.data}
	return chunkResult{
		ack:      snapshotAck{transferID: a.id, offset: a.total, status: ackDone},
		snapshot: &m,
	}
}

// discard forgets a's image. REQUIRES: r.mu is held.
func (r *snapshotReceiver) discard(from uint64, a *assembly) {
	a.idle.Stop()
	if r.partial[from] == a {
		delete(r.partial, from)
	}
}

// expire discards a if it is still the sender's partial image.
func (r *snapshotReceiver) expire(from uint64, a *assembly) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.partial[from] == a {
		delete(r.partial, from)
		r.t.drop(DropSnapshotExpired, 1, "from", from, "transfer", a.id)
	}
}

func (r *snapshotReceiver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for from, a := range r.partial {
		r.discard(from, a)
	}
}
