package kube

// Ports of the implementation-specific tests of etcd3/store_test.go,
// etcd3/watcher_test.go and etcd3/linearized_read_test.go that exercise
// the server, not only the store's own logic. They are not in the shared
// suites; the originals reach into the store's unexported fields, the
// ports use the exported methods that do the same. The others (the
// watcher's sync internals, metrics, key validation, the lease manager's
// counters, the RangeStream fallback on an Unimplemented KV wrapper, shard
// filtering) test the store alone and need its internals.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/utils/ptr"
)

// implCases are the ports, as TestStore cases.
func implCases() []storeCase {
	return []storeCase{
		{name: "ListStreamMultiChunk", gates: rangeStream(true), run: runListStreamMultiChunk},
		{name: "LinearizedReadRevisionInvariant", run: runLinearizedReadRevisionInvariant},
		{name: "GetCurrentResourceVersion", run: runGetCurrentResourceVersion},
		{name: "TooLargeResourceVersionErrorForWatchList", run: runTooLargeResourceVersionForWatchList},
		// Writes keys around the store's prefix, /registry, as etcd3's test.
		{name: "PrefixStats/Estimate=false", opts: prefixStats, run: func(ctx context.Context, t *testing.T, s *suite) {
			runPrefixStats(ctx, t, s, false)
		}},
		{name: "PrefixStats/Estimate=true", opts: prefixStats, run: func(ctx context.Context, t *testing.T, s *suite) {
			runPrefixStats(ctx, t, s, true)
		}},
	}
}

func prefixStats(o *storeOptions) { o.fresh, o.prefix = true, "/registry" }

// runListStreamMultiChunk is TestGetListStreamMultiChunk: lists that span
// several RangeStream chunks (etcd chunks streams at 10 keys), consistent,
// pinned to an exact revision, and not older than one.
func runListStreamMultiChunk(ctx context.Context, t *testing.T, s *suite) {
	kv := s.client.KV.(*storagetesting.KVRecorder)
	const pods = 25
	for i := range pods {
		pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("pod-%02d", i)}}
		if err := s.store.Create(ctx, "/pods/ns/"+pod.Name, pod, &example.Pod{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	list := func(rv string, match metav1.ResourceVersionMatch) *example.PodList {
		t.Helper()
		out := &example.PodList{}
		opts := storage.ListOptions{ResourceVersion: rv, ResourceVersionMatch: match, Predicate: storage.Everything, Recursive: true}
		if err := s.store.GetList(ctx, "/pods/", opts, out); err != nil {
			t.Fatalf("list at %q (%s): %v", rv, match, err)
		}
		if kv.GetStreamReadsAndReset() == 0 {
			t.Error("the list was not served by RangeStream")
		}
		if out.Continue != "" || out.RemainingItemCount != nil {
			t.Errorf("a streamed list is paginated: continue %q, remaining %v", out.Continue, out.RemainingItemCount)
		}
		return out
	}
	snapshot := list("", "")
	if len(snapshot.Items) != pods {
		t.Errorf("consistent list: %d pods, want %d", len(snapshot.Items), pods)
	}
	extra := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pod-extra"}}
	if err := s.store.Create(ctx, "/pods/ns/pod-extra", extra, &example.Pod{}, 0); err != nil {
		t.Fatal(err)
	}
	if exact := list(snapshot.ResourceVersion, metav1.ResourceVersionMatchExact); len(exact.Items) != pods || exact.ResourceVersion != snapshot.ResourceVersion {
		t.Errorf("list at exactly %s: %d pods at %s, want %d", snapshot.ResourceVersion, len(exact.Items), exact.ResourceVersion, pods)
	}
	if later := list(snapshot.ResourceVersion, ""); len(later.Items) != pods+1 {
		t.Errorf("list not older than %s: %d pods, want %d", snapshot.ResourceVersion, len(later.Items), pods+1)
	}
}

// runLinearizedReadRevisionInvariant is TestLinearizedReadRevisionInvariant:
// linearizable reads go through Raft but must not raise the revision,
// which kube shows clients as the list's resourceVersion.
func runLinearizedReadRevisionInvariant(ctx context.Context, t *testing.T, s *suite) {
	const key = "/pods/ns/foo"
	out := &example.Pod{}
	if err := s.store.Create(ctx, key, &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "foo"}}, out, 0); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := s.client.KV.Get(ctx, s.prefix+key); err != nil {
			t.Fatal(err)
		}
	}
	list := &example.PodList{}
	if err := s.store.GetList(ctx, "/pods/", storage.ListOptions{Predicate: storage.Everything, Recursive: true}, list); err != nil {
		t.Fatal(err)
	}
	if list.ResourceVersion != out.ResourceVersion {
		t.Fatalf("revision %s after linearizable reads, want %s (the create's)", list.ResourceVersion, out.ResourceVersion)
	}
}

// runGetCurrentResourceVersion is TestGetCurrentResourceVersion: the
// store's current resourceVersion is the cluster's revision, which an
// unrelated write raises without changing the pod's.
func runGetCurrentResourceVersion(ctx context.Context, t *testing.T, s *suite) {
	const key = "/pods/ns/pod-1"
	pod := &example.Pod{}
	if err := s.store.Create(ctx, key, &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pod-1"}}, pod, 0); err != nil {
		t.Fatal(err)
	}
	current := func() uint64 {
		t.Helper()
		rv, err := s.store.GetCurrentResourceVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rv
	}
	if rv, podRV := current(), mustParseRV(t, pod.ResourceVersion); rv != podRV {
		t.Fatalf("current resourceVersion %d, want the pod's %d", rv, podRV)
	}
	if written := uint64(s.increaseRV(ctx, t)); current() != written {
		t.Fatalf("current resourceVersion %d after an unrelated write, want its revision %d", current(), written)
	}
	got := &example.Pod{}
	if err := s.store.Get(ctx, key, storage.GetOptions{}, got); err != nil || got.ResourceVersion != pod.ResourceVersion {
		t.Fatalf("the pod after an unrelated write: %v at %s, want %s", err, got.ResourceVersion, pod.ResourceVersion)
	}
}

// runTooLargeResourceVersionForWatchList is
// TestTooLargeResourceVersionErrorForWatchList: a watch-list at a
// revision the cluster has not reached ends with "too large resource
// version", naming the current revision, and a retry hint.
func runTooLargeResourceVersionForWatchList(ctx context.Context, t *testing.T, s *suite) {
	current, err := s.store.GetCurrentResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	future := current + 100
	w, err := s.store.Watch(ctx, "/pods/abc/", storage.ListOptions{
		ResourceVersion:   strconv.FormatUint(future, 10),
		SendInitialEvents: ptr.To(true),
		Recursive:         true,
		Predicate:         storage.SelectionPredicate{Label: labels.Everything(), Field: fields.Everything(), AllowWatchBookmarks: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := nextEvent(t, w)
	status, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok {
		t.Fatalf("first event %s %#v, want an error", ev.Type, ev.Object)
	}
	if status.Details == nil || status.Details.RetryAfterSeconds <= 0 {
		t.Fatalf("no retry hint: %#v", status.Details)
	}
	var want *apierrors.StatusError
	if !errors.As(storage.NewTooLargeResourceVersionError(future, current, int(status.Details.RetryAfterSeconds)), &want) {
		t.Fatal("NewTooLargeResourceVersionError is not a StatusError")
	}
	if diff := cmp.Diff(want.ErrStatus, *status); diff != "" {
		t.Fatalf("error event (-want +got):\n%s", diff)
	}
}

// runPrefixStats is TestPrefixStats: the store counts only the keys under
// its prefix and resource prefix, not their neighbours.
func runPrefixStats(ctx context.Context, t *testing.T, s *suite, estimate bool) {
	if estimate {
		if err := s.store.EnableResourceSizeEstimation(s.keys); err != nil {
			t.Fatal(err)
		}
	}
	for key, value := range map[string]string{"key": "a", "/registry/key": "ab", "/registry/pods/key": "abc", "/registry/podskey": "abcd"} {
		if _, err := s.client.KV.Put(ctx, key, value); err != nil {
			t.Fatal(err)
		}
	}
	// The values do not decode: the list only fills the size estimates.
	_ = s.store.GetList(ctx, "/pods/", storage.ListOptions{Predicate: storage.Everything, Recursive: true}, &example.PodList{})
	got, err := s.store.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Stats{ObjectCount: 1}
	if estimate {
		want.EstimatedAverageObjectSizeBytes = 3
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}
