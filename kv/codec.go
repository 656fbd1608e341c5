package kv

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// msgpack encoding. Most types encode as maps by their tags. The hot types
// encode as arrays by hand, without reflection:
//
//	Request:    [version, kind, operation]
//	PutRequest: [key, value, lease, flags]   flags: 1 prev_kv, 2 ignore_value, 4 ignore_lease
//	KeyValue:   [key, create_revision, mod_revision, version, value, lease]
//
// A decoder reads the fields it knows and skips any extra trailing ones, so
// fields can be appended later without breaking older readers.
const codecVersion = 1

// Operation kinds of the Request envelope.
const (
	kindRange       = 1
	kindPut         = 2
	kindDeleteRange = 3
	kindTxn         = 4
	kindCompaction  = 5
	kindLeaseGrant  = 6
	kindLeaseRevoke = 7
	kindLeaseRenew  = 8
)

const (
	putFlagPrevKv      = 1
	putFlagIgnoreValue = 2
	putFlagIgnoreLease = 4
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (r Request) EncodeMsgpack(enc *msgpack.Encoder) error {
	kind, op := r.operation()
	if kind == 0 {
		return invalidf("no operation to encode")
	}
	if err := errors.Join(enc.EncodeArrayLen(3), enc.EncodeUint(codecVersion), enc.EncodeUint(kind)); err != nil {
		return err
	}
	return enc.Encode(op)
}

func (r *Request) operation() (uint64, any) {
	switch {
	case r.Range != nil:
		return kindRange, r.Range
	case r.Put != nil:
		return kindPut, r.Put
	case r.DeleteRange != nil:
		return kindDeleteRange, r.DeleteRange
	case r.Txn != nil:
		return kindTxn, r.Txn
	case r.Compaction != nil:
		return kindCompaction, r.Compaction
	case r.LeaseGrant != nil:
		return kindLeaseGrant, r.LeaseGrant
	case r.LeaseRevoke != nil:
		return kindLeaseRevoke, r.LeaseRevoke
	case r.LeaseRenew != nil:
		return kindLeaseRenew, r.LeaseRenew
	}
	return 0, nil
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (r *Request) DecodeMsgpack(dec *msgpack.Decoder) error {
	d := decoder{dec: dec}
	n := d.arrayLen()
	version, kind := d.uint(), d.uint()
	switch {
	case d.err != nil:
		return d.err
	case n != 3:
		return fmt.Errorf("kv: request envelope of %d fields", n)
	case version != codecVersion:
		return fmt.Errorf("kv: request encoding version %d, want %d", version, codecVersion)
	}
	*r = Request{}
	var op any
	switch kind {
	case kindRange:
		op = alloc(&r.Range)
	case kindPut:
		op = alloc(&r.Put)
	case kindDeleteRange:
		op = alloc(&r.DeleteRange)
	case kindTxn:
		op = alloc(&r.Txn)
	case kindCompaction:
		op = alloc(&r.Compaction)
	case kindLeaseGrant:
		op = alloc(&r.LeaseGrant)
	case kindLeaseRevoke:
		op = alloc(&r.LeaseRevoke)
	case kindLeaseRenew:
		op = alloc(&r.LeaseRenew)
	default:
		return fmt.Errorf("kv: unknown request kind %d", kind)
	}
	return dec.Decode(op)
}

// alloc sets *field to a new T and returns it.
func alloc[T any](field **T) *T {
	*field = new(T)
	return *field
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (p PutRequest) EncodeMsgpack(enc *msgpack.Encoder) error {
	return errors.Join(enc.EncodeArrayLen(4), enc.EncodeBytes(p.Key), enc.EncodeBytes(p.Value),
		enc.EncodeInt(p.Lease), enc.EncodeUint(putFlags(&p)))
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (p *PutRequest) DecodeMsgpack(dec *msgpack.Decoder) error {
	d := decoder{dec: dec}
	n := d.arrayLen()
	*p = PutRequest{}
	p.Key, p.Value, p.Lease = d.bytesField(&n), d.bytesField(&n), d.intField(&n)
	flags := uint64(d.intField(&n))
	p.PrevKv = flags&putFlagPrevKv != 0
	p.IgnoreValue = flags&putFlagIgnoreValue != 0
	p.IgnoreLease = flags&putFlagIgnoreLease != 0
	d.skip(n)
	return d.err
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (kv KeyValue) EncodeMsgpack(enc *msgpack.Encoder) error {
	return errors.Join(enc.EncodeArrayLen(6), enc.EncodeBytes(kv.Key), enc.EncodeInt(kv.CreateRevision),
		enc.EncodeInt(kv.ModRevision), enc.EncodeInt(kv.Version), enc.EncodeBytes(kv.Value), enc.EncodeInt(kv.Lease))
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (kv *KeyValue) DecodeMsgpack(dec *msgpack.Decoder) error {
	d := decoder{dec: dec}
	n := d.arrayLen()
	*kv = KeyValue{}
	kv.Key = d.bytesField(&n)
	kv.CreateRevision, kv.ModRevision, kv.Version = d.intField(&n), d.intField(&n), d.intField(&n)
	kv.Value, kv.Lease = d.bytesField(&n), d.intField(&n)
	d.skip(n)
	return d.err
}

// decoder keeps the first error of a sequence of reads. The *Field reads
// take the count of fields left and return the zero value past the end.
type decoder struct {
	dec *msgpack.Decoder
	err error
}

// decodeWith runs decode unless an earlier read failed.
func decodeWith[T any](d *decoder, decode func() (T, error)) T {
	var v T
	if d.err == nil {
		v, d.err = decode()
	}
	return v
}

func (d *decoder) arrayLen() int { return decodeWith(d, d.dec.DecodeArrayLen) }

func (d *decoder) uint() uint64 { return decodeWith(d, d.dec.DecodeUint64) }

// field consumes one of the fields left, if any.
func (d *decoder) field(left *int) bool {
	if d.err != nil || *left <= 0 {
		return false
	}
	*left--
	return true
}

func (d *decoder) bytesField(left *int) []byte {
	if !d.field(left) {
		return nil
	}
	return decodeWith(d, d.dec.DecodeBytes)
}

func (d *decoder) intField(left *int) int64 {
	if !d.field(left) {
		return 0
	}
	return decodeWith(d, d.dec.DecodeInt64)
}

func (d *decoder) skip(n int) {
	for ; n > 0 && d.err == nil; n-- {
		d.err = d.dec.Skip()
	}
}
