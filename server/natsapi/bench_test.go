package natsapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/kv"
)

// BenchmarkPut measures the API's put path end to end over an in-process
// NATS server, with a backend that answers at once. Requests go to the
// node's own subject, as the Go client sends writes once it knows the
// leader. allocs/op is the service's cost plus the NATS client's and
// server's, which this package does not control.
//
//	go test -run X -bench Put -benchmem ./server/natsapi/
func BenchmarkPut(b *testing.B) {
	key, value := strings.Repeat("k", 16), strings.Repeat("v", 128)
	body, err := msgpack.Marshal(&kv.PutRequest{Key: []byte(key), Value: []byte(value)})
	if err != nil {
		b.Fatal(err)
	}
	// The Go client's headers (package client).
	mp := nats.Header{HeaderContentType: {ContentTypeMsgpack}, HeaderTimeout: {"4500"}}
	b.Run("msgpack", func(b *testing.B) { benchPut(b, body, mp, 1) })
	b.Run("json", func(b *testing.B) { benchPut(b, []byte(`{"key":"`+key+`","value":"`+value+`"}`), nil, 1) })
	b.Run("msgpack-parallel", func(b *testing.B) { benchPut(b, body, mp, 16) })
}

// benchPut sends body with header to the put endpoint from parallelism
// goroutines per CPU.
func benchPut(b *testing.B, body []byte, header nats.Header, parallelism int) {
	f := &fakeNode{leader: "fake", write: func(ctx context.Context, _ *kv.Request) (*kv.Response, error) {
		select { // as the node's await does
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
		}
		return &kv.Response{Put: &kv.PutResponse{Header: kv.ResponseHeader{Revision: 7}}}, nil
	}}
	nc := startFake(b, f, Options{})
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m := &nats.Msg{Subject: NodeSubject("fake", "fake", EndpointPut), Data: body, Header: header}
			reply, err := nc.RequestMsg(m, 5*time.Second)
			if err != nil || reply.Header.Get(HeaderErrorCode) != "" {
				b.Fatalf("put: %v %v", err, reply.Header)
			}
		}
	})
}
