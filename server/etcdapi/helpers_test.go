package etcdapi_test

import (
	"context"
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

// env is a natsraft cluster with the etcd API on every node.
type env struct {
	t       *testing.T
	c       *testcluster.Cluster
	opts    etcdapi.Options
	apis    map[string]*etcdapi.Server
	addrs   map[string]string
	clients []*clientv3.Client
}

// newEnv starts a 3-node cluster (n1, n2, n3) with the etcd API on each.
func newEnv(t *testing.T, opts etcdapi.Options) *env {
	t.Helper()
	e := &env{t: t, c: testcluster.Start(t, "n1", "n2", "n3"), opts: opts,
		apis: map[string]*etcdapi.Server{}, addrs: map[string]string{}}
	t.Cleanup(e.close)
	for _, name := range e.c.Names {
		e.serve(name)
	}
	e.c.Leader()
	return e
}

// serve starts the etcd API of node name on a free loopback port (the
// same port again after a restart).
func (e *env) serve(name string) {
	e.t.Helper()
	addr := e.addrs[name]
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.addrs[name] = l.Addr().String()
	opts := e.opts
	opts.ClientURLs = []string{"http://" + l.Addr().String()}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	api, err := etcdapi.New(e.c.Nodes[name], opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.apis[name] = api
	go func() { _ = api.Serve(l) }()
}

// stop stops node name and its etcd API, as a crash would look to clients.
func (e *env) stop(name string) {
	e.t.Helper()
	e.apis[name].Stop()
	delete(e.apis, name)
	e.c.StopNode(name)
}

func (e *env) close() {
	for _, c := range e.clients {
		c.Close()
	}
	for name, api := range e.apis {
		api.Stop()
		delete(e.apis, name)
	}
}

func (e *env) endpoint(name string) string { return "http://" + e.addrs[name] }

// client returns a clientv3 client of the named members (all when none).
func (e *env) client(names ...string) *clientv3.Client {
	e.t.Helper()
	if len(names) == 0 {
		names = e.c.Names
	}
	var eps []string
	for _, n := range names {
		eps = append(eps, e.endpoint(n))
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		e.t.Fatal(err)
	}
	e.clients = append(e.clients, c)
	return c
}

func (e *env) node(name string) *server.Node { return e.c.Nodes[name] }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
