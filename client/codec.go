package client

import (
	"bytes"
	"errors"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/kv"
)

// codec encodes a call's request and decodes its reply with msgpack,
// reusing its buffers across calls: no copy of the encoding (as
// msgpack.Marshal makes) and no reader per reply (as msgpack.Unmarshal
// makes). Encoder and decoder are reset before each use, to the state
// Marshal and Unmarshal use them in.
type codec struct {
	buf    bytes.Buffer
	enc    *msgpack.Encoder
	reader bytes.Reader
	dec    *msgpack.Decoder
}

// codecBufferMax is the largest buffer a codec keeps for reuse, so that
// one large request does not pin its memory in the pool.
const codecBufferMax = 64 << 10

var codecs = sync.Pool{New: func() any {
	return &codec{enc: msgpack.NewEncoder(nil), dec: msgpack.NewDecoder(nil)}
}}

func getCodec() *codec { return codecs.Get().(*codec) }

// putCodec returns cd to the pool. The encoding it returned must no longer
// be used: nats.go copies a request's data before RequestMsg* returns.
func putCodec(cd *codec) {
	if cd.buf.Cap() <= codecBufferMax {
		codecs.Put(cd)
	}
}

// encode returns the encoding of v, valid until the next encode or putCodec.
func (cd *codec) encode(v any) ([]byte, error) {
	cd.buf.Reset()
	cd.enc.Reset(&cd.buf)
	err := cd.enc.Encode(v)
	return cd.buf.Bytes(), err
}

// decode decodes data into v.
func (cd *codec) decode(data []byte, v any) error {
	defer cd.reader.Reset(nil) // the pool keeps no reply alive
	if put, ok := v.(*kv.PutResponse); ok && cd.decodePut(data, put) {
		return nil
	}
	cd.read(data)
	return cd.dec.Decode(v)
}

func (cd *codec) read(data []byte) {
	cd.reader.Reset(data)
	cd.dec.Reset(&cd.reader)
}

// putReplyPrefix is the encoding of the usual reply to a put up to its
// revision, {"header": {"revision": , as msgpack encodes a kv.PutResponse
// without PrevKv by its tags.
var putReplyPrefix = func() []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := errors.Join(enc.EncodeMapLen(1), enc.EncodeString("header"),
		enc.EncodeMapLen(1), enc.EncodeString("revision")); err != nil {
		panic(err)
	}
	return buf.Bytes()
}()

// decodePut decodes the usual reply to a put without reflection, as
// msgpack would; it reports false, having decoded nothing, for any other
// form (a PrevKv, another encoding), which msgpack then decodes.
func (cd *codec) decodePut(data []byte, out *kv.PutResponse) bool {
	rest, ok := bytes.CutPrefix(data, putReplyPrefix)
	if !ok {
		return false
	}
	cd.read(rest)
	revision, err := cd.dec.DecodeInt64()
	if err != nil || cd.reader.Len() != 0 {
		return false
	}
	out.Header.Revision = revision
	return true
}
