// Package etcdapitest runs an in-process cluster (internal/testcluster)
// with the etcd API served on a loopback port of every node, for the tests
// of the API and the end-to-end tests that drive it with etcd's own clients
// (e2e/kube runs Kubernetes' storage layer on it).
package etcdapitest

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/grpclog"

	"github.com/natsraft/natsraft/internal/testcluster"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/etcdapi"
)

func init() {
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
}

// Cluster is a testcluster.Cluster whose nodes serve the etcd API.
type Cluster struct {
	*testcluster.Cluster
	t    testing.TB
	opts etcdapi.Options
	// APIs are the running etcd APIs by node name.
	APIs    map[string]*etcdapi.Server
	addrs   map[string]string
	clients []*clientv3.Client
}

// Start starts the named nodes as a new cluster, serves the etcd API of
// each with opts, and waits for a leader. Everything stops when the test
// ends.
func Start(t testing.TB, opts etcdapi.Options, names ...string) *Cluster {
	t.Helper()
	return StartWith(t, server.Config{}, opts, names...)
}

// StartWith is Start with base settings for every node, as
// testcluster.StartWith.
func StartWith(t testing.TB, base server.Config, opts etcdapi.Options, names ...string) *Cluster {
	t.Helper()
	c := &Cluster{Cluster: testcluster.StartWith(t, base, names...), t: t, opts: opts,
		APIs: map[string]*etcdapi.Server{}, addrs: map[string]string{}}
	// Registered after testcluster's cleanup, so it runs first: the APIs
	// stop before their nodes.
	t.Cleanup(c.close)
	for _, name := range names {
		c.Serve(name)
	}
	c.Leader()
	return c
}

// Serve starts the etcd API of node name on a free loopback port (the
// same port again after a restart).
func (c *Cluster) Serve(name string) {
	c.t.Helper()
	addr := c.addrs[name]
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.addrs[name] = l.Addr().String()
	opts := c.opts
	opts.ClientURLs = []string{c.Endpoint(name)}
	opts.Logger = slog.New(slog.DiscardHandler)
	api, err := etcdapi.New(c.Nodes[name], opts)
	if err != nil {
		c.t.Fatal(err)
	}
	c.APIs[name] = api
	go func() { _ = api.Serve(l) }()
}

// StopNode stops node name and its etcd API, as a crash would look to
// clients.
func (c *Cluster) StopNode(name string) {
	c.t.Helper()
	c.APIs[name].Stop()
	delete(c.APIs, name)
	c.Cluster.StopNode(name)
}

func (c *Cluster) close() {
	for _, cli := range c.clients {
		cli.Close()
	}
	for name, api := range c.APIs {
		api.Stop()
		delete(c.APIs, name)
	}
}

// Endpoint is the URL of node name's etcd API.
func (c *Cluster) Endpoint(name string) string { return "http://" + c.addrs[name] }

// Endpoints are the URLs of the named members' etcd APIs (all when none
// is named).
func (c *Cluster) Endpoints(names ...string) []string {
	if len(names) == 0 {
		names = c.Names
	}
	eps := make([]string, 0, len(names))
	for _, n := range names {
		eps = append(eps, c.Endpoint(n))
	}
	return eps
}

// ClientConfig is a clientv3 configuration for the named members (all
// when none is named), without logs.
func (c *Cluster) ClientConfig(names ...string) clientv3.Config {
	return clientv3.Config{Endpoints: c.Endpoints(names...), DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
}

// Client returns a clientv3 client of the named members (all when none is
// named), closed when the test ends.
func (c *Cluster) Client(names ...string) *clientv3.Client {
	c.t.Helper()
	cli, err := clientv3.New(c.ClientConfig(names...))
	if err != nil {
		c.t.Fatal(err)
	}
	c.clients = append(c.clients, cli)
	return cli
}
