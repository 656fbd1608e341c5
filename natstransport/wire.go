package natstransport

import (
	"errors"
	"io"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// wireVersion is the first field of every envelope. A receiver drops any
// other version (DropVersion); a later version that only appends fields to
// a struct keeps this number, since decoders skip trailing fields.
const wireVersion = 1

// kind says what an envelope's body holds.
type kind uint8

const (
	kindBatch kind = 1 + iota // body: array of Message
	kindChunk                 // body: snapshot chunk
	kindAck                   // body: snapshot acknowledgement
)

// Field counts of the wire structs (msgpack arrays). A decoder accepts a
// longer array and skips the extra fields; a shorter one is malformed.
const (
	envelopeFields = 7 // version, kind, cluster, group, from, to, body
	messageFields  = 10
	entryFields    = 4
	snapshotFields = 5
	chunkFields    = 7
	ackFields      = 3

	// extraFieldsMax bounds how many unknown trailing fields are skipped.
	extraFieldsMax = 32
)

// Errors of the decoder, each mapped to a DropReason by the transport.
var (
	ErrMalformed   = errors.New("natstransport: malformed msgpack")
	ErrVersion     = errors.New("natstransport: unknown wire version")
	ErrKind        = errors.New("natstransport: unknown envelope kind")
	ErrTooLarge    = errors.New("natstransport: size limit exceeded")
	ErrMessageType = errors.New("natstransport: unknown message or entry type")
	ErrConfig      = errors.New("natstransport: invalid config")
	ErrClosed      = errors.New("natstransport: transport closed")
)

// Limits bound everything a decoder allocates for input from the wire. A
// zero field takes its default (see DefaultLimits).
type Limits struct {
	MessagesPerBatchMax  int    // raft messages in one envelope
	EntriesPerMessageMax int    // entries in one MsgApp or MsgProp
	EntryBytesMax        int    // Data of one entry
	ContextBytesMax      int    // Context of one message
	ConfStateIDsMax      int    // voters plus learners in snapshot metadata
	SnapshotBytesMax     uint64 // whole snapshot image
}

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MessagesPerBatchMax:  1 << 14,
		EntriesPerMessageMax: 1 << 16,
		EntryBytesMax:        64 << 20,
		ContextBytesMax:      64 << 10,
		ConfStateIDsMax:      1 << 10,
		SnapshotBytesMax:     1 << 30,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	l.MessagesPerBatchMax = orDefault(l.MessagesPerBatchMax, d.MessagesPerBatchMax)
	l.EntriesPerMessageMax = orDefault(l.EntriesPerMessageMax, d.EntriesPerMessageMax)
	l.EntryBytesMax = orDefault(l.EntryBytesMax, d.EntryBytesMax)
	l.ContextBytesMax = orDefault(l.ContextBytesMax, d.ContextBytesMax)
	l.ConfStateIDsMax = orDefault(l.ConfStateIDsMax, d.ConfStateIDsMax)
	l.SnapshotBytesMax = orDefault(l.SnapshotBytesMax, d.SnapshotBytesMax)
	return l
}

func orDefault[T ~int | ~uint64 | ~int64](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// byteBuffer is the reusable destination of an encoder: an append-only
// slice that satisfies the msgpack writer interface and never fails.
type byteBuffer struct{ b []byte }

func (w *byteBuffer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *byteBuffer) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

// sliceReader is the source of a decoder. It implements io.ByteScanner, so
// msgpack reads it without buffering ahead, and the decoder may take byte
// strings straight out of it (aliasing) after checking their length against
// what is left.
type sliceReader struct {
	data []byte
	pos  int
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if r.pos >= len(r.data) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, r.data[r.pos:])
	r.pos += n
	return n, nil
}

func (r *sliceReader) ReadByte() (byte, error) {
	if r.pos >= len(r.data) {
		return 0, io.EOF
	}
	c := r.data[r.pos]
	r.pos++
	return c, nil
}

func (r *sliceReader) UnreadByte() error {
	if r.pos == 0 {
		return io.ErrNoProgress
	}
	r.pos--
	return nil
}

func (r *sliceReader) remaining() int { return len(r.data) - r.pos }

// take returns the next n bytes, capacity-limited so that an append by the
// receiver can never write into the bytes that follow.
// REQUIRES: 0 <= n <= r.remaining().
func (r *sliceReader) take(n int) []byte {
	b := r.data[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return b
}

// The methods below read the common msgpack forms straight from the slice,
// which is several times faster than the decoder's byte-at-a-time interface
// calls. Each returns ok == false, consuming nothing, for any other form or
// a short input; the caller then asks the msgpack decoder, which shares this
// reader's position, so both paths accept exactly the same input.

// uint reads a positive fixint or a uint 8/16/32/64.
func (r *sliceReader) uint() (uint64, bool) {
	return r.prefixed(0, msgpcode.PosFixedNumHigh, &uintWidths)
}

// arrayLen reads a fixarray, array16 or array32 header.
func (r *sliceReader) arrayLen() (int, bool) {
	n, ok := r.prefixed(msgpcode.FixedArrayLow, msgpcode.FixedArrayHigh, &arrayWidths)
	return int(n), ok
}

// bytesLen reads a bin or str header.
func (r *sliceReader) bytesLen() (int, bool) {
	n, ok := r.prefixed(msgpcode.FixedStrLow, msgpcode.FixedStrHigh, &bytesWidths)
	return int(n), ok
}

// prefixed reads a number held either in the low bits of a code in
// fixLow..fixHigh, or big-endian after a code with a width in widths.
func (r *sliceReader) prefixed(fixLow, fixHigh byte, widths *[256]uint8) (uint64, bool) {
	c, ok := r.peek()
	if ok && c >= fixLow && c <= fixHigh {
		r.pos++
		return uint64(c - fixLow), true
	}
	return r.bigEndian(int(widths[c]))
}

// Widths of the big-endian integer after a msgpack code byte, by code; 0
// for the codes a reader does not handle.
var (
	uintWidths  = widths(msgpcode.Uint8, 1, msgpcode.Uint16, 2, msgpcode.Uint32, 4, msgpcode.Uint64, 8)
	arrayWidths = widths(msgpcode.Array16, 2, msgpcode.Array32, 4)
	bytesWidths = widths(msgpcode.Bin8, 1, msgpcode.Str8, 1, msgpcode.Bin16, 2, msgpcode.Str16, 2,
		msgpcode.Bin32, 4, msgpcode.Str32, 4)
)

func widths(codeWidthPairs ...byte) (table [256]uint8) {
	for i := 0; i+1 < len(codeWidthPairs); i += 2 {
		table[codeWidthPairs[i]] = codeWidthPairs[i+1]
	}
	return table
}

// bigEndian reads the n-byte unsigned integer after the code byte; n == 0
// means the code is not one the caller reads.
func (r *sliceReader) bigEndian(n int) (uint64, bool) {
	if n == 0 || r.remaining() < 1+n {
		return 0, false
	}
	var v uint64
	for _, b := range r.data[r.pos+1 : r.pos+1+n] {
		v = v<<8 | uint64(b)
	}
	r.pos += 1 + n
	return v, true
}

// peek returns the next byte without consuming it.
func (r *sliceReader) peek() (byte, bool) {
	if r.pos >= len(r.data) {
		return 0, false
	}
	return r.data[r.pos], true
}
