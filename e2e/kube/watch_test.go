package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/features"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"

	"github.com/natsraft/natsraft/server/etcdapi"
)

// TestWatch runs the watch suites of etcd3/watcher_test.go on the etcd3
// store: kube's watches from revisions, from 0, after compaction, with
// progress notifications, and watch-list (initial events then a bookmark)
// with lists by Range and by RangeStream. As there, progress
// notifications come every second (etcd's
// --experimental-watch-progress-notify-interval).
func TestWatch(t *testing.T) {
	cases := []storeCase{
		{name: "WatchFromZero", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestWatchFromZero(ctx, t, s.store, s.compact)
		}},
		{name: "WatchError", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestWatchError(ctx, t, s.swappable())
		}},
		{name: "ProgressNotify", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunOptionalTestProgressNotify(ctx, t, s.store, s.increaseRV)
		}},
		{name: "WatchWithUnsafeDelete", gates: unsafeDeletion, run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestWatchWithUnsafeDelete(ctx, t, s.swappable(), corruptObjectError())
		}},
		{name: "WatchDispatchBookmarkEvents", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestWatchDispatchBookmarkEvents(ctx, t, s.store, false)
		}},
		{name: "WatchErrorEventIsBlockingFurtherEvent", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunWatchErrorIsBlockingFurtherEvents(ctx, t, s.swappable())
		}},
	}
	// The cacher runs the scoped watches with its indexes, and not
	// WatchContextCancel (TODO(#109831) in k8s.io/apiserver).
	storeOnly := []plainSuite{
		{"ClusterScopedWatch", storagetesting.RunTestClusterScopedWatch},
		{"NamespaceScopedWatch", storagetesting.RunTestNamespaceScopedWatch},
		{"WatchContextCancel", storagetesting.RunTestWatchContextCancel},
	}
	cases = append(cases, casesOf[storeOptions](slices.Concat(plainWatchSuites, storeOnly), (*suite).storage)...)
	for _, on := range []bool{false, true} {
		gates := rangeStream(on)
		prefix := fmt.Sprintf("RangeStream=%v/", on)
		// etcd3's tests run WatchSemantics with and without concurrent
		// decoding in each list mode. Decoding is the store's own affair
		// (on by default in 1.37): here each decoding mode runs once, in
		// one list mode.
		semantics := maps.Clone(gates)
		semantics[features.ConcurrentWatchObjectDecode] = on
		cases = append(cases,
			// Watches from revision 1.
			storeCase{name: fmt.Sprintf("%sWatchSemantics/ConcurrentWatchObjectDecode=%v", prefix, on), gates: semantics, opts: fresh,
				run: func(ctx context.Context, t *testing.T, s *suite) { storagetesting.RunWatchSemantics(ctx, t, s.store) }},
			storeCase{name: prefix + "WatchSemanticInitialEventsExtended", gates: gates, run: func(ctx context.Context, t *testing.T, s *suite) {
				storagetesting.RunWatchSemanticInitialEventsExtended(ctx, t, s.store)
			}},
			storeCase{name: prefix + "WatchListMatchSingle", gates: gates, run: func(ctx context.Context, t *testing.T, s *suite) {
				storagetesting.RunWatchListMatchSingle(ctx, t, s.store)
			}},
		)
	}
	runStoreCases(t, startCluster(t, etcdapi.Options{ProgressNotifyInterval: time.Second}), cases)
}
