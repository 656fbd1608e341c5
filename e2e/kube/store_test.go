package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/etcd3"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	featuregatetesting "k8s.io/component-base/featuregate/testing"

	"github.com/natsraft/natsraft/server/etcdapi"
)

// testCase is one suite of k8s.io/apiserver/pkg/storage/testing, run on
// a storage S built with options O.
type testCase[O, S any] struct {
	name string
	// gates are set for the suite, before its storage is built.
	gates map[featuregate.Feature]bool
	// opts changes the storage's construction (from the defaults).
	opts func(*O)
	run  func(ctx context.Context, t *testing.T, s S)
}

// storeCase is a suite run on an etcd3 store, as etcd3/store_test.go and
// etcd3/watcher_test.go run it.
type storeCase = testCase[storeOptions, *suite]

// runCases runs each case on its own storage (built by setup from
// defaults and the case's opts) of cluster c.
func runCases[O, S any](t *testing.T, c *cluster, cases []testCase[O, S], defaults func() O, setup func(*cluster, *testing.T, O) S) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.gates) > 0 {
				featuregatetesting.SetFeatureGatesDuringTest(t, utilfeature.DefaultFeatureGate, tc.gates)
			}
			opts := defaults()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			// Cancelled at cleanup, after the suite's parallel subtests.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			t.Cleanup(cancel)
			tc.run(ctx, t, setup(c, t, opts))
		})
	}
}

func runStoreCases(t *testing.T, c *cluster, cases []storeCase) {
	runCases(t, c, cases, defaultStoreOptions, (*cluster).newSuite)
}

// plainSuite is a suite that needs nothing but the storage. Both the
// etcd3 store's tests and the cacher's run these.
type plainSuite struct {
	name string
	run  func(context.Context, *testing.T, storage.Interface)
}

var plainStorageSuites = []plainSuite{
	{"CreateWithTTL", storagetesting.RunTestCreateWithTTL},
	{"CreateWithKeyExist", storagetesting.RunTestCreateWithKeyExist},
	{"Get", storagetesting.RunTestGet},
	{"UnconditionalDelete", storagetesting.RunTestUnconditionalDelete},
	{"ConditionalDelete", storagetesting.RunTestConditionalDelete},
	{"DeleteWithSuggestion", storagetesting.RunTestDeleteWithSuggestion},
	{"DeleteWithSuggestionAndConflict", storagetesting.RunTestDeleteWithSuggestionAndConflict},
	{"DeleteWithSuggestionOfDeletedObject", storagetesting.RunTestDeleteWithSuggestionOfDeletedObject},
	{"ValidateDeletionWithSuggestion", storagetesting.RunTestValidateDeletionWithSuggestion},
	{"ValidateDeletionWithOnlySuggestionValid", storagetesting.RunTestValidateDeletionWithOnlySuggestionValid},
	{"DeleteWithConflict", storagetesting.RunTestDeleteWithConflict},
	{"PreconditionalDeleteWithSuggestion", storagetesting.RunTestPreconditionalDeleteWithSuggestion},
	{"PreconditionalDeleteWithSuggestionPass", storagetesting.RunTestPreconditionalDeleteWithOnlySuggestionPass},
	{"ListPaging", storagetesting.RunTestListPaging},
	{"GetListRecursivePrefix", storagetesting.RunTestGetListRecursivePrefix},
	{"KeySchema", storagetesting.RunTestKeySchema},
	{"GuaranteedUpdateWithTTL", storagetesting.RunTestGuaranteedUpdateWithTTL},
	{"GuaranteedUpdateWithConflict", storagetesting.RunTestGuaranteedUpdateWithConflict},
	{"GuaranteedUpdateWithSuggestionAndConflict", storagetesting.RunTestGuaranteedUpdateWithSuggestionAndConflict},
}

var plainWatchSuites = []plainSuite{
	{"Watch", storagetesting.RunTestWatch},
	{"DeleteTriggerWatch", storagetesting.RunTestDeleteTriggerWatch},
	{"WatchFromNonZero", storagetesting.RunTestWatchFromNonZero},
	{"DelayedWatchDelivery", storagetesting.RunTestDelayedWatchDelivery},
	{"WatcherTimeout", storagetesting.RunTestWatcherTimeout},
	{"WatchDeleteEventObjectHaveLatestRV", storagetesting.RunTestWatchDeleteEventObjectHaveLatestRV},
	{"WatchInitializationSignal", storagetesting.RunTestWatchInitializationSignal},
	{"SendInitialEventsBackwardCompatibility", storagetesting.RunSendInitialEventsBackwardCompatibility},
}

// casesOf runs plain suites on the storage of S that storageOf gives.
func casesOf[O, S any](suites []plainSuite, storageOf func(S) storage.Interface) []testCase[O, S] {
	cases := make([]testCase[O, S], 0, len(suites))
	for _, ps := range suites {
		cases = append(cases, testCase[O, S]{name: ps.name, run: func(ctx context.Context, t *testing.T, s S) {
			ps.run(ctx, t, storageOf(s))
		}})
	}
	return cases
}

func (s *suite) storage() storage.Interface { return s.store }

var unsafeDeletion = map[featuregate.Feature]bool{features.AllowUnsafeMalformedObjectDeletion: true}

func fresh(o *storeOptions) { o.fresh = true }

func rangeStream(on bool) map[featuregate.Feature]bool {
	return map[featuregate.Feature]bool{features.EtcdRangeStream: on}
}

func listFromCacheSnapshot(on bool) map[featuregate.Feature]bool {
	return map[featuregate.Feature]bool{features.ListFromCacheSnapshot: on}
}

// TestStore runs the storage suites of etcd3/store_test.go.
func TestStore(t *testing.T) {
	cases := []storeCase{
		{name: "Create", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestCreate(ctx, t, s.store, s.checkStoredObject)
		}},
		{name: "DeleteWithConflictAndMissingExpectedTransformOrDecodeError", gates: unsafeDeletion, opts: failingDecodes,
			run: func(ctx context.Context, t *testing.T, s *suite) {
				storagetesting.RunTestDeleteWithConflictAndMissingExpectedTransformOrDecodeError(ctx, t, s.store, s.failDecodes)
			}},
		{name: "DeleteWithConflictAndExpectedTransformError", gates: unsafeDeletion, opts: failingTransforms,
			run: func(ctx context.Context, t *testing.T, s *suite) {
				storagetesting.RunTestDeleteExpectedTransformOrDecodeError(ctx, t, s.store, s.failTransforms)
			}},
		{name: "DeleteWithConflictAndExpectedDecodeError", gates: unsafeDeletion, opts: failingDecodes,
			run: func(ctx context.Context, t *testing.T, s *suite) {
				storagetesting.RunTestDeleteExpectedTransformOrDecodeError(ctx, t, s.store, s.failDecodes)
			}},
		{name: "DeleteWithSuggestionAndMissingExpectedTransformOrDecodeFailure", gates: unsafeDeletion,
			run: func(ctx context.Context, t *testing.T, s *suite) {
				storagetesting.RunTestDeleteWithSuggestionAndMissingExpectedTransformOrDecodeError(ctx, t, s.store)
			}},
		{name: "GetListNonRecursive", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestGetListNonRecursive(ctx, t, s.increaseRV, s.store)
		}},
		// The error aggregation suites expect errors naming whole keys.
		{name: "GetListWithErrorAggregation", gates: unsafeDeletion, opts: fresh, run: func(ctx context.Context, t *testing.T, s *suite) {
			unsafe := etcd3.NewStoreWithUnsafeCorruptObjectDeletion(s.store, schema.GroupResource{Resource: "pods"})
			storagetesting.RunTestGetListWithErrorAggregation(ctx, t, swappable{Interface: unsafe, suite: s}, corruptObjectError())
		}},
		{name: "GetListWithoutErrorAggregation", gates: map[featuregate.Feature]bool{features.AllowUnsafeMalformedObjectDeletion: false}, opts: fresh,
			run: func(ctx context.Context, t *testing.T, s *suite) {
				storagetesting.RunTestGetListWithoutErrorAggregation(ctx, t, s.swappable(), corruptObjectError())
			}},
		{name: "GuaranteedUpdate", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestGuaranteedUpdate(ctx, t, s.swappable(), s.checkStoredObject)
		}},
		{name: "GuaranteedUpdateChecksStoredData", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestGuaranteedUpdateChecksStoredData(ctx, t, s.swappable())
		}},
		{name: "TransformationFailure", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestTransformationFailure(ctx, t, s.swappable())
		}},
		{name: "List/rangeStream=false", gates: rangeStream(false), run: runTestList},
		{name: "List/rangeStream=true", gates: rangeStream(true), run: runTestList},
		{name: "ConsistentList/rangeStream=false", gates: rangeStream(false), run: runTestConsistentList},
		{name: "ConsistentList/rangeStream=true", gates: rangeStream(true), run: runTestConsistentList},
		{name: "CompactRevision", gates: listFromCacheSnapshot(true), run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestCompactRevision(ctx, t, s.store, s.increaseRV, s.compact)
		}},
		{name: "ListContinuation", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestListContinuation(ctx, t, s.store, s.checkCalls)
		}},
		// ListFromCacheSnapshot adds a read of compact_rev_key the call
		// count would include, as etcd3's test says.
		{name: "ListPaginationRareObject", gates: listFromCacheSnapshot(false), run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestListPaginationRareObject(ctx, t, s.store, s.checkCalls)
		}},
		{name: "ListContinuationWithFilter", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestListContinuationWithFilter(ctx, t, s.store, s.checkCalls)
		}},
		{name: "ListInconsistentContinuation", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestListInconsistentContinuation(ctx, t, s.store, s.compact)
		}},
		{name: "ListResourceVersionMatch", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestListResourceVersionMatch(ctx, t, s.swappable())
		}},
		{name: "Stats/SizeBasedListCostEstimate=true", run: func(ctx context.Context, t *testing.T, s *suite) {
			if err := s.store.EnableResourceSizeEstimation(s.keys); err != nil {
				t.Fatal(err)
			}
			storagetesting.RunTestStats(ctx, t, s.store, s.codec, s.transformer, true)
		}},
		{name: "Stats/SizeBasedListCostEstimate=false", run: func(ctx context.Context, t *testing.T, s *suite) {
			storagetesting.RunTestStats(ctx, t, s.store, s.codec, s.transformer, false)
		}},
	}
	// The cacher runs this one with its indexes.
	storeOnly := []plainSuite{{"NamespaceScopedList", storagetesting.RunTestNamespaceScopedList}}
	cases = append(cases, casesOf[storeOptions](slices.Concat(plainStorageSuites, storeOnly), (*suite).storage)...)
	runStoreCases(t, startCluster(t, etcdapi.Options{}), append(cases, implCases()...))
}

// runTestList is etcd3's TestList: the suite, and lists served by
// RangeStream exactly when the feature is on.
func runTestList(ctx context.Context, t *testing.T, s *suite) {
	kv := s.client.KV.(*storagetesting.KVRecorder)
	storagetesting.RunTestList(ctx, t, s.store, s.compact, false, s.client.Kubernetes.(*storagetesting.KubernetesRecorder))
	streams := kv.GetStreamReadsAndReset()
	if on := utilfeature.DefaultFeatureGate.Enabled(features.EtcdRangeStream); on != (streams > 0) {
		t.Errorf("EtcdRangeStream %v, but %d lists were served by RangeStream", on, streams)
	}
}

func runTestConsistentList(ctx context.Context, t *testing.T, s *suite) {
	storagetesting.RunTestConsistentList(ctx, t, s.store, s.increaseRV, false, true, false)
}

// checkCalls is etcd3's checkStorageCallsInvariants: objects read, and
// the number of range requests kube's growing page sizes make.
func (s *suite) checkCalls(t *testing.T, pageSize, estimatedProcessedObjects uint64) {
	const maxLimit = 10000 // etcd3's page size cap
	if reads := s.transformer.base.(*storagetesting.PrefixTransformer).GetReadsAndReset(); reads != estimatedProcessedObjects {
		t.Errorf("%d objects read, want %d", reads, estimatedProcessedObjects)
	}
	estimatedGetCalls := uint64(1)
	if pageSize != 0 {
		currLimit := pageSize
		for sum := uint64(1); sum < estimatedProcessedObjects; {
			currLimit = min(currLimit*2, maxLimit)
			sum += currLimit
			estimatedGetCalls++
		}
	}
	kv := s.client.KV.(*storagetesting.KVRecorder)
	if reads := kv.GetReadsAndReset() + kv.GetStreamReadsAndReset(); reads != estimatedGetCalls {
		t.Fatalf("%d range requests, want %d", reads, estimatedGetCalls)
	}
}

// keys lists the keys of the suite's pods, as etcd3's getKeys does for
// resource size estimation.
func (s *suite) keys(ctx context.Context) ([]string, error) {
	resp, err := s.client.KV.Get(ctx, s.prefix+"/pods/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys, nil
}

// corruptObjectError is the error etcd3 gives for an untransformable
// object (its type is unexported): what etcd3's tests build as
// corruptObjectError{err: "bits flipped", errType: untransformable}.
func corruptObjectError() error {
	failing := &failingTransformer{}
	failing.fail.Store(true)
	_, _, err := etcd3.WithCorruptObjErrorHandlingTransformer(failing).
		TransformFromStorage(context.Background(), nil, value.DefaultContext(""))
	return err
}

// failingDecodes gives the store a codec the suite can make fail.
func failingDecodes(o *storeOptions) { o.codec = &failingCodec{Codec: o.codec} }

// failingTransforms gives the store a transformer the suite can make fail.
func failingTransforms(o *storeOptions) {
	o.transformer = &failingTransformer{Transformer: o.transformer}
}

// failDecodes makes the store's decodes fail or not (failingDecodes).
func (s *suite) failDecodes(fail bool) { s.codec.(*failingCodec).fail.Store(fail) }

// failTransforms makes the store's reads fail or not (failingTransforms).
func (s *suite) failTransforms(fail bool) { s.transformer.base.(*failingTransformer).fail.Store(fail) }

// failingTransformer fails reads while failing is set (etcd3's
// testTransformer).
type failingTransformer struct {
	value.Transformer
	fail atomic.Bool
}

func (f *failingTransformer) TransformFromStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, bool, error) {
	if f.fail.Load() {
		return nil, false, errors.New("bits flipped")
	}
	return f.Transformer.TransformFromStorage(ctx, data, dataCtx)
}

// failingCodec fails decodes while failing is set (etcd3's testCodec).
type failingCodec struct {
	runtime.Codec
	fail atomic.Bool
}

func (f *failingCodec) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if f.fail.Load() {
		return nil, nil, fmt.Errorf("synthetic decode error")
	}
	return f.Codec.Decode(data, defaults, into)
}
