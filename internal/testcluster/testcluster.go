// Package testcluster runs natsraft nodes inside a test process: each node
// has its own NATS connection to one embedded nats-server and its own data
// directory, with real timers. Tests of the server, the client and the
// APIs share it.
package testcluster

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/natsraft/natsraft/natstransport"
	"github.com/natsraft/natsraft/server"
)

// Cluster is a set of in-process nodes.
type Cluster struct {
	t testing.TB
	// NATS is the embedded server every node and client connects to.
	NATS  *natsserver.Server
	dir   string
	Names []string
	Nodes map[string]*server.Node
}

// Start starts the named nodes as a new cluster and stops them when the
// test ends.
func Start(t testing.TB, names ...string) *Cluster {
	t.Helper()
	return StartWith(t, server.Config{}, names...)
}

// StartWith is Start with base settings (SnapshotEntries, TickInterval...)
// for every node; Peers is set to names.
func StartWith(t testing.TB, base server.Config, names ...string) *Cluster {
	t.Helper()
	ns, err := natstransport.StartServer(natstransport.ServerOptions{Port: natstransport.RandomPort, MaxPayload: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, NATS: ns, dir: t.TempDir(), Names: names, Nodes: map[string]*server.Node{}}
	t.Cleanup(c.close)
	for _, name := range names {
		cfg := base
		cfg.Peers = names
		c.StartNode(name, cfg)
	}
	return c
}

// Connect returns a new NATS connection to the cluster's server, closed
// when the test ends.
func (c *Cluster) Connect(name string) *nats.Conn {
	c.t.Helper()
	nc, err := natstransport.Connect(natstransport.ConnectOptions{InProcess: c.NATS, Name: name})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// StartNode starts (or restarts, from its data directory) node name.
// Name, Cluster, NATS, DataDir, TickInterval and Logger are filled in.
func (c *Cluster) StartNode(name string, cfg server.Config) *server.Node {
	c.t.Helper()
	events := new(natstransport.ConnEvents)
	nc, err := natstransport.Connect(natstransport.ConnectOptions{InProcess: c.NATS, Name: name, Events: events})
	if err != nil {
		c.t.Fatal(err)
	}
	cfg.Name, cfg.Cluster, cfg.NATS, cfg.NATSEvents = name, "test", nc, events
	cfg.DataDir = filepath.Join(c.dir, name)
	if cfg.TickInterval == 0 {
		// Elections take 10-20 ticks. At 10 ms, a node starved of CPU for
		// 100 ms (the race detector, with other test packages on two cores)
		// could lose its leadership in the middle of a test.
		cfg.TickInterval = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	n, err := server.Start(cfg)
	if err != nil {
		nc.Close()
		c.t.Fatal(err)
	}
	c.Nodes[name] = n
	return n
}

// StopNode stops node name gracefully and closes its NATS connection.
func (c *Cluster) StopNode(name string) {
	c.t.Helper()
	n := c.Nodes[name]
	delete(c.Nodes, name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		c.t.Errorf("stopping %s: %v", name, err)
	}
	n.NATS().Close()
}

func (c *Cluster) close() {
	for name := range c.Nodes {
		c.StopNode(name)
	}
	c.NATS.Shutdown()
}

// WaitFor polls cond until it holds or 10 s pass. The nodes run on real
// timers, so "a leader exists" has no event to await; the poll is bounded.
func (c *Cluster) WaitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Leader waits until every running node agrees on one running leader.
func (c *Cluster) Leader() string {
	c.t.Helper()
	var lead string
	c.WaitFor("a leader all nodes agree on", func() bool {
		lead = ""
		for _, n := range c.Nodes {
			st := n.Status()
			if st.Leader == "none" || (lead != "" && st.Leader != lead) {
				return false
			}
			lead = st.Leader
		}
		_, running := c.Nodes[lead]
		return running
	})
	return lead
}
