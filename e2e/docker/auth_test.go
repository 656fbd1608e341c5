package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/e2e/internal/probe"
	"github.com/natsraft/natsraft/natstransport"
	"github.com/natsraft/natsraft/raft"
	"github.com/natsraft/natsraft/server"
)

// eventTimeout bounds the wait for one expected asynchronous event.
const eventTimeout = 10 * time.Second

// hostAddr is where docker published the container port of node on the
// host, e.g. 127.0.0.1:49153.
func (c *composeCluster) hostAddr(t *testing.T, name, port string) string {
	t.Helper()
	out, err := c.docker("port", c.id(name), port+"/tcp")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
}

// The README's example against the published ports: put on one node, get
// from another.
func (c *composeCluster) readmeExample(t *testing.T) {
	n1, n2 := c.hostAddr(t, "n1", "8080"), c.hostAddr(t, "n2", "8080")
	req, err := http.NewRequest(http.MethodPut, "http://"+n1+"/v1/kv/greeting", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if body := do(t, req); !strings.Contains(body, `"revision"`) {
		t.Fatalf("PUT answered %s", body)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://"+n2+"/v1/kv/greeting", nil)
	if body := do(t, req); !strings.Contains(body, `"value":"hello"`) {
		t.Fatalf("GET from n2 answered %s", body)
	}
}

func do(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", req.Method, req.URL, resp.Status, body)
	}
	return string(body)
}

// The compose cluster's NATS authorization (deploy/nats-auth.json): a
// client user may use the API, watches included, but neither publish nor
// subscribe on Raft subjects; a wrong password is refused; a Raft message
// from a sender that is no member, published by a node user (who may
// publish Raft messages), is dropped by the transport.
func (c *composeCluster) authorization(t *testing.T) {
	t.Run("WrongPassword", func(t *testing.T) {
		nc, err := nats.Connect("nats://"+c.ip("n1")+":4222", nats.UserInfo(clientUser, "wrong"), nats.NoReconnect())
		if err == nil {
			nc.Close()
			t.Fatal("a wrong password was accepted")
		}
		if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Fatalf("wrong password: %v", err)
		}
	})
	t.Run("ClientUserCannotUseRaftSubjects", func(t *testing.T) {
		violations := make(chan error, 4)
		nc := c.connect(t, clientUser, clientPassword, true, []string{"n1"},
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
		subject := natstransport.Subject(clusterName, raftGroup, server.NodeID("n2"), natstransport.LaneControl)
		if err := nc.Publish(subject, []byte("x")); err != nil {
			t.Fatal(err)
		}
		expectViolation(t, violations, "publish", subject)
		if _, err := nc.SubscribeSync(natstransport.PublishPermission(clusterName)); err != nil {
			t.Fatal(err)
		}
		expectViolation(t, violations, "subscription", natstransport.PublishPermission(clusterName))
	})
	t.Run("ClientUserCanWatch", c.clientUserCanWatch)
	t.Run("UnknownSenderDropped", c.unknownSenderDropped)
}

// clientUserCanWatch follows a watch over more events than the node may
// send before the client grants more credits: the watch's control messages
// (credits, heartbeats) must pass the authorization too, without a
// permissions violation and without the watch stalling.
func (c *composeCluster) clientUserCanWatch(t *testing.T) {
	violations := make(chan error, 16)
	cl := c.clientOn(t, c.connect(t, clientUser, clientPassword, true, []string{"n1"},
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case violations <- err:
			default:
			}
		})))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const puts = 2 * client.DefaultWatchCredits
	// A read first: the watch then starts after the revision the client
	// has seen, not at whatever "now" is when its create request reaches
	// a node, which may be after the first put.
	if _, err := cl.Get(ctx, "auth/watched"); err != nil {
		t.Fatal(err)
	}
	events := cl.Watch(wctx, "auth/watched")
	for i := range puts {
		value := fmt.Sprint(i)
		if _, err := cl.Put(ctx, "auth/watched", value); err != nil {
			t.Fatal(err)
		}
		if err := awaitEvent(events, value, violations); err != nil {
			t.Fatalf("watch, event %d of %d: %v", i+1, puts, err)
		}
	}
}

// awaitEvent reads the watch until an event carries value; an asynchronous
// error on the connection, or no such event within eventTimeout, fails.
func awaitEvent(events client.WatchChan, value string, errs <-chan error) error {
	timeout := time.After(eventTimeout)
	for {
		select {
		case resp, ok := <-events:
			if !ok {
				return errors.New("the watch ended")
			}
			if err := resp.Err(); err != nil {
				return err
			}
			for _, ev := range resp.Events {
				if string(ev.Kv.Value) == value {
					return nil
				}
			}
		case err := <-errs:
			return err
		case <-timeout:
			return fmt.Errorf("no event within %v", eventTimeout)
		}
	}
}

func expectViolation(t *testing.T, errs <-chan error, kind, subject string) {
	t.Helper()
	select {
	case err := <-errs:
		msg := strings.ToLower(err.Error())
		if !strings.Contains(msg, "permissions violation") || !strings.Contains(msg, kind) || !strings.Contains(err.Error(), subject) {
			t.Fatalf("want a permissions violation for %s on %s, got %v", kind, subject, err)
		}
	case <-time.After(eventTimeout):
		t.Fatalf("the server allowed a client user to %s on %s", kind, subject)
	}
}

// unknownSenderDropped publishes, as node user n1, a heartbeat from a node
// that is no member with a term far ahead: accepted, it would depose the
// leader. n2 must drop it and count it.
func (c *composeCluster) unknownSenderDropped(t *testing.T) {
	target := c.probes("n2")[0]
	st, err := probe.Status(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	before, err := probe.Metric(ctx, target, "natsraft_transport_dropped_total", `reason="sender"`)
	if err != nil {
		t.Fatal(err)
	}
	violations := make(chan error, 4)
	nc := c.connect(t, "n1", nodePassword("n1"), true, []string{"n1"},
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	data, err := natstransport.EncodeBatch(nil, &natstransport.Batch{
		Cluster: clusterName, Group: raftGroup, From: server.NodeID("intruder"), To: st.ID,
		Messages: []raft.Message{{Type: raft.MsgHeartbeat, Term: st.Term + 100, Commit: st.CommitIndex}},
	})
	if err != nil {
		t.Fatal(err)
	}
	subject := natstransport.Subject(clusterName, raftGroup, st.ID, natstransport.LaneControl)
	if err := nc.Publish(subject, data); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	err = probe.Until(ctx, eventTimeout, "n2 to count a message from an unknown sender", func(ctx context.Context) (bool, string, error) {
		select {
		case err := <-violations:
			return false, "", fmt.Errorf("the node user may not publish Raft messages: %w", err)
		default:
		}
		dropped, err := probe.Metric(ctx, target, "natsraft_transport_dropped_total", `reason="sender"`)
		return dropped > before, fmt.Sprintf("dropped for sender: %v", dropped), err
	})
	if err != nil {
		t.Fatal(err)
	}
	after, err := probe.Status(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if after.Term >= st.Term+100 {
		t.Fatalf("n2 took the intruder's term %d", after.Term)
	}
	// The cluster still works as before.
	if _, err := c.client(t, nodeNames...).Put(ctx, "auth/after-intruder", "ok"); err != nil {
		t.Fatal(err)
	}
}
