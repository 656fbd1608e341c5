package kubeapiserver

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/natsraft/natsraft/internal/testcluster"
	"github.com/natsraft/natsraft/server/etcdapi"
)

// progressNotifyInterval is etcd's --experimental-watch-progress-notify-interval
// (kube-apiserver asks for progress notifications on every watch). Each
// notification moves the revision a watch resumes from on another member
// to the present, so a quiet watch that loses its member resumes above the
// compaction, which trails by at least compactionInterval, and
// kube-apiserver need not relist.
const progressNotifyInterval = time.Second

// natsraftCluster is three in-process natsraft nodes, each serving the
// etcd API on a loopback port.
type natsraftCluster struct {
	t    *testing.T
	c    *testcluster.Cluster
	apis map[string]*etcdapi.Server
	urls map[string]string // etcd client URL by node name
}

func startNatsraft(t *testing.T) *natsraftCluster {
	t.Helper()
	c := &natsraftCluster{t: t, c: testcluster.Start(t, "n1", "n2", "n3"),
		apis: map[string]*etcdapi.Server{}, urls: map[string]string{}}
	t.Cleanup(c.close)
	for _, name := range c.c.Names {
		c.serve(name)
	}
	c.c.Leader()
	return c
}

func (c *natsraftCluster) serve(name string) {
	c.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	api, err := etcdapi.New(c.c.Nodes[name], etcdapi.Options{
		ClientURLs:             []string{url},
		ProgressNotifyInterval: progressNotifyInterval,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		l.Close()
		c.t.Fatal(err)
	}
	c.apis[name], c.urls[name] = api, url
	go func() { _ = api.Serve(l) }()
}

// endpoints are the etcd client URLs of every node, stopped ones included
// (kube-apiserver is given them all, as it would be in production).
func (c *natsraftCluster) endpoints() []string {
	var eps []string
	for _, name := range c.c.Names {
		eps = append(eps, c.urls[name])
	}
	return eps
}

// leader waits until the running nodes agree on a leader and names it.
func (c *natsraftCluster) leader() string {
	c.t.Helper()
	return c.c.Leader()
}

// stop stops node name and its etcd API at once, connections and all, as a
// crash looks to clients.
func (c *natsraftCluster) stop(name string) {
	c.t.Helper()
	c.apis[name].Stop()
	delete(c.apis, name)
	c.c.StopNode(name)
}

// compactRevision is the highest compaction revision of the running nodes.
func (c *natsraftCluster) compactRevision() int64 {
	var rev int64
	for _, n := range c.c.Nodes {
		rev = max(rev, n.CompactRevision())
	}
	return rev
}

func (c *natsraftCluster) close() {
	for name, api := range c.apis {
		api.Stop()
		delete(c.apis, name)
	}
}
