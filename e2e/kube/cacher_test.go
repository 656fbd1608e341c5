package kube

import (
	"context"
	"fmt"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/cacher"
	"k8s.io/apiserver/pkg/storage/etcd3"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value/encrypt/identity"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/featuregate"
	"k8s.io/utils/clock"

	"github.com/natsraft/natsraft/server/etcdapi"
)

// cacherOptions are cacher/cacher_test.go's setup options.
type cacherOptions struct {
	storeOptions
	// indexed: the spec.nodeName and namespace indexes of kube's pods
	// (withNodeNameAndNamespaceIndex).
	indexed bool
	// clusterScoped: keys without namespace (withClusterScopedKeyFunc).
	clusterScoped bool
}

// defaultCacherOptions are cacher/cacher_test.go's withDefaults, with its
// store's prefix (etcd3testing.PathPrefix()).
func defaultCacherOptions() cacherOptions {
	o := cacherOptions{storeOptions: defaultStoreOptions()}
	o.prefix = "/registry"
	o.codec = protoCodec
	o.transformer = identity.NewEncryptCheckTransformer()
	return o
}

// cacherSuite is a watch cache on an etcd3 store of the cluster, as
// cacher/cacher_test.go's testSetupWithEtcdServer builds it.
type cacherSuite struct {
	*suite
	// delegator is what kube-apiserver serves from: the cacher, and the
	// store for what the cacher does not serve.
	delegator *cacher.CacheDelegator
}

func (c *cluster) newCacherSuite(t *testing.T, opts cacherOptions) *cacherSuite {
	t.Helper()
	s := c.newSuite(t, opts.storeOptions)
	// One injected list error, so that the reflector's relist is tested
	// (none when the reflector lists by watch).
	listErrors := 1
	if clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		listErrors = 0
	}
	wrapped := &storagetesting.StorageInjectingListErrors{Interface: s.store, Errors: listErrors}
	const resourcePrefix = "/pods/"
	keyFunc := func(obj runtime.Object) (string, error) { return storage.NamespaceKeyFunc(resourcePrefix, obj) }
	if opts.clusterScoped {
		keyFunc = func(obj runtime.Object) (string, error) { return storage.NoNamespaceKeyFunc(resourcePrefix, obj) }
	}
	config := cacher.Config{
		Storage:             wrapped,
		Versioner:           storage.APIObjectVersioner{},
		GroupResource:       schema.GroupResource{Resource: "pods"},
		EventsHistoryWindow: cacher.DefaultEventFreshDuration,
		ResourcePrefix:      resourcePrefix,
		KeyFunc:             keyFunc,
		GetAttrsFunc:        podAttrs,
		NewFunc:             func() runtime.Object { return &example.Pod{} },
		NewListFunc:         func() runtime.Object { return &example.PodList{} },
		Codec:               opts.codec,
		Clock:               compactorPollClock{clock.RealClock{}},
	}
	if opts.indexed {
		config.IndexerFuncs, config.Indexers = podIndexes()
	}
	ch, err := cacher.NewCacherFromConfig(config)
	if err != nil {
		t.Fatalf("building the cacher: %v", err)
	}
	t.Cleanup(ch.Stop)
	// The suites expect lists not to fail: wait until the injected error
	// is consumed and the cache is initialised, as the cacher's tests do.
	waitFor(t, "the injected list error to be consumed", func() bool { done, _ := wrapped.ErrorsConsumed(); return done })
	ctx, cancel := context.WithTimeout(context.Background(), pollTimeout)
	defer cancel()
	if err := ch.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	d := cacher.NewCacheDelegator(ch, wrapped)
	t.Cleanup(d.Stop)
	return &cacherSuite{suite: s, delegator: d}
}

// podAttrs are the labels and selectable fields of an example pod
// (cacher's GetPodAttrs).
func podAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	pod, ok := obj.(*example.Pod)
	if !ok {
		return nil, nil, fmt.Errorf("not a pod: %T", obj)
	}
	return pod.Labels, fields.Set{
		"spec.nodeName":      pod.Spec.NodeName,
		"spec.restartPolicy": string(pod.Spec.RestartPolicy),
		"status.phase":       string(pod.Status.Phase),
		"metadata.name":      pod.Name,
		"metadata.namespace": pod.Namespace,
	}, nil
}

// podIndexes mirror kube's pod indexes (pkg/registry/core/pod/strategy.go),
// as cacher's withNodeNameAndNamespaceIndex does.
func podIndexes() (storage.IndexerFuncs, *cache.Indexers) {
	funcs := storage.IndexerFuncs{"spec.nodeName": func(obj runtime.Object) string {
		if pod, ok := obj.(*example.Pod); ok {
			return pod.Spec.NodeName
		}
		return ""
	}}
	indexers := cache.Indexers{
		"f:spec.nodeName":      func(obj any) ([]string, error) { return []string{obj.(*example.Pod).Spec.NodeName}, nil },
		"f:metadata.namespace": func(obj any) ([]string, error) { return []string{obj.(*example.Pod).Namespace}, nil },
	}
	return funcs, &indexers
}

// compactorPollPeriod is the cacher's compactorPollPeriod: how often its
// compactor (ListFromCacheSnapshot) reads the store's compaction revision.
const compactorPollPeriod = 15 * time.Second

// compactorPollClock is the real clock, but the cacher's compactor polls
// every 100 ms rather than every 15 s. The cacher's own tests call the
// compactor directly (compactIfNeeded) after compacting etcd; from outside
// the package, the poll is the way in.
type compactorPollClock struct{ clock.RealClock }

func (c compactorPollClock) NewTimer(d time.Duration) clock.Timer {
	if d != compactorPollPeriod {
		return c.RealClock.NewTimer(d)
	}
	return compactorTimer{c.RealClock.NewTimer(100 * time.Millisecond)}
}

type compactorTimer struct{ clock.Timer }

func (t compactorTimer) Reset(time.Duration) bool { return t.Timer.Reset(100 * time.Millisecond) }

// compact is cacher's compactStore: compact etcd, then wait until the
// cache has seen it (its compactor, when ListFromCacheSnapshot is on).
func (cs *cacherSuite) compact(ctx context.Context, t *testing.T, resourceVersion string) {
	cs.suite.compact(ctx, t, resourceVersion)
	if rev := int64(mustParseRV(t, resourceVersion)); utilfeature.DefaultFeatureGate.Enabled(features.ListFromCacheSnapshot) {
		waitFor(t, fmt.Sprintf("the cacher to see compaction at %d", rev), func() bool { return cs.delegator.CompactRevision() >= rev })
	}
}

// createWrapper is cacher's: Create returns once the cache serves the
// created object, so that the watch suites' expectations do not race the
// cache's watch of etcd.
type createWrapper struct{ *cacher.CacheDelegator }

func (c createWrapper) Create(ctx context.Context, key string, obj, out runtime.Object, ttl uint64) error {
	if err := c.CacheDelegator.Create(ctx, key, obj, out, ttl); err != nil {
		return err
	}
	return poll("the cache to serve "+key, func() (bool, error) {
		cur := &example.Pod{}
		err := c.CacheDelegator.Get(ctx, key, storage.GetOptions{ResourceVersion: "0"}, cur)
		if storage.IsNotFound(err) {
			return false, nil
		}
		return err == nil && apiequality.Semantic.DeepEqual(cur, out), err
	})
}

// cacherCase is a suite run on a watch cache, as cacher/cacher_test.go
// runs it.
type cacherCase = testCase[cacherOptions, *cacherSuite]

// runCacherCases runs the cases on a cluster with etcd's default
// progress notification interval, as the cacher's tests.
func runCacherCases(t *testing.T, cases []cacherCase) {
	runCases(t, startCluster(t, etcdapi.Options{}), cases, defaultCacherOptions, (*cluster).newCacherSuite)
}

func indexed(o *cacherOptions) { o.indexed = true }

func freshCacher(o *cacherOptions) { o.fresh = true }

func (cs *cacherSuite) storage() storage.Interface { return cs.delegator }

// TestCacher runs the storage suites of cacher/cacher_test.go on a watch
// cache over the etcd3 store. As there, GuaranteedUpdate,
// GuaranteedUpdateChecksStoredData, TransformationFailure,
// ListInconsistentContinuation and ListResourceVersionMatch are not run on
// the cache (TODO(#109831) in k8s.io/apiserver).
func TestCacher(t *testing.T) {
	cases := []cacherCase{
		{name: "Create", run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			// The cache passes creates to the store: nothing of its own to check.
			storagetesting.RunTestCreate(ctx, t, cs.delegator, func(context.Context, *testing.T, string) {})
		}},
		{name: "DeleteWithConflictAndMissingExpectedTransformOrDecodeError", gates: unsafeDeletion,
			opts: func(o *cacherOptions) { failingTransforms(&o.storeOptions) },
			run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
				storagetesting.RunTestDeleteWithConflictAndMissingExpectedTransformOrDecodeError(ctx, t, cs.delegator, cs.failTransforms)
			}},
		{name: "DeleteWithConflictAndExpectedTransformError", gates: unsafeDeletion,
			opts: func(o *cacherOptions) { failingTransforms(&o.storeOptions) },
			run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
				storagetesting.RunTestDeleteExpectedTransformOrDecodeError(ctx, t, cs.delegator, cs.failTransforms)
			}},
		{name: "DeleteWithConflictAndExpectedDecodeError", gates: unsafeDeletion,
			opts: func(o *cacherOptions) { failingDecodes(&o.storeOptions) },
			run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
				// The suite makes stored bytes undecodable on purpose.
				etcd3.TestOnlySetFatalOnDecodeError(t, false)
				storagetesting.RunTestDeleteExpectedTransformOrDecodeError(ctx, t, cs.delegator, cs.failDecodes)
			}},
		{name: "DeleteWithSuggestionAndMissingExpectedTransformOrDecodeError", gates: unsafeDeletion,
			run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
				storagetesting.RunTestDeleteWithSuggestionAndMissingExpectedTransformOrDecodeError(ctx, t, cs.delegator)
			}},
		{name: "CompactRevision", gates: listFromCacheSnapshot(true), run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunTestCompactRevision(ctx, t, cs.delegator, cs.increaseRV, cs.compact)
		}},
		// The cache passes paginated lists to the store: no call counts
		// of its own to check.
		{name: "ListContinuation", run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunTestListContinuation(ctx, t, cs.delegator, noCallsCheck)
		}},
		{name: "ListPaginationRareObject", run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunTestListPaginationRareObject(ctx, t, cs.delegator, noCallsCheck)
		}},
		{name: "ListContinuationWithFilter", run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunTestListContinuationWithFilter(ctx, t, cs.delegator, noCallsCheck)
		}},
		{name: "NamespaceScopedList", opts: indexed, run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunTestNamespaceScopedList(ctx, t, cs.delegator)
		}},
	}
	cases = append(cases, casesOf[cacherOptions](plainStorageSuites, (*cacherSuite).storage)...)
	for _, on := range []bool{true, false} {
		prefix := fmt.Sprintf("ListFromCacheSnapshot=%v/", on)
		cases = append(cases,
			// Expects the etcd requests of the cache, naming whole keys.
			cacherCase{name: prefix + "List", gates: listFromCacheSnapshot(on), opts: freshCacher, run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
				storagetesting.RunTestList(ctx, t, cs.delegator, cs.compact, true, cs.client.Kubernetes.(*storagetesting.KubernetesRecorder))
			}},
			cacherCase{name: prefix + "ConsistentList", gates: listFromCacheSnapshot(on), run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
				storagetesting.RunTestConsistentList(ctx, t, cs.delegator, cs.increaseRV, true, true, on)
			}},
			cacherCase{name: prefix + "GetListNonRecursive", gates: listFromCacheSnapshot(on), run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
				storagetesting.RunTestGetListNonRecursive(ctx, t, cs.increaseRV, cs.delegator)
			}},
			cacherCase{name: fmt.Sprintf("Stats/SizeBasedListCostEstimate=%v", on), gates: map[featuregate.Feature]bool{features.SizeBasedListCostEstimate: on},
				run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
					storagetesting.RunTestStats(ctx, t, cs.delegator, protoCodec, identity.NewEncryptCheckTransformer(), on)
				}},
		)
	}
	runCacherCases(t, cases)
}

func noCallsCheck(*testing.T, uint64, uint64) {}

// TestCacherWatch runs the watch suites of cacher/cacher_test.go on a
// watch cache over the etcd3 store: events from the cache's history,
// bookmarks, and watch-list (initial events, then a bookmark).
func TestCacherWatch(t *testing.T) {
	cases := []cacherCase{
		// The suite's compaction half is not run (it skips itself): the
		// cacher's compactWatch trims the watch cache's event history
		// (watchCache.history, unexported) so that older watches are
		// refused; no exported API trims it (Cacher.Compact compacts only
		// list snapshots). Watches of compacted revisions through the
		// store are covered by TestWatch/WatchFromZero and TestCompactor.
		{name: "WatchFromZero", run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunTestWatchFromZero(ctx, t, cs.delegator, nil)
		}},
		{name: "ClusterScopedWatch", opts: func(o *cacherOptions) { o.indexed, o.clusterScoped = true, true },
			run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
				storagetesting.RunTestClusterScopedWatch(ctx, t, cs.delegator)
			}},
		{name: "NamespaceScopedWatch", opts: indexed, run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunTestNamespaceScopedWatch(ctx, t, cs.delegator)
		}},
		{name: "WatchDispatchBookmarkEvents", run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunTestWatchDispatchBookmarkEvents(ctx, t, cs.delegator, true)
		}},
		{name: "WatchBookmarksWithCorrectResourceVersion", run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunTestOptionalWatchBookmarksWithCorrectResourceVersion(ctx, t, cs.delegator)
		}},
		// Watches from revision 1.
		{name: "WatchSemantics", opts: freshCacher, run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunWatchSemantics(ctx, t, createWrapper{cs.delegator})
		}},
		{name: "WatchSemanticInitialEventsExtended", run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunWatchSemanticInitialEventsExtended(ctx, t, createWrapper{cs.delegator})
		}},
		{name: "WatchListMatchSingle", run: func(ctx context.Context, t *testing.T, cs *cacherSuite) {
			storagetesting.RunWatchListMatchSingle(ctx, t, createWrapper{cs.delegator})
		}},
	}
	runCacherCases(t, append(cases, casesOf[cacherOptions](plainWatchSuites, (*cacherSuite).storage)...))
}
