package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/natstransport"
)

// testCluster runs nodes in this process, each with its own NATS
// connection to one embedded nats-server and its own data directory.
type testCluster struct {
	t     *testing.T
	ns    *natsserver.Server
	dir   string
	names []string
	nodes map[string]*Node
}

func newTestCluster(t *testing.T, names ...string) *testCluster {
	t.Helper()
	ns, err := natstransport.StartServer(natstransport.ServerOptions{Port: natstransport.RandomPort, DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, ns: ns, dir: t.TempDir(), names: names, nodes: map[string]*Node{}}
	t.Cleanup(c.close)
	for _, name := range names {
		c.start(name, Config{Peers: names})
	}
	return c
}

func (c *testCluster) start(name string, cfg Config) *Node {
	c.t.Helper()
	nc, err := natstransport.Connect(natstransport.ConnectOptions{InProcess: c.ns, Name: name})
	if err != nil {
		c.t.Fatal(err)
	}
	cfg.Name, cfg.Cluster, cfg.NATS = name, "test", nc
	cfg.DataDir = filepath.Join(c.dir, name)
	cfg.TickInterval = 10 * time.Millisecond
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	n, err := Start(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[name] = n
	return n
}

func (c *testCluster) stop(name string) {
	c.t.Helper()
	n := c.nodes[name]
	delete(c.nodes, name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		c.t.Fatalf("stopping %s: %v", name, err)
	}
	n.cfg.NATS.Close()
}

func (c *testCluster) close() {
	for name := range c.nodes {
		c.stop(name)
	}
	c.ns.Shutdown()
}

// waitFor polls cond until it holds or the deadline passes: the cluster
// runs on real timers, so there is no event to await for "a leader exists".
func (c *testCluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits until every running node agrees on one leader.
func (c *testCluster) leader() string {
	c.t.Helper()
	var lead string
	c.waitFor("a leader all nodes agree on", func() bool {
		lead = ""
		for _, n := range c.nodes {
			st := n.Status()
			if st.Leader == "none" || (lead != "" && st.Leader != lead) {
				return false
			}
			lead = st.Leader
		}
		_, running := c.nodes[lead]
		return running
	})
	return lead
}

func put(ctx context.Context, n *Node, key, value string) (*kv.Response, error) {
	return n.Write(ctx, &kv.Request{Put: &kv.PutRequest{Key: []byte(key), Value: []byte(value)}})
}

func get(ctx context.Context, n *Node, key string) (string, bool, error) {
	resp, err := n.Range(ctx, &kv.RangeRequest{Key: []byte(key)}, false)
	if err != nil || len(resp.Kvs) == 0 {
		return "", false, err
	}
	return string(resp.Kvs[0].Value), true, nil
}

func TestClusterReplicatesAndSurvivesLeaderLoss(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lead := c.leader()
	for i := range 20 {
		if _, err := put(ctx, c.nodes[lead], fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	// Every node reads the last write linearizably, followers included.
	for name, n := range c.nodes {
		if v, ok, err := get(ctx, n, "k19"); err != nil || !ok || v != "v19" {
			t.Fatalf("%s: get k19 = %q %t %v", name, v, ok, err)
		}
	}
	// Lose the leader: the others elect a new one and take writes, also
	// through a follower that forwards them.
	c.stop(lead)
	newLead := c.leader()
	if newLead == lead {
		t.Fatalf("stopped leader %s still reported as leader", lead)
	}
	for name, n := range c.nodes {
		if _, err := put(ctx, n, "after-"+name, "x"); err != nil {
			t.Fatalf("put via %s after leader loss: %v", name, err)
		}
	}
	// The old leader restarts from its data directory alone and catches up.
	old := c.start(lead, Config{})
	c.waitFor(lead+" to catch up", func() bool {
		v, ok, err := get(ctx, old, "after-"+newLead)
		return err == nil && ok && v == "x"
	})
}
