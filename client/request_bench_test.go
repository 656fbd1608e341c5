package client_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/natstransport"
	"github.com/natsraft/natsraft/server/natsapi"
)

// The client's own cost per request: puts answered by a canned responder
// on an embedded NATS server, with the headers a node sends, and no Raft.
// go test -run X -bench Canned -benchmem ./client/

func BenchmarkCannedPut(b *testing.B) {
	cl := cannedClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cl.Put(ctx, "bench", "v"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCannedPutParallel(b *testing.B) {
	cl := cannedClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cl.Put(ctx, "bench", "v"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cannedClient returns a client of cluster "canned", whose leader n1
// answers every put, on its own subject and the queue group's, with the
// same reply.
func cannedClient(b *testing.B) *client.Client {
	b.Helper()
	ns, err := natstransport.StartServer(natstransport.ServerOptions{Port: natstransport.RandomPort, DontListen: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ns.Shutdown)
	responder, requester := cannedConn(b, ns), cannedConn(b, ns)
	body, err := msgpack.Marshal(&kv.PutResponse{Header: kv.ResponseHeader{Revision: 42}})
	if err != nil {
		b.Fatal(err)
	}
	reply := nats.Header{natsapi.HeaderContentType: {natsapi.ContentTypeMsgpack}, natsapi.HeaderRevision: {"42"},
		natsapi.HeaderNode: {"n1"}, natsapi.HeaderLeader: {"n1"}}
	answer := func(m *nats.Msg) { _ = m.RespondMsg(&nats.Msg{Header: reply, Data: body}) }
	for _, subject := range []string{natsapi.Subject("canned", natsapi.EndpointPut), natsapi.NodeSubject("canned", "n1", natsapi.EndpointPut)} {
		if _, err := responder.Subscribe(subject, answer); err != nil {
			b.Fatal(err)
		}
	}
	if err := responder.Flush(); err != nil {
		b.Fatal(err)
	}
	cl, err := client.New(requester, "canned", client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

func cannedConn(b *testing.B, ns nats.InProcessConnProvider) *nats.Conn {
	nc, err := natstransport.Connect(natstransport.ConnectOptions{InProcess: ns})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return nc
}
