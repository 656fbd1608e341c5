package client

import (
	"math"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/kv"
)

// TestDecodePutMatchesMsgpack: the put reply fast path decodes what
// msgpack decodes, and leaves any other form to msgpack.
func TestDecodePutMatchesMsgpack(t *testing.T) {
	cd := getCodec()
	defer putCodec(cd)
	for _, rev := range []int64{0, 1, 127, 128, 255, 256, math.MaxUint16 + 1, math.MaxUint32 + 1, math.MaxInt64, -1, -33, math.MinInt64} {
		data, err := msgpack.Marshal(&kv.PutResponse{Header: kv.ResponseHeader{Revision: rev}})
		if err != nil {
			t.Fatal(err)
		}
		var fast kv.PutResponse
		if !cd.decodePut(data, &fast) || fast.Header.Revision != rev || fast.PrevKv != nil {
			t.Errorf("revision %d: fast path decoded %+v", rev, fast)
		}
	}
	withPrev, err := msgpack.Marshal(&kv.PutResponse{Header: kv.ResponseHeader{Revision: 7}, PrevKv: &kv.KeyValue{Key: []byte("k")}})
	if err != nil {
		t.Fatal(err)
	}
	var resp kv.PutResponse
	if cd.decodePut(withPrev, &resp) {
		t.Fatal("fast path took a reply with PrevKv")
	}
	if err := cd.decode(withPrev, &resp); err != nil || resp.Header.Revision != 7 || string(resp.PrevKv.Key) != "k" {
		t.Fatalf("decode = %+v, %v", resp, err)
	}
}
