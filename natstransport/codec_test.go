package natstransport

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/natsraft/natsraft/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// TestRoundTripRandomMessages encodes random batches holding every message
// type and checks that decoding gives them back, through both the
// transport's path (EncodeBatch/DecodeBatch) and the msgpack interfaces.
func TestRoundTripRandomMessages(t *testing.T) {
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 0))
	for i := range 500 {
		b := Batch{Cluster: testCluster, Group: testGroup, From: randUint(r), To: randUint(r)}
		for range r.IntN(6) {
			b.Messages = append(b.Messages, randomMessage(r, raft.MessageType(r.IntN(18))))
		}
		if i < 18 { // every type at least once
			b.Messages = append(b.Messages, randomMessage(r, raft.MessageType(i)))
		}
		checkRoundTrip(t, seed, &b)
	}
}

func checkRoundTrip(t *testing.T, seed uint64, b *Batch) {
	t.Helper()
	enc, err := EncodeBatch(nil, b)
	if err != nil {
		t.Fatalf("seed %d: encode: %v", seed, err)
	}
	got, err := DecodeBatch(enc, Limits{})
	if err != nil {
		t.Fatalf("seed %d: decode: %v", seed, err)
	}
	if got.Cluster != b.Cluster || got.Group != b.Group || got.From != b.From || got.To != b.To ||
		!equalMessages(got.Messages, b.Messages) {
		t.Fatalf("seed %d: round trip changed the batch:\n got %+v\nwant %+v", seed, got, *b)
	}
	viaLib, err := msgpack.Marshal(b)
	if err != nil || !bytes.Equal(viaLib, enc) {
		t.Fatalf("seed %d: msgpack.Marshal differs from EncodeBatch (err %v)", seed, err)
	}
	var copied Batch
	if err := msgpack.Unmarshal(enc, &copied); err != nil || !equalMessages(copied.Messages, b.Messages) {
		t.Fatalf("seed %d: msgpack.Unmarshal: %v", seed, err)
	}
}

// TestWireMessageAndEntryInterfaces checks the msgpack interfaces of the
// nested wire structs on their own.
func TestWireMessageAndEntryInterfaces(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := randomMessage(r, raft.MsgApp)
	m.Entries = append(m.Entries, raft.Entry{Term: 3, Index: 9, Type: raft.EntryConfChange, Data: []byte("cc")})
	b, err := msgpack.Marshal((*wireMessage)(&m))
	if err != nil {
		t.Fatal(err)
	}
	var got raft.Message
	if err := msgpack.Unmarshal(b, (*wireMessage)(&got)); err != nil {
		t.Fatal(err)
	}
	m.To, m.From = 0, 0 // not on the wire
	if !equalMessages([]raft.Message{got}, []raft.Message{m}) {
		t.Fatalf("message round trip: got %+v want %+v", got, m)
	}
	e := m.Entries[len(m.Entries)-1]
	if b, err = msgpack.Marshal((*wireEntry)(&e)); err != nil {
		t.Fatal(err)
	}
	var gotEntry raft.Entry
	if err := msgpack.Unmarshal(b, (*wireEntry)(&gotEntry)); err != nil || !bytes.Equal(gotEntry.Data, e.Data) ||
		gotEntry.Type != e.Type || gotEntry.Index != e.Index {
		t.Fatalf("entry round trip: got %+v want %+v (%v)", gotEntry, e, err)
	}
}

// TestDecodeAliasesWithoutOverrun checks that decoded byte strings point
// into the input but cannot be appended into the bytes that follow them.
func TestDecodeAliasesWithoutOverrun(t *testing.T) {
	enc, _ := EncodeBatch(nil, appendBatch(2, 8))
	got, err := DecodeBatch(enc, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	first := got.Messages[0].Entries[0].Data
	if cap(first) != len(first) {
		t.Fatalf("entry data has spare capacity %d > %d", cap(first), len(first))
	}
	_ = append(first, 0xff)
	if !bytes.Equal(got.Messages[0].Entries[1].Data, appendBatch(2, 8).Messages[0].Entries[1].Data) {
		t.Fatal("append to one entry changed the next")
	}
}

// TestDecodeSkipsUnknownTrailingFields: a later version may append fields
// to any struct; this version must skip them.
func TestDecodeSkipsUnknownTrailingFields(t *testing.T) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	e := encoder{enc: enc}
	e.arrayLen(envelopeFields + 2)
	e.uint(wireVersion)
	e.uint(uint64(kindBatch))
	e.string(testCluster)
	e.string(testGroup)
	e.uint(1)
	e.uint(2)
	e.arrayLen(1)
	e.arrayLen(messageFields + 1) // a message with one more field
	for range 5 {                 // type, term, log term, index, commit
		e.uint(5)
	}
	e.bool(true)
	e.uint(5)
	e.bytes(nil)  // context
	e.arrayLen(0) // entries
	e.nil()       // snapshot
	e.uint(77)    // the unknown message field
	e.string("new envelope field")
	e.ids([]uint64{1, 2, 3}) // a nested unknown field
	if e.err != nil {
		t.Fatal(e.err)
	}
	got, err := DecodeBatch(buf.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 1 || got.Messages[0].Term != 5 {
		t.Fatalf("got %+v", got)
	}
}

// TestDecodeRejects feeds the decoder broken and hostile input; each must
// fail with the right error and none may panic.
func TestDecodeRejects(t *testing.T) {
	valid, _ := EncodeBatch(nil, appendBatch(3, 16))
	small := Limits{EntriesPerMessageMax: 2, EntryBytesMax: 8, ContextBytesMax: 4, MessagesPerBatchMax: 1, ConfStateIDsMax: 1}
	tests := []struct {
		name string
		data []byte
		lim  Limits
		want error
	}{
		{"empty", nil, Limits{}, ErrMalformed},
		{"not an array", []byte{0xc3}, Limits{}, ErrMalformed},
		{"short envelope", mustMarshal(t, []any{1, 1, "a"}), Limits{}, ErrMalformed},
		{"version 2", envelopeWith(t, 2, kindBatch), Limits{}, ErrVersion},
		{"kind 9", envelopeWith(t, wireVersion, 9), Limits{}, ErrKind},
		{"chunk kind", envelopeWith(t, wireVersion, kindChunk), Limits{}, ErrKind},
		{"trailing byte", append(bytes.Clone(valid), 0), Limits{}, ErrMalformed},
		{"too many entries", valid, small, ErrTooLarge},
		{"entry too big", mustEncode(t, appendBatch(1, 9)), small, ErrTooLarge},
		{"context too big", batchOf(t, raft.Message{Type: raft.MsgReadIndex, Context: []byte("12345")}), small, ErrTooLarge},
		{"too many messages", batchOf(t, raft.Message{}, raft.Message{}), small, ErrTooLarge},
		{"too many ids", batchOf(t, raft.Message{Snapshot: &raft.Snapshot{Metadata: raft.SnapshotMetadata{
			ConfState: raft.ConfState{Voters: []uint64{1}, Learners: []uint64{2}}}}}), small, ErrTooLarge},
		{"message type 255", batchOf(t, raft.Message{Type: 255}), Limits{}, nil},
		{"message type 300", mustMarshal(t, []any{wireVersion, uint64(kindBatch), testCluster, testGroup, 1, 2,
			[]any{[]any{300, 0, 0, 0, 0, false, 0, nil, []any{}, nil}}}), Limits{}, ErrMessageType},
		{"reject not a bool", mustMarshal(t, []any{wireVersion, uint64(kindBatch), testCluster, testGroup, 1, 2,
			[]any{[]any{3, 0, 0, 0, 0, 1, 0, nil, []any{}, nil}}}), Limits{}, ErrMalformed},
		{"entry type 2", batchOf(t, raft.Message{Entries: []raft.Entry{{Type: 2}}}), Limits{}, ErrMessageType},
		{"array claims more than input", hostileArray(), Limits{MessagesPerBatchMax: math.MaxInt32}, ErrMalformed},
		{"deeply nested extra field", deepExtraField(100), Limits{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBatch(tt.data, tt.lim)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDecodeEveryPrefixFails cuts a valid encoding at every length: each
// prefix must be rejected as malformed.
func TestDecodeEveryPrefixFails(t *testing.T) {
	valid := batchOf(t, randomMessage(rand.New(rand.NewPCG(3, 4)), raft.MsgSnap))
	for n := range len(valid) {
		if _, err := DecodeBatch(valid[:n], Limits{}); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d bytes: got %v", n, err)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustEncode(t *testing.T, b *Batch) []byte {
	t.Helper()
	enc, err := EncodeBatch(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func batchOf(t *testing.T, msgs ...raft.Message) []byte {
	return mustEncode(t, &Batch{Cluster: testCluster, Group: testGroup, From: 1, To: 2, Messages: msgs})
}

// envelopeWith encodes an empty batch envelope with the given version and
// kind.
func envelopeWith(t *testing.T, version uint64, k kind) []byte {
	return mustMarshal(t, []any{version, uint64(k), testCluster, testGroup, 1, 2, []any{}})
}

// hostileArray is an envelope whose messages array claims 2^20 elements.
func hostileArray() []byte {
	b := []byte{0x97, wireVersion, byte(kindBatch), 0xa1, 'c', 0xa1, 'g', 1, 2}
	return append(b, 0xdd, 0x00, 0x10, 0x00, 0x00, 0x90)
}

// deepExtraField is an envelope with one unknown trailing field nested
// depth arrays deep.
func deepExtraField(depth int) []byte {
	b := []byte{0x98, wireVersion, byte(kindBatch), 0xa1, 'c', 0xa1, 'g', 1, 2, 0x90}
	for range depth {
		b = append(b, 0x91)
	}
	return append(b, 0x01)
}
