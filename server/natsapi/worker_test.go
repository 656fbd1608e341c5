package natsapi

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// TestResponseHeadersAreRefilled: a worker's header map holds only the
// current response's headers.
func TestResponseHeadersAreRefilled(t *testing.T) {
	s := newScratch("n1")
	for _, tc := range []struct {
		msgpack     bool
		revision    int64
		leader      string
		leaderKnown bool
		want        nats.Header
	}{
		{true, 1234, "n2", true, nats.Header{HeaderContentType: {ContentTypeMsgpack},
			HeaderRevision: {"1234"}, HeaderNode: {"n1"}, HeaderLeader: {"n2"}}},
		{false, 1235, "none", false, nats.Header{HeaderContentType: {ContentTypeJSON},
			HeaderRevision: {"1235"}, HeaderNode: {"n1"}}},
		{true, 7, "n3", true, nats.Header{HeaderContentType: {ContentTypeMsgpack},
			HeaderRevision: {"7"}, HeaderNode: {"n1"}, HeaderLeader: {"n3"}}},
	} {
		if got := s.responseHeader(tc.msgpack, tc.revision, tc.leader, tc.leaderKnown); !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("headers %v, want %v", got, tc.want)
		}
	}
}

func TestAWorkerDropsALargeBodyBuffer(t *testing.T) {
	s := newScratch("n1")
	big := bytes.Repeat([]byte{'v'}, 2*maxKeptBodyBytes)
	if _, err := s.marshal(big); err != nil {
		t.Fatal(err)
	}
	s.reset()
	if s.body.Cap() > maxKeptBodyBytes {
		t.Fatalf("kept a buffer of %d bytes", s.body.Cap())
	}
	if data, err := s.marshal(true); err != nil || !bytes.Equal(data, []byte{0xc3}) {
		t.Fatalf("the encoder after the reset: % x, %v", data, err)
	}
}

// TestAWorkerEncodesAsMsgpackMarshal: the reused encoder writes the bytes
// msgpack.Marshal writes (the wire format is unchanged).
func TestAWorkerEncodesAsMsgpackMarshal(t *testing.T) {
	s := newScratch("n1")
	kvs := []kv.KeyValue{{Key: []byte("k"), Value: []byte{0, 0xff}, ModRevision: 1 << 40, Version: 2}}
	for _, v := range []any{
		&kv.PutResponse{Header: kv.ResponseHeader{Revision: 12345}},
		&kv.PutResponse{Header: kv.ResponseHeader{Revision: 9}, PrevKv: &kvs[0]},
		&kv.RangeResponse{Header: kv.ResponseHeader{Revision: 3}, Kvs: kvs, Count: 1, More: true},
		server.Status{Name: "n1", Leader: "n2", LeaderID: 2, Revision: 7},
		OKResponse{OK: true},
	} {
		want, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.marshal(v); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%T: % x (%v), want % x", v, got, err, want)
		}
		s.reset()
	}
}
