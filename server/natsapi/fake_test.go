package natsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsraft/natsraft/actor"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/natstransport"
	"github.com/natsraft/natsraft/raft"
	"github.com/natsraft/natsraft/server"
)

// fakeNode is a backend whose answers the test chooses.
type fakeNode struct {
	write  func(ctx context.Context, req *kv.Request) (*kv.Response, error)
	admin  error
	leader string // the leader's name; "": none known
	done   chan struct{}
}

func (f *fakeNode) Write(ctx context.Context, req *kv.Request) (*kv.Response, error) {
	return f.write(ctx, req)
}

func (f *fakeNode) Range(ctx context.Context, req *kv.RangeRequest, _ bool) (*kv.RangeResponse, error) {
	return &kv.RangeResponse{Header: kv.ResponseHeader{Revision: 7}}, nil
}

func (f *fakeNode) Watch(kv.WatchRequest) (*kv.Watcher, error) {
	return nil, &kv.CompactedError{CompactRevision: 5}
}

func (f *fakeNode) Status() server.Status {
	st := server.Status{Name: "fake", Cluster: "fake", Revision: 7, Leader: f.leader}
	if f.leader != "" {
		st.LeaderID = 1
	}
	return st
}

func (f *fakeNode) Members() []server.Member                         { return nil }
func (f *fakeNode) AddLearner(context.Context, string) error         { return f.admin }
func (f *fakeNode) PromoteMember(context.Context, string) error      { return f.admin }
func (f *fakeNode) RemoveMember(context.Context, string) error       { return f.admin }
func (f *fakeNode) TransferLeadership(context.Context, string) error { return f.admin }
func (f *fakeNode) Done() <-chan struct{}                            { return f.done }
func (f *fakeNode) ID() uint64                                       { return 1 }

// startFake serves a fakeNode on an embedded NATS server.
func startFake(t testing.TB, f *fakeNode, opts Options) *nats.Conn {
	t.Helper()
	ns, err := natstransport.StartServer(natstransport.ServerOptions{Port: natstransport.RandomPort, DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	connect := func() *nats.Conn {
		nc, err := natstransport.Connect(natstransport.ConnectOptions{InProcess: ns})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	f.done = make(chan struct{})
	opts.Logger = slog.New(slog.DiscardHandler)
	if _, err := register(connect(), f, opts); err != nil {
		t.Fatal(err)
	}
	return connect()
}

func request(t *testing.T, nc *nats.Conn, endpoint, body string, header nats.Header) *nats.Msg {
	t.Helper()
	m := nats.NewMsg(Subject("fake", endpoint))
	m.Data = []byte(body)
	for k, v := range header {
		m.Header[k] = v
	}
	reply, err := nc.RequestMsg(m, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", endpoint, err)
	}
	return reply
}

func wantCode(t *testing.T, reply *nats.Msg, code server.ErrorCode) {
	t.Helper()
	if got := reply.Header.Get(HeaderErrorCode); got != string(code) {
		t.Fatalf("code %q (%s), want %q", got, reply.Header.Get(HeaderError), code)
	}
}

func TestPanicInAHandlerIsAnsweredNotFatal(t *testing.T) {
	f := &fakeNode{write: func(context.Context, *kv.Request) (*kv.Response, error) { panic("boom") }}
	nc := startFake(t, f, Options{})
	for range 2 {
		wantCode(t, request(t, nc, EndpointPut, `{"key":"a"}`, nil), server.CodeInternal)
	}
}

func TestAWriteAnsweredWithTheWrongKindIsInternal(t *testing.T) {
	f := &fakeNode{write: func(context.Context, *kv.Request) (*kv.Response, error) {
		return &kv.Response{Txn: &kv.TxnResponse{}}, nil
	}}
	nc := startFake(t, f, Options{})
	wantCode(t, request(t, nc, EndpointPut, `{"key":"a"}`, nil), server.CodeInternal)
}

func TestRequestsBeyondMaxInflightAreBusy(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	f := &fakeNode{write: func(context.Context, *kv.Request) (*kv.Response, error) {
		entered <- struct{}{}
		<-release
		return &kv.Response{Put: &kv.PutResponse{}}, nil
	}}
	nc := startFake(t, f, Options{MaxInflight: 1})
	first := make(chan *nats.Msg, 1)
	go func() {
		reply, _ := nc.Request(Subject("fake", EndpointPut), []byte(`{"key":"a"}`), 5*time.Second)
		first <- reply
	}()
	<-entered
	wantCode(t, request(t, nc, EndpointPut, `{"key":"b"}`, nil), server.CodeBusy)
	close(release)
	if reply := <-first; reply == nil || reply.Header.Get(HeaderErrorCode) != "" {
		t.Fatalf("the request in flight: %v", reply)
	}
}

func TestTheRequestTimeoutHeaderBoundsTheWait(t *testing.T) {
	f := &fakeNode{write: func(ctx context.Context, _ *kv.Request) (*kv.Response, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	nc := startFake(t, f, Options{RequestTimeout: time.Hour})
	start := time.Now()
	reply := request(t, nc, EndpointPut, `{"key":"a"}`, nats.Header{HeaderTimeout: {"50"}})
	wantCode(t, reply, server.CodeTimeout)
	if !strings.Contains(reply.Header.Get(HeaderError), "may or may not") {
		t.Fatalf("a timeout must say the outcome is unknown: %q", reply.Header.Get(HeaderError))
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("answered after %v, asked for 50ms", d)
	}
	// An absurd timeout is bounded, not overflowed into "already expired".
	api := &api{opts: Options{RequestTimeout: time.Second, MaxRequestTimeout: time.Minute}}
	if d := api.timeout(map[string][]string{HeaderTimeout: {"9223372036854775807"}}); d != time.Minute {
		t.Fatalf("timeout %v for the largest header, want the bound", d)
	}
}

func TestErrorsCarryTheirCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code server.ErrorCode
	}{
		{fmt.Errorf("%w: %w", server.ErrNoLeader, raft.ErrProposalDropped), server.CodeNoLeader},
		{actor.ErrStopped, server.CodeStopped}, // refused: never proposed
		// The node stopped with the write in flight: its outcome is unknown.
		{fmt.Errorf("%w: %w", server.ErrStopped, actor.ErrStopped), server.CodeTimeout},
		{kv.ErrFutureRev, server.CodeFutureRevision},
		{kv.ErrValueTooLarge, server.CodeTooLarge},
		{kv.ErrKeyNotFound, server.CodeNotFound},
		{fmt.Errorf("oops"), server.CodeInternal},
	} {
		f := &fakeNode{write: func(context.Context, *kv.Request) (*kv.Response, error) { return nil, tc.err }}
		nc := startFake(t, f, Options{})
		reply := request(t, nc, EndpointPut, `{"key":"a"}`, nil)
		wantCode(t, reply, tc.code)
		var body ErrorBody
		if err := json.Unmarshal(reply.Data, &body); err != nil || body.Code != tc.code || body.Revision != 7 {
			t.Fatalf("%v: body %s", tc.err, reply.Data)
		}
		if reply.Header.Get(HeaderRevision) != "7" {
			t.Fatalf("%v: no revision header", tc.err)
		}
	}
}

func TestMembershipRefusalAndCompactedWatch(t *testing.T) {
	f := &fakeNode{admin: fmt.Errorf("%w: node 3 is already a voter", raft.ErrConfChangeInvalid)}
	nc := startFake(t, f, Options{})
	wantCode(t, request(t, nc, EndpointAddLearner, `{"name":"n3"}`, nil), server.CodeMembership)
	reply := request(t, nc, EndpointWatch, `{"key":"a","inbox":"x.y","start_revision":2}`, nil)
	wantCode(t, reply, server.CodeCompacted)
	if reply.Header.Get(HeaderCompactRevision) != "5" {
		t.Fatalf("compacted watch without its compact revision: %v", reply.Header)
	}
}
