package etcdapi_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/etcdapi"
	"github.com/natsraft/natsraft/server/etcdapi/etcdapitest"
)

// env is a natsraft cluster with the etcd API on every node
// (etcdapitest), under the short names these tests use.
type env struct {
	t    *testing.T
	c    *etcdapitest.Cluster
	apis map[string]*etcdapi.Server
}

// newEnv starts a 3-node cluster (n1, n2, n3) with the etcd API on each.
func newEnv(t *testing.T, opts etcdapi.Options) *env {
	t.Helper()
	c := etcdapitest.Start(t, opts, "n1", "n2", "n3")
	return &env{t: t, c: c, apis: c.APIs}
}

// stop stops node name and its etcd API, as a crash would look to clients.
func (e *env) stop(name string) { e.c.StopNode(name) }

func (e *env) endpoint(name string) string { return e.c.Endpoint(name) }

// client returns a clientv3 client of the named members (all when none).
func (e *env) client(names ...string) *clientv3.Client { return e.c.Client(names...) }

func (e *env) node(name string) *server.Node { return e.c.Nodes[name] }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
