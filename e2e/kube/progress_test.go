package kube

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"

	"github.com/natsraft/natsraft/server/etcdapi"
)

// TestCachersShareWatchStream: kube-apiserver's watch caches share one
// client, so their watches share one gRPC watch stream. A consistent read
// from a cache asks progress of the whole stream (RequestWatchProgress),
// which etcd, and natsraft, answers once every watcher of the stream has
// caught up, with one notification all the stream's watchers get. A cache
// whose keys saw no write since it started learns the revision only so.
func TestCachersShareWatchStream(t *testing.T) {
	c := startCluster(t, etcdapi.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := defaultCacherOptions()
	opts.client = c.kubeClient(t)
	busy, idle := c.newCacherSuite(t, opts), c.newCacherSuite(t, opts)
	for i := range 10 {
		pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("p%d", i)}}
		created := &example.Pod{}
		if err := busy.delegator.Create(ctx, "/pods/ns/"+pod.Name, pod, created, 0); err != nil {
			t.Fatal(err)
		}
		for name, cs := range map[string]*cacherSuite{"idle": idle, "busy": busy} {
			if rv := cacheList(ctx, t, cs, ""); rv != created.ResourceVersion {
				t.Fatalf("write %d: consistent list of the %s cache at %s, want %s", i, name, rv, created.ResourceVersion)
			}
			// Served from the cache, which the consistent read brought up
			// to the revision (from etcd, it would not have moved).
			if rv := cacheList(ctx, t, cs, "0"); rv != created.ResourceVersion {
				t.Fatalf("write %d: the %s cache at %s after a consistent read at %s", i, name, rv, created.ResourceVersion)
			}
		}
	}
}

// cacheList lists the pods of the cache at resourceVersion, returning the
// list's.
func cacheList(ctx context.Context, t *testing.T, cs *cacherSuite, resourceVersion string) string {
	t.Helper()
	list := &example.PodList{}
	opts := storage.ListOptions{ResourceVersion: resourceVersion, Predicate: storage.Everything, Recursive: true}
	if err := cs.delegator.GetList(ctx, "/pods/", opts, list); err != nil {
		t.Fatal(err)
	}
	return list.ResourceVersion
}
