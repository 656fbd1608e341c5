package natstransport

import (
	"github.com/natsraft/natsraft/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// Batch is the envelope of one publish on the control or append lane: Raft
// messages from one node to another. Messages carry no From and To on the
// wire; they take them from the envelope.
//
// Batch implements msgpack.CustomEncoder and msgpack.CustomDecoder, so
// msgpack.Marshal and msgpack.Unmarshal produce and accept the wire format.
type Batch struct {
	Cluster  string
	Group    string
	From     uint64
	To       uint64
	Messages []raft.Message
}

var (
	_ msgpack.CustomEncoder = (*Batch)(nil)
	_ msgpack.CustomDecoder = (*Batch)(nil)
	_ msgpack.CustomEncoder = (*wireMessage)(nil)
	_ msgpack.CustomDecoder = (*wireMessage)(nil)
	_ msgpack.CustomEncoder = (*wireEntry)(nil)
	_ msgpack.CustomDecoder = (*wireEntry)(nil)
)

// EncodeMsgpack writes b as an envelope of kind batch.
func (b *Batch) EncodeMsgpack(enc *msgpack.Encoder) error {
	e := encoder{enc: enc}
	e.batch(b)
	return e.err
}

// EncodeBatch appends the wire encoding of b to dst.
func EncodeBatch(dst []byte, b *Batch) ([]byte, error) {
	e := newBufferEncoder()
	e.buf.b = dst
	e.batch(b)
	return e.buf.b, e.err
}

// wireMessage and wireEntry give raft's types the msgpack interfaces; they
// share the encoder below with the envelope.
type (
	wireMessage raft.Message
	wireEntry   raft.Entry
)

func (m *wireMessage) EncodeMsgpack(enc *msgpack.Encoder) error {
	e := encoder{enc: enc}
	e.message((*raft.Message)(m))
	return e.err
}

func (en *wireEntry) EncodeMsgpack(enc *msgpack.Encoder) error {
	e := encoder{enc: enc}
	e.entry((*raft.Entry)(en))
	return e.err
}

// encoder writes wire structs with the msgpack encoder's primitives (no
// reflection). The first error sticks and later writes are skipped.
type encoder struct {
	enc *msgpack.Encoder
	err error
}

func (e *encoder) uint(v uint64) {
	if e.err == nil {
		e.err = e.enc.EncodeUint(v)
	}
}

func (e *encoder) bool(v bool) {
	if e.err == nil {
		e.err = e.enc.EncodeBool(v)
	}
}

func (e *encoder) arrayLen(n int) {
	if e.err == nil {
		e.err = e.enc.EncodeArrayLen(n)
	}
}

func (e *encoder) bytes(b []byte) {
	if e.err == nil {
		e.err = e.enc.EncodeBytes(b)
	}
}

func (e *encoder) string(s string) {
	if e.err == nil {
		e.err = e.enc.EncodeString(s)
	}
}

func (e *encoder) nil() {
	if e.err == nil {
		e.err = e.enc.EncodeNil()
	}
}

// header writes the envelope's fields up to its body.
func (e *encoder) header(k kind, cluster, group string, from, to uint64) {
	e.arrayLen(envelopeFields)
	e.uint(wireVersion)
	e.uint(uint64(k))
	e.string(cluster)
	e.string(group)
	e.uint(from)
	e.uint(to)
}

func (e *encoder) batch(b *Batch) {
	e.header(kindBatch, b.Cluster, b.Group, b.From, b.To)
	e.messages(b.Messages)
}

func (e *encoder) messages(msgs []raft.Message) {
	e.arrayLen(len(msgs))
	for i := range msgs {
		e.message(&msgs[i])
	}
}

// message writes every field of m but To and From (see Batch).
func (e *encoder) message(m *raft.Message) {
	e.arrayLen(messageFields)
	e.uint(uint64(m.Type))
	e.uint(m.Term)
	e.uint(m.LogTerm)
	e.uint(m.Index)
	e.uint(m.Commit)
	e.bool(m.Reject)
	e.uint(m.RejectHint)
	e.bytes(m.Context)
	e.arrayLen(len(m.Entries))
	for i := range m.Entries {
		e.entry(&m.Entries[i])
	}
	e.snapshot(m.Snapshot)
}

func (e *encoder) entry(en *raft.Entry) {
	e.arrayLen(entryFields)
	e.uint(en.Term)
	e.uint(en.Index)
	e.uint(uint64(en.Type))
	e.bytes(en.Data)
}

func (e *encoder) snapshot(s *raft.Snapshot) {
	if s == nil {
		e.nil()
		return
	}
	e.arrayLen(snapshotFields)
	e.uint(s.Metadata.Index)
	e.uint(s.Metadata.Term)
	e.ids(s.Metadata.ConfState.Voters)
	e.ids(s.Metadata.ConfState.Learners)
	e.bytes(s.Data)
}

func (e *encoder) ids(ids []uint64) {
	e.arrayLen(len(ids))
	for _, id := range ids {
		e.uint(id)
	}
}

// bufferEncoder is an encoder with its own reusable buffer. Not safe for
// concurrent use.
type bufferEncoder struct {
	encoder
	buf byteBuffer
}

func newBufferEncoder() *bufferEncoder {
	b := &bufferEncoder{}
	b.enc = msgpack.NewEncoder(&b.buf)
	return b
}

// reset empties the buffer, keeping its capacity, and clears the error.
func (b *bufferEncoder) reset() {
	b.buf.b = b.buf.b[:0]
	b.err = nil
}
