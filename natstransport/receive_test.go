package natstransport

import (
	"testing"

	"github.com/natsraft/natsraft/raft"
)

// rawEnvelope encodes a batch envelope with any header fields.
func rawEnvelope(t *testing.T, k kind, cluster, group string, from, to uint64, msgs ...raft.Message) []byte {
	t.Helper()
	e := newBufferEncoder()
	e.header(k, cluster, group, from, to)
	e.messages(msgs)
	if e.err != nil {
		t.Fatal(e.err)
	}
	return e.buf.b
}

// TestReceiveDropsUntrusted publishes hostile and misaddressed envelopes
// straight onto node 2's subjects. Each must be dropped and counted under
// its reason; the valid parts must still arrive.
func TestReceiveDropsUntrusted(t *testing.T) {
	s := startServer(t, ServerOptions{})
	raw := connect(t, ConnectOptions{URL: s.ClientURL()})
	b, in := newNode(t, connect(t, ConnectOptions{URL: s.ClientURL()}), 2, []uint64{1, 2},
		withConfig(func(c *Config) { c.Limits = Limits{EntriesPerMessageMax: 4, EntryBytesMax: 16} }))
	hb := raft.Message{Type: raft.MsgHeartbeat, Term: 1}
	app := raft.Message{Type: raft.MsgApp, Entries: []raft.Entry{{Data: []byte("x")}}}
	ctrl := Subject(testCluster, testGroup, 2, LaneControl)
	appSubject := Subject(testCluster, testGroup, 2, LaneAppend)
	valid := rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 2, app)
	publish := func(subject string, data []byte) {
		if err := raw.Publish(subject, data); err != nil {
			t.Fatal(err)
		}
	}
	publish(ctrl, []byte("hello"))
	publish(ctrl, mustMarshal(t, []any{2, 1, testCluster, testGroup, 1, 2, []any{}}))
	publish(ctrl, rawEnvelope(t, kindChunk, testCluster, testGroup, 1, 2))
	publish(ctrl, rawEnvelope(t, kindBatch, "other", testGroup, 1, 2, hb))
	publish(ctrl, rawEnvelope(t, kindBatch, testCluster, "other", 1, 2, hb))
	publish(ctrl, rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 5, hb))
	publish(ctrl, rawEnvelope(t, kindBatch, testCluster, testGroup, 42, 2, hb))
	publish(ctrl, rawEnvelope(t, kindBatch, testCluster, testGroup, 2, 2, hb))
	publish(ctrl, rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 2, app))
	publish(ctrl, rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 2, raft.Message{Type: raft.MsgHup}))
	publish(ctrl, rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 2, raft.Message{Type: 200}))
	publish(ctrl, rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 2, raft.Message{Type: raft.MsgBeat}, hb))
	publish(appSubject, rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 2, raft.Message{Type: raft.MsgApp,
		Entries: make([]raft.Entry, 5)}))
	publish(appSubject, rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 2, raft.Message{Type: raft.MsgApp,
		Entries: []raft.Entry{{Data: make([]byte, 17)}}}))
	publish(appSubject, valid[:len(valid)-1])
	publish(appSubject, rawEnvelope(t, kindAck, testCluster, testGroup, 1, 2))
	// Fences: valid messages after the rest, one per lane. Each lane is
	// handled in order, so once a fence arrives its lane has counted all.
	publish(ctrl, rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 2, raft.Message{Type: raft.MsgHeartbeat, Term: 99}))
	publish(appSubject, valid)

	got := in.nextMessages(t, 3)
	checkDelivered(t, got)
	want := [DropReasonCount]uint64{
		DropMalformed: 2, DropVersion: 1, DropKind: 2, DropCluster: 2, DropDestination: 1,
		DropSender: 2, DropMessageType: 4, DropTooLarge: 2,
	}
	if d := b.Stats().Dropped; d != want {
		t.Fatalf("dropped\n got %v\nwant %v", d, want)
	}
}

// checkDelivered expects the heartbeat that shared a batch with a local
// type, the control fence and the append fence, all from node 1.
func checkDelivered(t *testing.T, got []raft.Message) {
	t.Helper()
	terms := map[raft.MessageType][]uint64{}
	for _, m := range got {
		if m.From != 1 || m.To != 2 {
			t.Fatalf("misaddressed %+v", m)
		}
		terms[m.Type] = append(terms[m.Type], m.Term)
	}
	if len(terms[raft.MsgHeartbeat]) != 2 || len(terms[raft.MsgApp]) != 1 {
		t.Fatalf("delivered %v", terms)
	}
}
