package kv

import (
	"encoding/binary"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// MarshalRequest encodes a Request for the Raft log: msgpack, as
// msgpack.Marshal(req) would, but a Put is written by hand (no reflection,
// one allocation).
func MarshalRequest(req *Request) ([]byte, error) {
	return AppendRequest(nil, req)
}

// AppendRequest appends the encoding of req to dst.
func AppendRequest(dst []byte, req *Request) ([]byte, error) {
	p := req.Put
	if p == nil || req.Range != nil || req.DeleteRange != nil || req.Txn != nil || req.Compaction != nil || req.isLease() {
		data, err := msgpack.Marshal(req)
		return append(dst, data...), err
	}
	if dst == nil {
		dst = make([]byte, 0, 16+len(p.Key)+len(p.Value))
	}
	dst = append(dst, 0x93, codecVersion, kindPut, 0x94)
	dst = appendMsgpackBytes(dst, p.Key)
	dst = appendMsgpackBytes(dst, p.Value)
	dst = appendMsgpackInt(dst, p.Lease)
	return appendMsgpackInt(dst, int64(putFlags(p))), nil
}

func putFlags(p *PutRequest) uint64 {
	flags := uint64(0)
	if p.PrevKv {
		flags |= putFlagPrevKv
	}
	if p.IgnoreValue {
		flags |= putFlagIgnoreValue
	}
	if p.IgnoreLease {
		flags |= putFlagIgnoreLease
	}
	return flags
}

// UnmarshalRequest decodes a Request. A Put in the form AppendRequest
// writes is read by hand into two allocations; anything else goes through
// msgpack. The Request does not alias data.
func UnmarshalRequest(data []byte) (*Request, error) {
	if req, ok := decodePutFast(data); ok {
		return req, nil
	}
	req := new(Request)
	if err := msgpack.Unmarshal(data, req); err != nil {
		return nil, err
	}
	return req, nil
}

// putEnvelope puts a Request and its PutRequest in one allocation.
type putEnvelope struct {
	req Request
	put PutRequest
}

func decodePutFast(data []byte) (*Request, bool) {
	if len(data) < 4 || data[0] != 0x93 || data[1] != codecVersion || data[2] != kindPut || data[3] != 0x94 {
		return nil, false
	}
	r := msgpackReader{data: data, pos: 4, ok: true}
	key, value := r.bytes(), r.bytes()
	lease, flags := r.int(), r.int()
	if !r.ok || r.pos != len(data) {
		return nil, false
	}
	e := &putEnvelope{}
	e.put = PutRequest{
		Lease:       lease,
		PrevKv:      flags&putFlagPrevKv != 0,
		IgnoreValue: flags&putFlagIgnoreValue != 0,
		IgnoreLease: flags&putFlagIgnoreLease != 0,
	}
	buf := make([]byte, len(key)+len(value))
	if key != nil {
		e.put.Key = buf[:copy(buf, key):len(key)]
	}
	if value != nil {
		e.put.Value = buf[len(key) : len(key)+copy(buf[len(key):], value)]
	}
	e.req.Put = &e.put
	return &e.req, true
}

func appendMsgpackBytes(dst, b []byte) []byte {
	switch {
	case b == nil:
		return append(dst, 0xc0)
	case len(b) <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(len(b)))
	case len(b) <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(len(b)))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(len(b)))
	}
	return append(dst, b...)
}

// appendMsgpackInt writes n in the shortest form, as msgpack's EncodeInt.
func appendMsgpackInt(dst []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= math.MaxInt8:
		return append(dst, byte(n))
	case n >= 0 && n <= math.MaxUint8:
		return append(dst, 0xcc, byte(n))
	case n >= 0 && n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(n))
	case n >= 0 && n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(n))
	case n >= 0:
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), uint64(n))
	case n >= -32:
		return append(dst, byte(n))
	case n >= math.MinInt8:
		return append(dst, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(n))
}

// msgpackReader reads the few msgpack forms of the Put fast path; ok turns
// false on anything else, and the caller falls back to msgpack.
type msgpackReader struct {
	data []byte
	pos  int
	ok   bool
}

func (r *msgpackReader) next(n int) []byte {
	if !r.ok || n < 0 || len(r.data)-r.pos < n {
		r.ok = false
		return nil
	}
	b := r.data[r.pos : r.pos+n]
	r.pos += n
	return b
}

func (r *msgpackReader) bytes() []byte {
	code := r.next(1)
	if code == nil {
		return nil
	}
	var n int
	switch code[0] {
	case 0xc0:
		return nil
	case 0xc4:
		n = int(r.uint(1))
	case 0xc5:
		n = int(r.uint(2))
	case 0xc6:
		n = int(r.uint(4))
	default:
		r.ok = false
		return nil
	}
	return r.next(n)
}

func (r *msgpackReader) uint(size int) uint64 {
	b := r.next(size)
	if b == nil {
		return 0
	}
	v := uint64(0)
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func (r *msgpackReader) int() int64 {
	code := r.next(1)
	switch {
	case code == nil:
		return 0
	case code[0] <= 0x7f || code[0] >= 0xe0:
		return int64(int8(code[0]))
	case code[0] >= 0xcc && code[0] <= 0xcf:
		return int64(r.uint(1 << (code[0] - 0xcc)))
	case code[0] >= 0xd0 && code[0] <= 0xd3:
		size := 1 << (code[0] - 0xd0)
		v := r.uint(size)
		shift := 64 - 8*size
		return int64(v<<shift) >> shift
	}
	r.ok = false
	return 0
}
