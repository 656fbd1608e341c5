// Package natsapitest runs an in-process cluster (internal/testcluster)
// with the NATS API registered on every node, for the tests of the API,
// the Go client and the CLI.
package natsapitest

import (
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/natsraft/natsraft/internal/testcluster"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
)

// Cluster is a testcluster.Cluster whose nodes serve the NATS API.
type Cluster struct {
	*testcluster.Cluster
	t    testing.TB
	opts natsapi.Options
}

// Start starts the named nodes, each with the API registered with opts.
func Start(t testing.TB, opts natsapi.Options, names ...string) *Cluster {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{Cluster: testcluster.Start(t, names...), t: t, opts: opts}
	for _, name := range names {
		c.register(c.Nodes[name])
	}
	return c
}

// Name is the cluster's name, which scopes the subjects.
func (c *Cluster) Name() string {
	for _, n := range c.Nodes {
		return n.Status().Cluster
	}
	c.t.Fatal("no node is running")
	return ""
}

// StartNode (re)starts node name, as testcluster does, and registers the
// API on it. Stop it with StopNode: its API stops with its connection.
func (c *Cluster) StartNode(name string, cfg server.Config) *server.Node {
	c.t.Helper()
	n := c.Cluster.StartNode(name, cfg)
	c.register(n)
	return n
}

func (c *Cluster) register(n *server.Node) {
	c.t.Helper()
	if _, err := natsapi.Register(n.NATS(), n, c.opts); err != nil {
		c.t.Fatalf("registering the NATS API on %s: %v", n.Status().Name, err)
	}
}

// Conn is a new client connection, closed when the test ends.
func (c *Cluster) Conn() *nats.Conn { return c.Connect("test-client") }
