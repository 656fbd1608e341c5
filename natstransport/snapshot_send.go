package natstransport

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/natsraft/natsraft/raft"
)

// chunkBoundBytes bounds the encoded chunk fields other than data and header.
const chunkBoundBytes = 1 + 5*9 + 5 + 1

// snapshotSender runs at most one transfer per destination, each in its own
// goroutine, and routes acknowledgements to them.
type snapshotSender struct {
	t       *Transport
	mu      sync.Mutex
	active  map[uint64]*transfer // by destination
	closing bool                 // set by wait: start no more transfers
	wg      sync.WaitGroup
}

func (s *snapshotSender) init(t *Transport) {
	s.t = t
	s.active = make(map[uint64]*transfer)
}

// start begins sending m's snapshot unless one to m.To is in flight: raft
// waits for the outcome of that one (its progress stays in the snapshot
// state), so the newer is dropped.
func (s *snapshotSender) start(m *raft.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	if s.active[m.To] != nil {
		s.t.drop(DropSnapshotBusy, 1, "to", m.To)
		return
	}
	tr := newTransfer(s.t, m)
	s.active[m.To] = tr
	s.wg.Add(1)
	go s.run(tr)
}

// wait stops new transfers and waits for every transfer goroutine to end.
// REQUIRES: t.closed is closed, so that running transfers stop.
func (s *snapshotSender) wait() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *snapshotSender) run(tr *transfer) {
	defer s.wg.Done()
	ok := tr.prepare() && tr.loop()
	s.mu.Lock()
	delete(s.active, tr.to)
	s.mu.Unlock()
	if s.t.isClosed() {
		return
	}
	if ok {
		s.t.counters.snapshotsSent.Add(1)
	} else {
		s.t.counters.snapshotsFailed.Add(1)
	}
	s.t.log.Info("natstransport: snapshot sent", "to", tr.to, "ok", ok,
		"index", tr.meta.Metadata.Index, "bytes", tr.total)
	if s.t.cfg.SnapshotStatus != nil {
		s.t.cfg.SnapshotStatus(tr.to, ok)
	}
}

// receiveAck routes an acknowledgement, on the control lane, to its
// transfer.
func (s *snapshotSender) receiveAck(h *rawHeader, d *decoder) {
	var a snapshotAck
	d.ack(&a)
	if err := d.finish(h); err != nil {
		s.t.dropInvalid(err, h.from)
		return
	}
	s.mu.Lock()
	tr := s.active[h.from]
	s.mu.Unlock()
	if tr == nil || tr.id != a.transferID {
		s.t.drop(DropSnapshotStale, 1, "from", h.from, "transfer", a.transferID)
		return
	}
	select {
	case tr.acks <- a:
	default: // the sender is behind; a timeout will resume the transfer
		s.t.drop(DropSnapshotStale, 1, "from", h.from, "transfer", a.transferID)
	}
}

// transfer sends one snapshot with go-back-N: up to windowBytes beyond the
// last acknowledged offset are in flight; a resend request or a timeout
// rewinds to the offset the receiver holds.
type transfer struct {
	t       *Transport
	id, to  uint64
	subject string
	header  raft.Message  // the MsgSnap, Snapshot pointing at meta
	meta    raft.Snapshot // metadata only: Data travels in chunks
	data    []byte
	total   uint64
	crc     uint32
	acks    chan snapshotAck
	enc     *bufferEncoder

	chunkBytes, windowBytes uint64
}

func newTransfer(t *Transport, m *raft.Message) *transfer {
	tr := &transfer{
		t: t, id: rand.Uint64(), to: m.To,
		subject: Subject(t.cfg.Cluster, t.cfg.Group, m.To, LaneSnapshot),
		header:  *m, data: m.Snapshot.Data, total: uint64(len(m.Snapshot.Data)),
		acks: make(chan snapshotAck, t.cfg.Snapshot.WindowChunks+4),
		enc:  newBufferEncoder(),
	}
	tr.meta.Metadata = m.Snapshot.Metadata
	tr.header.Snapshot = &tr.meta
	tr.header.Entries = nil
	return tr
}

// prepare checks the size, computes the checksum and sizes the chunks to
// fit the server's max_payload.
func (tr *transfer) prepare() bool {
	t := tr.t
	if tr.total > t.cfg.Limits.SnapshotBytesMax {
		t.drop(DropTooLarge, 1, "to", tr.to, "bytes", tr.total)
		return false
	}
	tr.crc = checksum(tr.data)
	overhead := envelopeBoundBytes + chunkBoundBytes + encodedBoundBytes(&tr.header)
	room := t.payloadMax() - int64(overhead)
	if room <= 0 {
		t.drop(DropTooLarge, 1, "to", tr.to, "max_payload", t.payloadMax())
		return false
	}
	tr.chunkBytes = uint64(min(int64(t.cfg.Snapshot.ChunkBytes), room))
	tr.windowBytes = tr.chunkBytes * uint64(t.cfg.Snapshot.WindowChunks)
	return true
}

// loop sends chunks and follows acknowledgements until the receiver reports
// done (true) or abort, retries run out, or the transport closes (false).
func (tr *transfer) loop() bool {
	opts := &tr.t.cfg.Snapshot
	timer := time.NewTimer(opts.AckTimeout)
	defer timer.Stop()
	var acked uint64
	next := tr.fill(0, 0)
	// rewoundTo is the offset of the last rewind, until progress passes it:
	// the receiver asks to resend from X once per chunk that was in flight
	// behind a loss at X, and one rewind answers them all.
	rewoundTo, rewound := uint64(0), false
	timeouts := 0
	for {
		select {
		case <-tr.t.closed:
			return false
		case <-timer.C:
			if timeouts++; timeouts > opts.RetriesMax {
				return false
			}
			next, rewoundTo, rewound = tr.rewind(next, acked), acked, true
		case a := <-tr.acks:
			switch {
			case a.status == ackDone:
				return true
			case a.status == ackAbort:
				return false
			case a.status == ackResend && a.offset <= tr.total && !(rewound && a.offset == rewoundTo):
				acked = a.offset
				next, rewoundTo, rewound = tr.rewind(next, acked), acked, true
			case a.status == ackProgress && a.offset > acked && a.offset <= tr.total:
				acked, rewound = a.offset, false
				next = tr.fill(max(next, acked), acked)
			default:
				continue // stale: keep the timer running
			}
			timeouts = 0
		}
		timer.Reset(opts.AckTimeout)
	}
}

// rewind resumes sending from offset, which the receiver holds, and counts
// the chunks sent again.
func (tr *transfer) rewind(next, offset uint64) uint64 {
	if next > offset {
		tr.t.counters.snapshotChunksResent.Add((next - offset + tr.chunkBytes - 1) / tr.chunkBytes)
	}
	return tr.fill(offset, offset)
}

// fill sends chunks from next while the window allows and returns the new
// next offset. An empty image is one empty chunk, which carries the header.
func (tr *transfer) fill(next, acked uint64) uint64 {
	if tr.total == 0 {
		tr.sendChunk(0)
		return 0
	}
	for next < tr.total && next-acked < tr.windowBytes {
		next += tr.sendChunk(next)
	}
	return next
}

// sendChunk publishes the chunk at offset and returns its length.
func (tr *transfer) sendChunk(offset uint64) uint64 {
	cfg := &tr.t.cfg
	end := min(offset+tr.chunkBytes, tr.total)
	c := snapshotChunk{
		transferID: tr.id, offset: offset, totalBytes: tr.total, totalCRC: tr.crc,
		data: tr.data[offset:end],
	}
	c.chunkCRC = checksum(c.data)
	if offset == 0 {
		c.header = &tr.header
	}
	e := tr.enc
	e.reset()
	e.header(kindChunk, cfg.Cluster, cfg.Group, cfg.NodeID, tr.to)
	e.chunk(&c)
	tr.t.publish(LaneSnapshot, tr.subject, e.buf.b, 1)
	return end - offset
}
