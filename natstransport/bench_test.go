package natstransport

import (
	"testing"

	"github.com/natsraft/natsraft/raft"
)

// The shapes of the benchmarks: the 64 x 128-byte append batch, and
// the 64 x 150-byte batch of shared/peers/msgpackbench for comparison.
var benchShapes = []struct {
	name          string
	entries, size int
}{
	{"64x128B", 64, 128},
	{"64x150B", 64, 150},
}

// BenchmarkEncodeAppendBatch measures the send path's encoding: a reused
// buffer, the envelope and one MsgApp.
func BenchmarkEncodeAppendBatch(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			batch := appendBatch(shape.entries, shape.size)
			e := newBufferEncoder()
			b.ReportAllocs()
			for b.Loop() {
				e.reset()
				e.batch(batch)
			}
			if e.err != nil {
				b.Fatal(e.err)
			}
			b.ReportMetric(float64(len(e.buf.b)), "bytes/msg")
			b.SetBytes(int64(len(e.buf.b)))
		})
	}
}

// BenchmarkDecodeAppendBatch measures the receive path's decoding: header,
// checks aside, then the messages handed to the node (the message slice and
// one entries slice are the only allocations; entry data alias the payload).
func BenchmarkDecodeAppendBatch(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			enc, err := EncodeBatch(nil, appendBatch(shape.entries, shape.size))
			if err != nil {
				b.Fatal(err)
			}
			d := newSliceDecoder(Limits{})
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			var msgs []raft.Message
			for b.Loop() {
				d.reset(enc)
				var h rawHeader
				d.header(&h)
				msgs = d.messages()
				err = d.finish(&h)
			}
			if err != nil || len(msgs[0].Entries) != shape.entries {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRoundTripAppendBatch is the peer benchmark's "encode+decode":
// one hop's codec work.
func BenchmarkRoundTripAppendBatch(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			batch := appendBatch(shape.entries, shape.size)
			e := newBufferEncoder()
			d := newSliceDecoder(Limits{})
			b.ReportAllocs()
			for b.Loop() {
				e.reset()
				e.batch(batch)
				d.reset(e.buf.b)
				var got Batch
				d.batch(&got)
			}
			if d.err != nil {
				b.Fatal(d.err)
			}
		})
	}
}

// BenchmarkSendToHandler measures one heartbeat from Send to the peer's
// Handler through an embedded server: the latency the client's flusher
// goroutine gives without any explicit Flush.
func BenchmarkSendToHandler(b *testing.B) {
	s := startServer(b, ServerOptions{})
	ncA := connect(b, ConnectOptions{URL: s.ClientURL()})
	ncB := connect(b, ConnectOptions{URL: s.ClientURL()})
	a, _ := newNode(b, ncA, 1, []uint64{1, 2})
	_, in := newNode(b, ncB, 2, []uint64{1, 2})
	msgs := []raft.Message{{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 3, Commit: 10}}
	b.ReportAllocs()
	for b.Loop() {
		a.Send(msgs)
		in.next(b)
	}
}
