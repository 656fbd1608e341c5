package natstransport

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/natsraft/natsraft/raft"
)

// pollUntil polls cond until it holds, failing after waitTimeout. Only for
// server state that NATS reports no event for (routes, remote interest).
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestEmbeddedClusterRoutes joins three embedded servers by routes, one
// node on each, and delivers a message published at one server to nodes on
// the two others.
func TestEmbeddedClusterRoutes(t *testing.T) {
	seed := startServer(t, ServerOptions{Name: "s1", ClusterPort: RandomPort})
	routes := []string{RouteURL(seed)}
	servers := []*server.Server{
		seed,
		startServer(t, ServerOptions{Name: "s2", Routes: routes}),
		startServer(t, ServerOptions{Name: "s3", Routes: routes}),
	}
	for _, s := range servers {
		pollUntil(t, "a full mesh of routes", func() bool { return RoutedServers(s) == 2 })
	}
	ids := []uint64{1, 2, 3}
	nodes := make([]*Transport, 3)
	inboxes := make([]*inbox, 3)
	for i, s := range servers {
		nodes[i], inboxes[i] = newNode(t, connect(t, ConnectOptions{URL: s.ClientURL()}), ids[i], ids)
	}
	for _, to := range ids[1:] {
		subject := Subject(testCluster, testGroup, to, LaneControl)
		pollUntil(t, "interest in "+subject, func() bool { return seed.GlobalAccount().SubscriptionInterest(subject) })
	}
	nodes[0].Send([]raft.Message{
		{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 5},
		{Type: raft.MsgHeartbeat, From: 1, To: 3, Term: 5},
	})
	for _, in := range inboxes[1:] {
		if got := in.next(t); got[0].From != 1 || got[0].Term != 5 {
			t.Fatalf("got %+v", got)
		}
	}
}

// TestAuthPermissions: a user allowed only its own client subjects cannot
// publish on the Raft subjects; the server refuses and nothing arrives.
func TestAuthPermissions(t *testing.T) {
	nodeUser := func(name string, id uint64) User {
		return User{Name: name, Password: name + "-pw", Publish: []string{PublishPermission(testCluster)},
			Subscribe: []string{SubscribePermission(testCluster, id)}}
	}
	s := startServer(t, ServerOptions{Users: []User{
		nodeUser("n1", 1), nodeUser("n2", 2),
		{Name: "client", Password: "client-pw", Publish: []string{"kv.>"}, Subscribe: []string{"_INBOX.>"}},
	}})
	a, _ := newNode(t, connect(t, ConnectOptions{URL: s.ClientURL(), User: "n1", Password: "n1-pw"}), 1, []uint64{1, 2})
	b, in := newNode(t, connect(t, ConnectOptions{URL: s.ClientURL(), User: "n2", Password: "n2-pw"}), 2, []uint64{1, 2})
	errs := make(chan error, 4)
	intruder := connect(t, ConnectOptions{URL: s.ClientURL(), User: "client", Password: "client-pw",
		OnEvent: func(ev ConnEvent, err error) {
			if ev == EventError {
				errs <- err
			}
		}})
	forged := rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 2, raft.Message{Type: raft.MsgHeartbeat, Term: 666})
	if err := intruder.Publish(Subject(testCluster, testGroup, 2, LaneControl), forged); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, errs); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("intruder error %v", err)
	}
	a.Send([]raft.Message{{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 1}})
	if got := in.next(t); got[0].Term != 1 {
		t.Fatalf("got %+v", got)
	}
	if n := b.Stats().Lanes[LaneControl].BatchesReceived; n != 1 {
		t.Fatalf("node 2 received %d batches, want 1", n)
	}
	if _, err := Connect(ConnectOptions{URL: s.ClientURL(), User: "client", Password: "wrong"}); err == nil {
		t.Fatal("connected with a wrong password")
	}
}

// TestConnectRejectsTwoAuthMethods: credentials are one method at a time.
func TestConnectRejectsTwoAuthMethods(t *testing.T) {
	_, err := Connect(ConnectOptions{URL: "nats://127.0.0.1:1", User: "u", Token: "t"})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("got %v", err)
	}
}

// TestConnectInProcess connects to an embedded server without TCP.
func TestConnectInProcess(t *testing.T) {
	s := startServer(t, ServerOptions{DontListen: true})
	a, _ := newNode(t, connect(t, ConnectOptions{InProcess: s}), 1, []uint64{1, 2})
	_, in := newNode(t, connect(t, ConnectOptions{InProcess: s}), 2, []uint64{1, 2})
	a.Send([]raft.Message{{Type: raft.MsgVote, From: 1, To: 2, Term: 8}})
	if got := in.next(t); got[0].Type != raft.MsgVote {
		t.Fatalf("got %+v", got)
	}
}

// TestServerLoggerLevels: the server's errors are errors, but a failed
// route attempt (a peer not up yet, retried every second) is a warning.
func TestServerLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := serverLogger{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Errorf("Error trying to connect to route (attempt %d): %v", 1, "connection refused")
	l.Errorf("Error flushing: %v", "broken pipe")
	out := buf.String()
	if !strings.Contains(out, `level=WARN msg="Error trying to connect to route (attempt 1)`) ||
		!strings.Contains(out, `level=ERROR msg="Error flushing: broken pipe"`) {
		t.Fatalf("log:\n%s", out)
	}
}
