package kube

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/etcd3"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/natsraft/natsraft/server/etcdapi"
)

// compactInterval is the compactors' interval (kube-apiserver's
// --etcd-compaction-interval, 5 minutes by default), on a fake clock.
const compactInterval = time.Minute

// TestCompactor runs the compactor kube-apiserver runs (etcd3's compact
// loop: the compact_rev_key version compare, then Compact) against
// natsraft, two apiservers' worth, and checks that what it compacted is
// gone for kube: reads at compacted revisions fail, and watches from them
// get "too old resource version" (410 Expired).
func TestCompactor(t *testing.T) {
	c := startCluster(t, etcdapi.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clock := testingclock.NewFakeClock(time.Now())
	compactor := etcd3.NewCompactor(c.Client(), compactInterval, clock, nil)
	t.Cleanup(compactor.Stop)
	opts := defaultStoreOptions()
	opts.compactor = compactor
	s := c.newSuite(t, opts)

	pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	const key = "/pods/ns/p"
	created := &example.Pod{}
	if err := s.store.Create(ctx, key, pod, created, 0); err != nil {
		t.Fatal(err)
	}
	updated := relabel(ctx, t, s.store, key)

	// The first cycle compacts nothing: it records the compaction time,
	// and the next cycle compacts at its transaction's revision.
	cycle(t, clock)
	if rev := compactor.CompactRevision(); rev != 0 {
		t.Fatalf("the first cycle compacted at %d", rev)
	}
	recorded := compactRevKey(ctx, t, s.client.Client)
	compacted := recorded.ModRevision // where the next cycle compacts
	if recorded.Version != 1 || compacted <= int64(mustParseRV(t, updated.ResourceVersion)) {
		t.Fatalf("compact_rev_key after the first cycle: %v", recorded)
	}
	cycle(t, clock)
	if rev := compactor.CompactRevision(); rev != compacted {
		t.Fatalf("the second cycle compacted at %d, want %d (the first cycle's revision)", rev, compacted)
	}
	if _, err := s.client.Client.Get(ctx, s.prefix+key, clientv3.WithRev(compacted-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("read below the compaction: %v, want %v", err, rpctypes.ErrCompacted)
	}
	if _, err := s.client.Client.Get(ctx, s.prefix+key, clientv3.WithRev(compacted)); err != nil {
		t.Fatalf("read at the compaction: %v", err)
	}

	// A second apiserver's compactor, whose time is behind, loses the
	// compare: it learns the time and the compaction, and compacts nothing.
	otherClock := testingclock.NewFakeClock(time.Now())
	other := etcd3.NewCompactor(c.Client(), compactInterval, otherClock, nil)
	t.Cleanup(other.Stop)
	cycle(t, otherClock)
	if got := compactRevKey(ctx, t, s.client.Client); got.Version != 2 || other.CompactRevision() != compacted {
		t.Fatalf("after a lost compare: compact_rev_key %v, the loser's compaction %d (want version 2, %d)",
			got, other.CompactRevision(), compacted)
	}

	// Kube's reads and watches at the compacted revisions.
	list := &example.PodList{}
	err := s.store.GetList(ctx, "/pods/", storage.ListOptions{ResourceVersion: created.ResourceVersion,
		ResourceVersionMatch: metav1.ResourceVersionMatchExact, Predicate: storage.Everything, Recursive: true}, list)
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("list at compacted revision %s: %v, want 410 Expired", created.ResourceVersion, err)
	}
	w, err := s.store.Watch(ctx, key, storage.ListOptions{ResourceVersion: created.ResourceVersion, Predicate: storage.Everything})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := nextEvent(t, w)
	status, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok || status.Reason != metav1.StatusReasonExpired || status.Code != 410 {
		t.Fatalf("watch from compacted revision %s: %s %#v, want a 410 Expired error", created.ResourceVersion, ev.Type, ev.Object)
	}
	// From the compaction on, watches still work.
	w2, err := s.store.Watch(ctx, key, storage.ListOptions{ResourceVersion: strconv.FormatInt(compacted, 10), Predicate: storage.Everything})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	latest := relabel(ctx, t, s.store, key)
	if ev := nextEvent(t, w2); ev.Type != watch.Modified || ev.Object.(*example.Pod).ResourceVersion != latest.ResourceVersion {
		t.Fatalf("watch from the compaction revision: %s %#v, want the update at %s", ev.Type, ev.Object, latest.ResourceVersion)
	}
}

// cycle runs one compaction cycle of the compactor on clock: it waits for
// the loop's timer, fires it, and waits until the loop has set the next
// (so the cycle's transaction and compaction are done).
func cycle(t *testing.T, clock *testingclock.FakeClock) {
	t.Helper()
	waitFor(t, "the compactor's timer", clock.HasWaiters)
	clock.Step(compactInterval)
	waitFor(t, "the compactor's cycle", clock.HasWaiters)
}

// compactRevKey reads the compactors' shared key.
func compactRevKey(ctx context.Context, t *testing.T, cli *clientv3.Client) *mvccpb.KeyValue {
	t.Helper()
	resp, err := cli.Get(ctx, "compact_rev_key")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading compact_rev_key: %v, %v", resp, err)
	}
	return resp.Kvs[0]
}

// relabel updates the pod at key (GuaranteedUpdate) and returns it.
func relabel(ctx context.Context, t *testing.T, store storage.Interface, key string) *example.Pod {
	t.Helper()
	out := &example.Pod{}
	err := store.GuaranteedUpdate(ctx, key, out, false, nil, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
		pod := obj.(*example.Pod)
		pod.Labels = map[string]string{"rv": pod.ResourceVersion}
		return pod, nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// nextEvent is the watch's next event; the test fails if none comes
// within pollTimeout.
func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev := <-w.ResultChan():
		return ev
	case <-time.After(pollTimeout):
		t.Fatal("no watch event")
		return watch.Event{}
	}
}
