package natstransport

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/natsraft/natsraft/raft"
)

// snapshotPair is node 1 (sender) and node 2 (receiver) on one server with
// a small max_payload, so a snapshot of a few MiB takes many chunks.
type snapshotPair struct {
	a, b     *Transport
	inA, inB *inbox
	logA     *publishLog
	logB     *publishLog
	ncRaw    *nats.Conn
}

const snapshotMaxPayload = 64 << 10

func newSnapshotPair(t *testing.T, filterA, filterB func(string, []byte) ([]byte, bool), opts ...nodeOption) *snapshotPair {
	t.Helper()
	s := startServer(t, ServerOptions{MaxPayload: snapshotMaxPayload})
	p := &snapshotPair{ncRaw: connect(t, ConnectOptions{URL: s.ClientURL()})}
	ncA := connect(t, ConnectOptions{URL: s.ClientURL()})
	ncB := connect(t, ConnectOptions{URL: s.ClientURL()})
	p.logA = &publishLog{nc: ncA, filter: filterA}
	p.logB = &publishLog{nc: ncB, filter: filterB}
	fast := withConfig(func(c *Config) {
		c.Snapshot.AckTimeout = 200 * time.Millisecond
		c.Snapshot.RetriesMax = 3
	})
	p.a, p.inA = newNode(t, ncA, 1, []uint64{1, 2}, append([]nodeOption{fast, withHooks(hooks{publish: p.logA.publish})}, opts...)...)
	p.b, p.inB = newNode(t, ncB, 2, []uint64{1, 2}, append([]nodeOption{fast, withHooks(hooks{publish: p.logB.publish})}, opts...)...)
	return p
}

func snapshotMessage(size int) raft.Message {
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return raft.Message{
		Type: raft.MsgSnap, From: 1, To: 2, Term: 4, Context: []byte("ctx"),
		Snapshot: &raft.Snapshot{Data: data, Metadata: raft.SnapshotMetadata{
			Index: 1000, Term: 3, ConfState: raft.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}},
		}},
	}
}

// checkSnapshotDelivered waits for the MsgSnap at B and compares it to sent.
func (p *snapshotPair) checkSnapshotDelivered(t *testing.T, sent raft.Message) {
	t.Helper()
	got := p.inB.next(t)
	if len(got) != 1 || got[0].Type != raft.MsgSnap || got[0].From != 1 || got[0].To != 2 || got[0].Term != 4 {
		t.Fatalf("delivered %+v", got)
	}
	s := got[0].Snapshot
	if !bytes.Equal(s.Data, sent.Snapshot.Data) || s.Metadata.Index != 1000 || s.Metadata.Term != 3 ||
		len(s.Metadata.ConfState.Voters) != 2 || s.Metadata.ConfState.Learners[0] != 3 ||
		string(got[0].Context) != "ctx" {
		t.Fatalf("snapshot differs: %d bytes, metadata %+v", len(s.Data), s.Metadata)
	}
}

// chunkOf decodes the chunk in a snapshot-lane publish, or reports false.
func chunkOf(subject string, data []byte) (snapshotChunk, bool) {
	var c snapshotChunk
	if !strings.HasSuffix(subject, "."+laneTokenSnapshot) {
		return c, false
	}
	_, err := decodeEnvelope(data, func(d *decoder) { d.chunk(&c) })
	return c, err == nil
}

// decodeEnvelope decodes an envelope's header and, with body, the rest.
func decodeEnvelope(data []byte, body func(*decoder)) (rawHeader, error) {
	d := newSliceDecoder(Limits{})
	d.reset(data)
	var h rawHeader
	d.header(&h)
	body(d)
	return h, d.finish(&h)
}

// loseOnce returns a publish filter that drops, once, the first chunk for
// which lose returns true.
func loseOnce(lose func(c snapshotChunk) bool) func(string, []byte) ([]byte, bool) {
	var once sync.Once
	return func(subject string, data []byte) ([]byte, bool) {
		c, ok := chunkOf(subject, data)
		keep := true
		if ok && lose(c) {
			once.Do(func() { keep = false })
		}
		return data, keep
	}
}

// TestSnapshotChunkedWithLossAndResume sends 5 MiB through a 64 KiB
// max_payload and loses one chunk in the middle: the receiver asks for it
// again, the transfer resumes from there and the image arrives whole.
func TestSnapshotChunkedWithLossAndResume(t *testing.T) {
	lost := uint64(0)
	p := newSnapshotPair(t, loseOnce(func(c snapshotChunk) bool {
		if c.offset > 2<<20 && lost == 0 {
			lost = c.offset
		}
		return c.offset == lost
	}), nil)
	msg := snapshotMessage(5 << 20)
	p.a.Send([]raft.Message{msg})
	p.checkSnapshotDelivered(t, msg)
	if st := p.inA.nextStatus(t); st != (snapStatus{to: 2, ok: true}) {
		t.Fatalf("status %+v", st)
	}
	chunks := 0
	for _, pub := range p.logA.all() {
		if _, ok := chunkOf(pub.subject, pub.data); ok {
			chunks++
			if len(pub.data) > snapshotMaxPayload {
				t.Fatalf("chunk of %d bytes > max_payload", len(pub.data))
			}
		}
	}
	stA, stB := p.a.Stats(), p.b.Stats()
	if chunks < 80 || stA.SnapshotChunksResent == 0 || stA.SnapshotsSent != 1 || stB.SnapshotsReceived != 1 {
		t.Fatalf("%d chunks, sender %+v, receiver %+v", chunks, stA, stB)
	}
	if stB.Dropped[DropSnapshotStale] == 0 { // chunks behind the gap
		t.Fatalf("receiver saw no gap: %v", stB.Dropped)
	}
}

// TestSnapshotTailLossResumesOnTimeout loses the last chunk: nothing
// follows it to reveal the gap, so the sender's ack timeout resumes.
func TestSnapshotTailLossResumesOnTimeout(t *testing.T) {
	msg := snapshotMessage(1 << 20)
	p := newSnapshotPair(t, loseOnce(func(c snapshotChunk) bool {
		return c.offset+uint64(len(c.data)) == c.totalBytes
	}), nil)
	p.a.Send([]raft.Message{msg})
	p.checkSnapshotDelivered(t, msg)
	if st := p.inA.nextStatus(t); !st.ok || p.a.Stats().SnapshotChunksResent == 0 {
		t.Fatalf("status %+v, stats %+v", st, p.a.Stats())
	}
}

// TestSnapshotLostDoneAck loses the receiver's final acknowledgement: the
// sender resends, and the receiver repeats done without delivering twice.
func TestSnapshotLostDoneAck(t *testing.T) {
	var once sync.Once
	dropDone := func(subject string, data []byte) ([]byte, bool) {
		keep := true
		if b := data; strings.HasSuffix(subject, "."+laneTokenControl) && isDoneAck(b) {
			once.Do(func() { keep = false })
		}
		return data, keep
	}
	p := newSnapshotPair(t, nil, dropDone)
	msg := snapshotMessage(300 << 10)
	p.a.Send([]raft.Message{msg})
	p.checkSnapshotDelivered(t, msg)
	if st := p.inA.nextStatus(t); !st.ok {
		t.Fatalf("status %+v", st)
	}
	if n := len(p.inB.batches); n != 0 || p.b.Stats().SnapshotsReceived != 1 {
		t.Fatalf("delivered again: %d batches, stats %+v", n, p.b.Stats())
	}
}

func isDoneAck(data []byte) bool {
	var a snapshotAck
	h, err := decodeEnvelope(data, func(d *decoder) { d.ack(&a) })
	return err == nil && h.kind == kindAck && a.status == ackDone
}

// TestSnapshotCorruptChunkIsResent flips a byte inside a chunk's data: the
// receiver's CRC-32C catches it and asks for the chunk again.
func TestSnapshotCorruptChunkIsResent(t *testing.T) {
	var once sync.Once
	corrupt := func(subject string, data []byte) ([]byte, bool) {
		if c, ok := chunkOf(subject, data); ok && c.offset > 0 {
			once.Do(func() {
				data = bytes.Clone(data)
				data[len(data)/2] ^= 0xff
			})
		}
		return data, true
	}
	p := newSnapshotPair(t, corrupt, nil)
	msg := snapshotMessage(1 << 20)
	p.a.Send([]raft.Message{msg})
	p.checkSnapshotDelivered(t, msg)
	if st := p.inA.nextStatus(t); !st.ok || p.b.Stats().Dropped[DropChecksum] != 1 {
		t.Fatalf("status %+v, receiver drops %v", st, p.b.Stats().Dropped)
	}
}

// TestSnapshotEmptyImage: a snapshot without data is one chunk.
func TestSnapshotEmptyImage(t *testing.T) {
	p := newSnapshotPair(t, nil, nil)
	msg := snapshotMessage(0)
	p.a.Send([]raft.Message{msg})
	p.checkSnapshotDelivered(t, msg)
	if st := p.inA.nextStatus(t); !st.ok {
		t.Fatalf("status %+v", st)
	}
}

// TestSnapshotFailureReported: with nobody acknowledging, the sender gives
// up after its retries and reports failure.
func TestSnapshotFailureReported(t *testing.T) {
	p := newSnapshotPair(t, nil, nil)
	_ = p.b.Close()
	p.a.Send([]raft.Message{snapshotMessage(100 << 10)})
	if st := p.inA.nextStatus(t); st != (snapStatus{to: 2, ok: false}) {
		t.Fatalf("status %+v", st)
	}
	if p.a.Stats().SnapshotsFailed != 1 {
		t.Fatalf("stats %+v", p.a.Stats())
	}
}

// TestSnapshotTooLargeRejected: the receiver refuses an image over its
// limit at the first chunk, and the sender reports failure at once.
func TestSnapshotTooLargeRejected(t *testing.T) {
	p := newSnapshotPair(t, nil, nil, withConfig(func(c *Config) {
		if c.NodeID == 2 {
			c.Limits.SnapshotBytesMax = 1 << 20
		}
	}))
	p.a.Send([]raft.Message{snapshotMessage(2 << 20)})
	if st := p.inA.nextStatus(t); st.ok {
		t.Fatalf("status %+v", st)
	}
	if p.b.Stats().Dropped[DropTooLarge] == 0 || len(p.inB.batches) != 0 {
		t.Fatalf("receiver stats %+v", p.b.Stats())
	}
}

// TestSnapshotOneInFlightPerPeer: a second MsgSnap to the same peer while
// one is in flight is dropped; exactly one outcome is reported.
func TestSnapshotOneInFlightPerPeer(t *testing.T) {
	p := newSnapshotPair(t, nil, nil)
	first, second := snapshotMessage(1<<20), snapshotMessage(1<<20)
	p.a.Send([]raft.Message{first, second})
	p.checkSnapshotDelivered(t, first)
	if st := p.inA.nextStatus(t); !st.ok {
		t.Fatalf("status %+v", st)
	}
	if n := p.a.Stats().Dropped[DropSnapshotBusy]; n != 1 || len(p.inA.status) != 0 {
		t.Fatalf("DropSnapshotBusy = %d, %d more statuses", n, len(p.inA.status))
	}
}

// TestSnapshotWholeChecksumMismatch sends well-formed chunks whose image
// checksum is wrong: the receiver aborts and delivers nothing.
func TestSnapshotWholeChecksumMismatch(t *testing.T) {
	p := newSnapshotPair(t, nil, nil)
	msg := snapshotMessage(1000)
	header := msg
	header.Snapshot = &raft.Snapshot{Metadata: msg.Snapshot.Metadata}
	data := msg.Snapshot.Data
	c := snapshotChunk{transferID: 7, totalBytes: uint64(len(data)), totalCRC: checksum(data) + 1,
		chunkCRC: checksum(data), data: data, header: &header}
	e := newBufferEncoder()
	e.header(kindChunk, testCluster, testGroup, 1, 2)
	e.chunk(&c)
	ackSub, err := p.ncRaw.SubscribeSync(Subject(testCluster, testGroup, 1, LaneControl))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ncRaw.Publish(Subject(testCluster, testGroup, 2, LaneSnapshot), e.buf.b); err != nil {
		t.Fatal(err)
	}
	m, err := ackSub.NextMsg(waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var a snapshotAck
	_, err = decodeEnvelope(m.Data, func(d *decoder) { d.ack(&a) })
	if err != nil || a.status != ackAbort || a.transferID != 7 || p.b.Stats().Dropped[DropChecksum] != 1 {
		t.Fatalf("ack %+v (%v), receiver drops %v", a, err, p.b.Stats().Dropped)
	}
	if len(p.inB.batches) != 0 {
		t.Fatal("a corrupt snapshot was delivered")
	}
}

// TestCloseStopsTransfers: Close ends a transfer that waits for acks
// without waiting out its timeouts and without reporting it; Send after
// Close drops and counts.
func TestCloseStopsTransfers(t *testing.T) {
	p := newSnapshotPair(t, nil, nil, withConfig(func(c *Config) { c.Snapshot.AckTimeout = time.Hour }))
	_ = p.b.Close()
	p.a.Send([]raft.Message{snapshotMessage(100 << 10)})
	_ = p.a.Close()
	p.a.Send([]raft.Message{{Type: raft.MsgHeartbeat, From: 1, To: 2}})
	if len(p.inA.status) != 0 || p.a.Stats().Dropped[DropPublish] != 1 {
		t.Fatalf("%d statuses, stats %+v", len(p.inA.status), p.a.Stats())
	}
}
