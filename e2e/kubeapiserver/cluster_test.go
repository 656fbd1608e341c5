package kubeapiserver

import (
	"testing"
	"time"

	"github.com/natsraft/natsraft/server/etcdapi"
	"github.com/natsraft/natsraft/server/etcdapi/etcdapitest"
)

// progressNotifyInterval is etcd's --experimental-watch-progress-notify-interval
// (kube-apiserver asks for progress notifications on every watch). Each
// notification moves the revision a watch resumes from on another member
// to the present, so a quiet watch that loses its member resumes above the
// compaction, which trails by at least compactionInterval, and
// kube-apiserver need not relist.
const progressNotifyInterval = time.Second

// startNatsraft starts three in-process natsraft nodes, each serving the
// etcd API on a loopback port. Endpoints lists them all, stopped ones
// included (kube-apiserver is given them all, as it would be in
// production).
func startNatsraft(t *testing.T) *etcdapitest.Cluster {
	t.Helper()
	return etcdapitest.Start(t, etcdapi.Options{ProgressNotifyInterval: progressNotifyInterval}, "n1", "n2", "n3")
}

// compactRevision is the highest compaction revision of the running nodes.
func compactRevision(c *etcdapitest.Cluster) int64 {
	var rev int64
	for _, n := range c.Nodes {
		rev = max(rev, n.CompactRevision())
	}
	return rev
}
