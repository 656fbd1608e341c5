package client

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/natstransport"
	"github.com/natsraft/natsraft/server/natsapi"
)

// fakeRange answers range requests with the revision answer returns, and
// records whether each request was serializable.
type fakeRange struct {
	mu           sync.Mutex
	serializable []bool
	answer       func(serializable bool) int64
}

func startFakeRange(t *testing.T, f *fakeRange) *Client {
	t.Helper()
	ns, err := natstransport.StartServer(natstransport.ServerOptions{Port: natstransport.RandomPort, DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := natstransport.Connect(natstransport.ConnectOptions{InProcess: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	_, err = nc.Subscribe(natsapi.Subject("fake", natsapi.EndpointRange), func(m *nats.Msg) {
		var req kv.RangeRequest
		if err := msgpack.Unmarshal(m.Data, &req); err != nil {
			t.Error(err)
			return
		}
		f.mu.Lock()
		f.serializable = append(f.serializable, req.Serializable)
		f.mu.Unlock()
		rev := f.answer(req.Serializable)
		data, _ := msgpack.Marshal(&kv.RangeResponse{Header: kv.ResponseHeader{Revision: rev}})
		reply := nats.NewMsg(m.Reply)
		reply.Data = data
		reply.Header.Set(natsapi.HeaderRevision, strconv.FormatInt(rev, 10))
		_ = nc.PublishMsg(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(nc, "fake", Options{RetryBackoffMin: time.Millisecond, RetryBackoffMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStaleSerializableReadsAreRetried(t *testing.T) {
	answers := []int64{5, 6, 12}
	f := &fakeRange{answer: func(bool) int64 {
		rev := answers[0]
		answers = answers[1:]
		return rev
	}}
	c := startFakeRange(t, f)
	c.observe(10)
	resp, err := c.Get(context.Background(), "k", WithSerializable())
	if err != nil || resp.Header.Revision != 12 || len(f.serializable) != 3 {
		t.Fatalf("got revision %v (%v) after %d requests, want 12 after 3", resp, err, len(f.serializable))
	}
}

func TestAlwaysStaleSerializableReadsBecomeLinearizable(t *testing.T) {
	f := &fakeRange{answer: func(serializable bool) int64 {
		if serializable {
			return 5 // a lagging node
		}
		return 15
	}}
	c := startFakeRange(t, f)
	c.observe(10)
	resp, err := c.Get(context.Background(), "k", WithSerializable())
	if err != nil || resp.Header.Revision != 15 {
		t.Fatalf("got %+v, %v", resp, err)
	}
	want := make([]bool, DefaultStaleReadTries+1) // serializable tries, then a linearizable one
	for i := range DefaultStaleReadTries {
		want[i] = true
	}
	if len(f.serializable) != len(want) {
		t.Fatalf("requests serializable %v, want %v", f.serializable, want)
	}
	for i := range want {
		if f.serializable[i] != want[i] {
			t.Fatalf("requests serializable %v, want %v", f.serializable, want)
		}
	}
	if c.Revision() != 15 {
		t.Fatalf("session revision %d after a read at 15", c.Revision())
	}
}
