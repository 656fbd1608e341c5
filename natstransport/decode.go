package natstransport

import (
	"fmt"
	"math"

	"github.com/natsraft/natsraft/raft"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// DecodeBatch decodes one envelope of kind batch, bounding every length by
// lim (zero fields take defaults). It checks the wire format only: cluster,
// sender and message types are the transport's business.
//
// The Data of entries, the Context of messages and the snapshot Data alias
// data, which must not be modified while they are in use.
func DecodeBatch(data []byte, lim Limits) (Batch, error) {
	d := newSliceDecoder(lim)
	d.reset(data)
	var b Batch
	d.batch(&b)
	d.end()
	if d.err != nil {
		return Batch{}, d.err
	}
	return b, nil
}

// DecodeMsgpack reads an envelope of kind batch under DefaultLimits. Byte
// strings are copied out of the decoder's reader, which is not seen whole:
// a hostile length is bounded only by the limits, not by the input's size.
// Received traffic goes through DecodeBatch's path, which checks both.
func (b *Batch) DecodeMsgpack(dec *msgpack.Decoder) error {
	d := decoder{dec: dec, lim: DefaultLimits()}
	d.batch(b)
	return d.err
}

func (m *wireMessage) DecodeMsgpack(dec *msgpack.Decoder) error {
	d := decoder{dec: dec, lim: DefaultLimits()}
	d.message((*raft.Message)(m))
	return d.err
}

func (en *wireEntry) DecodeMsgpack(dec *msgpack.Decoder) error {
	d := decoder{dec: dec, lim: DefaultLimits()}
	d.entry((*raft.Entry)(en))
	return d.err
}

// decoder reads wire structs with the msgpack decoder's primitives. Every
// length is checked against a limit before anything is allocated; the first
// error sticks and later reads return zero values.
//
// When aliasing, the source is a byte slice the decoder may point into:
// byte strings are sub-slices of it and no array may claim more elements
// than there are bytes left. Otherwise byte strings are copied.
type decoder struct {
	dec      *msgpack.Decoder
	src      sliceReader
	aliasing bool
	lim      Limits
	err      error
}

// rawHeader is a decoded envelope header. Cluster and group alias the input.
type rawHeader struct {
	kind           kind
	cluster, group []byte
	from, to       uint64
	extraFields    int
}

func newSliceDecoder(lim Limits) *decoder {
	d := &decoder{aliasing: true, lim: lim.withDefaults()}
	d.dec = msgpack.NewDecoder(&d.src)
	return d
}

// reset points a slice decoder at data. REQUIRES: d.aliasing.
func (d *decoder) reset(data []byte) {
	d.src = sliceReader{data: data}
	d.err = nil
}

// finish skips an envelope's unknown trailing fields after its body, checks
// that nothing follows, and returns the first error of the whole decode.
func (d *decoder) finish(h *rawHeader) error {
	d.skip(h.extraFields)
	d.end()
	return d.err
}

// end checks that the whole input was consumed.
func (d *decoder) end() {
	if d.err == nil && d.aliasing && d.src.remaining() != 0 {
		d.fail(fmt.Errorf("%w: %d trailing bytes", ErrMalformed, d.src.remaining()))
	}
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) malformed(err error) { d.fail(fmt.Errorf("%w: %w", ErrMalformed, err)) }

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	if d.aliasing {
		if v, ok := d.src.uint(); ok {
			return v
		}
	}
	v, err := d.dec.DecodeUint64()
	if err != nil {
		d.malformed(err)
	}
	return v
}

// uintMax reads an unsigned integer and fails with err if it exceeds max.
func (d *decoder) uintMax(max uint64, err error) uint64 {
	v := d.uint()
	if v > max {
		d.fail(err)
		return 0
	}
	return v
}

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	if c, ok := d.src.peek(); d.aliasing && ok && (c == msgpcode.True || c == msgpcode.False) {
		d.src.pos++
		return c == msgpcode.True
	}
	v, err := d.dec.DecodeBool()
	if err != nil {
		d.malformed(err)
	}
	return v
}

// arrayLen reads the header of a list of at most max elements; nil reads
// as an empty list.
func (d *decoder) arrayLen(max int) int {
	if d.err != nil {
		return 0
	}
	n, err := d.decodeArrayLen()
	switch {
	case err != nil:
		d.malformed(err)
	case n > max:
		d.fail(fmt.Errorf("%w: %d elements, limit %d", ErrTooLarge, n, max))
	case d.aliasing && n > d.src.remaining():
		d.fail(fmt.Errorf("%w: %d elements in %d bytes", ErrMalformed, n, d.src.remaining()))
	case n > 0:
		return n
	}
	return 0
}

// structLen reads the header of a wire struct with known fields and returns
// how many unknown trailing fields follow them (see skip).
func (d *decoder) structLen(known int) int {
	if d.err != nil {
		return 0
	}
	n, err := d.decodeArrayLen()
	if err != nil {
		d.malformed(err)
		return 0
	}
	if n < known || n > known+extraFieldsMax {
		d.fail(fmt.Errorf("%w: struct of %d fields, want %d", ErrMalformed, n, known))
		return 0
	}
	return n - known
}

// bytes reads a byte string (bin or str) of at most max bytes; nil reads as
// a nil slice.
func (d *decoder) bytes(max int) []byte {
	if d.err != nil {
		return nil
	}
	n, err := d.decodeBytesLen()
	switch {
	case err != nil:
		d.malformed(err)
		return nil
	case n < 0:
		return nil
	case n > max:
		d.fail(fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, max))
		return nil
	}
	if d.aliasing {
		if n > d.src.remaining() {
			d.fail(fmt.Errorf("%w: %d bytes in %d", ErrMalformed, n, d.src.remaining()))
			return nil
		}
		return d.src.take(n)
	}
	b := make([]byte, n)
	if err := d.dec.ReadFull(b); err != nil {
		d.malformed(err)
		return nil
	}
	return b
}

func (d *decoder) decodeArrayLen() (int, error) {
	if d.aliasing {
		if n, ok := d.src.arrayLen(); ok {
			return n, nil
		}
	}
	return d.dec.DecodeArrayLen()
}

func (d *decoder) decodeBytesLen() (int, error) {
	if d.aliasing {
		if n, ok := d.src.bytesLen(); ok {
			return n, nil
		}
	}
	return d.dec.DecodeBytesLen()
}

// isNil consumes a nil and reports true, or leaves any other value unread.
func (d *decoder) isNil() bool {
	if d.err != nil {
		return false
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		d.malformed(err)
		return false
	}
	if c != msgpcode.Nil {
		return false
	}
	if err := d.dec.DecodeNil(); err != nil {
		d.malformed(err)
	}
	return true
}

// skip passes over n unknown trailing fields, nesting at most skipDepthMax
// deep (the library's own Skip recurses without bound).
func (d *decoder) skip(n int) {
	for ; n > 0 && d.err == nil; n-- {
		d.skipValue(0)
	}
}

const skipDepthMax = 8

func (d *decoder) skipValue(depth int) {
	c, err := d.dec.PeekCode()
	if err != nil {
		d.malformed(err)
		return
	}
	isArray := msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
	isMap := msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32
	if !isArray && !isMap {
		if err := d.dec.Skip(); err != nil {
			d.malformed(err)
		}
		return
	}
	if depth >= skipDepthMax {
		d.fail(fmt.Errorf("%w: nested deeper than %d", ErrMalformed, skipDepthMax))
		return
	}
	n := d.containerLen(isMap)
	for ; n > 0 && d.err == nil; n-- {
		d.skipValue(depth + 1)
	}
}

// containerLen reads an array or map header as a count of values.
func (d *decoder) containerLen(isMap bool) int {
	if !isMap {
		return d.arrayLen(math.MaxInt32)
	}
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		d.malformed(err)
		return 0
	}
	if d.aliasing && 2*n > d.src.remaining() {
		d.fail(fmt.Errorf("%w: map of %d in %d bytes", ErrMalformed, n, d.src.remaining()))
		return 0
	}
	return 2 * n
}

// header reads an envelope up to its body.
func (d *decoder) header(h *rawHeader) {
	h.extraFields = d.structLen(envelopeFields)
	if v := d.uint(); d.err == nil && v != wireVersion {
		d.fail(fmt.Errorf("%w: %d", ErrVersion, v))
	}
	k := d.uint()
	if d.err == nil && (k < uint64(kindBatch) || k > uint64(kindAck)) {
		d.fail(fmt.Errorf("%w: %d", ErrKind, k))
	}
	h.kind = kind(k)
	h.cluster = d.bytes(nameBytesMax)
	h.group = d.bytes(nameBytesMax)
	h.from = d.uint()
	h.to = d.uint()
}

// batch reads a whole envelope of kind batch into b.
func (d *decoder) batch(b *Batch) {
	var h rawHeader
	d.header(&h)
	if d.err == nil && h.kind != kindBatch {
		d.fail(fmt.Errorf("%w: %d, want batch", ErrKind, h.kind))
	}
	msgs := d.messages()
	d.skip(h.extraFields)
	if d.err != nil {
		return
	}
	*b = Batch{Cluster: string(h.cluster), Group: string(h.group), From: h.from, To: h.to, Messages: msgs}
}

func (d *decoder) messages() []raft.Message {
	return decodeList(d, d.lim.MessagesPerBatchMax, d.message)
}

// decodeList reads a list of at most max elements with decodeOne; an empty
// list, or any error, gives nil.
func decodeList[T any](d *decoder, max int, decodeOne func(*T)) []T {
	n := d.arrayLen(max)
	if n == 0 {
		return nil
	}
	list := make([]T, n)
	for i := range list {
		decodeOne(&list[i])
	}
	if d.err != nil {
		return nil
	}
	return list
}

func (d *decoder) message(m *raft.Message) {
	extra := d.structLen(messageFields)
	m.Type = raft.MessageType(d.uintMax(math.MaxUint8, ErrMessageType))
	m.Term = d.uint()
	m.LogTerm = d.uint()
	m.Index = d.uint()
	m.Commit = d.uint()
	m.Reject = d.bool()
	m.RejectHint = d.uint()
	m.Context = d.bytes(d.lim.ContextBytesMax)
	m.Entries = d.entries()
	m.Snapshot = d.snapshot()
	d.skip(extra)
}

func (d *decoder) entries() []raft.Entry {
	return decodeList(d, d.lim.EntriesPerMessageMax, d.entry)
}

func (d *decoder) entry(e *raft.Entry) {
	extra := d.structLen(entryFields)
	e.Term = d.uint()
	e.Index = d.uint()
	e.Type = raft.EntryType(d.uintMax(uint64(raft.EntryConfChange), ErrMessageType))
	e.Data = d.bytes(d.lim.EntryBytesMax)
	d.skip(extra)
}

func (d *decoder) snapshot() *raft.Snapshot {
	if d.err != nil || d.isNil() {
		return nil
	}
	s := &raft.Snapshot{}
	extra := d.structLen(snapshotFields)
	s.Metadata.Index = d.uint()
	s.Metadata.Term = d.uint()
	s.Metadata.ConfState.Voters = d.ids(d.lim.ConfStateIDsMax)
	s.Metadata.ConfState.Learners = d.ids(d.lim.ConfStateIDsMax - len(s.Metadata.ConfState.Voters))
	s.Data = d.bytes(int(min(d.lim.SnapshotBytesMax, math.MaxInt32)))
	d.skip(extra)
	if d.err != nil {
		return nil
	}
	return s
}

func (d *decoder) ids(max int) []uint64 {
	return decodeList(d, max, d.id)
}

func (d *decoder) id(id *uint64) { *id = d.uint() }
