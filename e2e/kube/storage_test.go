// Package kube runs Kubernetes' own storage layer (k8s.io/apiserver
// v0.37.2) against a 3-node natsraft cluster through the etcd API, the way
// kube-apiserver runs it against etcd:
//
//   - the etcd3 store (k8s.io/apiserver/pkg/storage/etcd3), built with New
//     on a clientv3 client of the three members, driven by the shared
//     storage conformance suites of k8s.io/apiserver/pkg/storage/testing
//     (create, get, lists and pagination at revisions, optimistic updates
//     and deletes with preconditions, watches from revisions, progress
//     notifications, compaction, stats);
//   - the etcd3 tests outside the suites that exercise the server
//     (RangeStream chunks, linearizable reads and the revision, counts
//     under a prefix, watch-list at a future revision);
//   - the watch cache (k8s.io/apiserver/pkg/storage/cacher) on top of that
//     store, driven by the same suites, including consistent reads from
//     the cache, which rest on RequestWatchProgress, also with several
//     caches on one watch stream, as kube-apiserver's are;
//   - the compactor kube-apiserver runs (the compact_rev_key version
//     compare), and the "too old resource version" answer to watches of
//     compacted revisions.
//
// The suites are wired as k8s.io/apiserver wires them to its embedded etcd
// (etcd3/store_test.go, etcd3/watcher_test.go, cacher/cacher_test.go),
// with etcd's default settings unless those tests change them; where a
// suite or part of one is not run, a comment says exactly what it needs
// that only the in-package tests have.
//
// Kube's tests start an etcd per suite. To keep the package quick, the
// suites of one test function here share one cluster, one after another,
// each under a key prefix of its own (etcd3.New's prefix, kube-apiserver's
// --etcd-prefix); the few that need a new cluster (storeOptions.fresh)
// get one.
package kube

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/kubernetes"

	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/etcd3"
	etcdfeature "k8s.io/apiserver/pkg/storage/feature"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/etcdapi"
	"github.com/natsraft/natsraft/server/etcdapi/etcdapitest"
)

var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
	// jsonCodec is the etcd3 suites' codec, protoCodec the cacher's.
	jsonCodec  runtime.Codec
	protoCodec runtime.Codec
)

func init() {
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(example.AddToScheme(scheme))
	utilruntime.Must(examplev1.AddToScheme(scheme))
	jsonCodec = apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)
	pb := protobuf.NewSerializer(scheme, scheme)
	protoCodec = codecs.CodecForVersions(pb, pb, schema.GroupVersions{examplev1.SchemeGroupVersion}, nil)
	// Kube's storage logs the errors the suites provoke on purpose.
	klog.SetLogger(logr.Discard())
}

// cluster is a 3-node natsraft cluster serving the etcd API, shared by
// the suites of one test function.
type cluster struct {
	*etcdapitest.Cluster
	opts   etcdapi.Options
	mu     sync.Mutex
	suites int
}

// tickInterval is the clusters' Raft tick: elections after 250 to 500 ms
// (etcd's default is 1 s). With testcluster's 10 ms, clusters start
// sooner, but under -race and a parallel test run a starved leader misses
// its followers' heartbeats for 100 ms and steps down (CheckQuorum); the
// writes in flight then time out after etcd's 5 s, and kube's storage
// layer does not retry them.
const tickInterval = 25 * time.Millisecond

// startCluster starts a cluster whose etcd API has opts. Kube's tests run
// etcd with its defaults, under which progress notifications come every
// ten minutes: a watch cache then learns of revisions past its last event
// only by asking (RequestWatchProgress).
func startCluster(t *testing.T, opts etcdapi.Options) *cluster {
	t.Helper()
	base := server.Config{TickInterval: tickInterval}
	c := &cluster{Cluster: etcdapitest.StartWith(t, base, opts, "n1", "n2", "n3"), opts: opts}
	c.checkFeatures(t)
	return c
}

// checkFeatures gives the cluster a fresh record of what the server
// supports (as etcd3's resetFeatureSupportCheckerDuringTest does), and has
// it filled now, on a client that lives as long as the cluster: every
// member is asked its version (for RequestWatchProgress), and the answers
// awaited. etcd3.New then finds the members checked.
//
// Left to etcd3.New, the check runs on the first suite's client, one
// goroutine a member, and outlives a short suite: its retries after the
// client closes share one wait.Backoff unsynchronised, a data race in
// k8s.io/apiserver/pkg/storage/feature that its tests, with one endpoint,
// never meet. Consistent reads from the watch cache also need the answer.
func (c *cluster) checkFeatures(t *testing.T) {
	t.Helper()
	orig := etcdfeature.DefaultFeatureSupportChecker
	etcdfeature.DefaultFeatureSupportChecker = etcdfeature.NewDefaultFeatureSupportChecker()
	t.Cleanup(func() { etcdfeature.DefaultFeatureSupportChecker = orig })
	probe := &statusProbe{Client: c.Client()}
	etcdfeature.DefaultFeatureSupportChecker.CheckClient(probe.Ctx(), probe, storage.RequestWatchProgress)
	waitFor(t, "every member's version", func() bool {
		return probe.answers.Load() == int32(len(c.Names)) && etcdfeature.DefaultFeatureSupportChecker.Supports(storage.RequestWatchProgress)
	})
}

// statusProbe counts the members that answered Status.
type statusProbe struct {
	*clientv3.Client
	answers atomic.Int32
}

func (p *statusProbe) Status(ctx context.Context, endpoint string) (*clientv3.StatusResponse, error) {
	resp, err := p.Client.Status(ctx, endpoint)
	if err == nil {
		p.answers.Add(1)
	}
	return resp, err
}

// prefix is a key prefix no other suite of the cluster uses.
func (c *cluster) prefix() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.suites++
	return fmt.Sprintf("/suite-%d", c.suites)
}

// kubeClient is a client of the three members as kube-apiserver builds
// one (kubernetes.New), with the call recorders the suites count requests
// with, as etcd3/testserver.RunEtcd returns it.
func (c *cluster) kubeClient(t testing.TB) *kubernetes.Client {
	t.Helper()
	cli, err := kubernetes.New(c.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	recorder := storagetesting.NewKubernetesRecorder(cli.Kubernetes)
	cli.KV = storagetesting.NewKVRecorder(cli.KV, recorder)
	cli.Kubernetes = recorder
	return cli
}

// etcdStore is what etcd3.New returns (its type is unexported).
type etcdStore interface {
	storage.Interface
	Close()
}

// storeOptions are the arguments of etcd3.New a suite may change.
type storeOptions struct {
	codec       runtime.Codec
	transformer value.Transformer
	leaseConfig etcd3.LeaseManagerConfig
	// fresh runs the suite on a new cluster of its own, under prefix, as
	// kube's tests run every suite on a new etcd. It is for the suites
	// whose expectations name whole etcd keys, or that watch from
	// revision 1 (which must be no older than the store's history, nor
	// than the watch cache's first list). Other suites share a cluster,
	// each under a prefix of its own.
	fresh  bool
	prefix string
	// compactor is the store's compactor; nil: one that never compacts by
	// itself (interval 0), as in kube's storage tests.
	compactor etcd3.Compactor
	// client is the store's client; nil: a new one. Kube-apiserver's
	// stores share one, and so one watch stream.
	client *kubernetes.Client
}

// testPrefix is what the suites' PrefixTransformer prepends to values.
const testPrefix = "test!"

// defaultStoreOptions are etcd3/store_test.go's withDefaults (whose
// prefix is "").
func defaultStoreOptions() storeOptions {
	lease := etcd3.NewDefaultLeaseManagerConfig()
	lease.ReuseDurationSeconds = 1 // as etcd3's newTestLeaseManagerConfig
	return storeOptions{
		codec:       jsonCodec,
		transformer: storagetesting.NewPrefixTransformer([]byte(testPrefix), false),
		leaseConfig: lease,
	}
}

// suite is one storage suite's view of the cluster: its client, its key
// prefix and the etcd3 store under it.
type suite struct {
	client *kubernetes.Client
	prefix string
	store  etcdStore
	// transformer is the store's transformer; it forwards to the one the
	// suite has swapped in, if any (see UpdatePrefixTransformer).
	transformer *swapTransformer
	codec       runtime.Codec
}

// newSuite builds an etcd3 store on c under a fresh prefix for resource
// "pods", as etcd3/store_test.go's testSetup does on a fresh etcd.
func (c *cluster) newSuite(t *testing.T, opts storeOptions) *suite {
	t.Helper()
	prefix := opts.prefix
	if opts.fresh {
		c = startCluster(t, c.opts)
	} else {
		prefix = c.prefix()
	}
	s := &suite{client: opts.client, prefix: prefix, codec: opts.codec, transformer: newSwapTransformer(opts.transformer)}
	if s.client == nil {
		s.client = c.kubeClient(t)
	}
	compactor := opts.compactor
	if compactor == nil {
		idle := etcd3.NewCompactor(s.client.Client, 0, clock.RealClock{}, nil)
		t.Cleanup(idle.Stop)
		compactor = idle
	}
	versioner := storage.APIObjectVersioner{}
	st, err := etcd3.New(s.client, compactor, opts.codec,
		func() runtime.Object { return &example.Pod{} }, func() runtime.Object { return &example.PodList{} },
		s.prefix, "/pods/", schema.GroupResource{Resource: "pods"}, s.transformer, opts.leaseConfig,
		etcd3.NewDefaultDecoder(opts.codec, versioner), versioner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	s.store = st
	return s
}

// UpdatePrefixTransformer implements
// storagetesting.InterfaceWithPrefixTransformer, as etcd3's
// storeWithPrefixTransformer does by swapping the store's transformer.
func (s *suite) UpdatePrefixTransformer(modifier storagetesting.PrefixTransformerModifier) func() {
	base := *s.transformer.base.(*storagetesting.PrefixTransformer)
	return s.transformer.swap(modifier(&base))
}

// UpdateTransformer implements storagetesting.InterfaceWithTransformerOverride.
func (s *suite) UpdateTransformer(modifier storagetesting.TransformerModifier) func() {
	return s.transformer.swap(modifier(s.transformer.base))
}

// swappable is a storage (s's store, or one wrapping it) whose
// transformer the suites may swap: a
// storagetesting.InterfaceWithPrefixTransformer and
// InterfaceWithTransformerOverride.
type swappable struct {
	storage.Interface
	*suite
}

// swappable is the suite's store with its transformer swaps.
func (s *suite) swappable() swappable { return swappable{Interface: s.store, suite: s} }

// checkStoredObject is etcd3's checkStorageInvariants: the value under the
// key is the object, prefixed, without resourceVersion or selfLink.
func (s *suite) checkStoredObject(ctx context.Context, t *testing.T, key string) {
	resp, err := s.client.KV.Get(ctx, s.prefix+key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		t.Fatalf("nothing stored under %s", key)
	}
	decoded, err := runtime.Decode(s.codec, resp.Kvs[0].Value[len(testPrefix):])
	if err != nil {
		t.Fatalf("decoding %q: %v", resp.Kvs[0].Value, err)
	}
	if pod := decoded.(*example.Pod); pod.ResourceVersion != "" || pod.SelfLink != "" {
		t.Errorf("stored object has a resourceVersion or selfLink: %+v", pod.ObjectMeta)
	}
}

// increaseRV writes an unrelated key, as the suites' IncreaseRVFunc.
func (s *suite) increaseRV(ctx context.Context, t *testing.T) int64 {
	resp, err := s.client.KV.Put(ctx, s.prefix+"/increaseRV", "ok")
	if err != nil {
		t.Fatalf("increasing the revision: %v", err)
	}
	return resp.Header.Revision
}

// compact is the suites' Compaction (etcd3's compactStorage): compact the
// cluster at resourceVersion with kube-apiserver's compaction transaction,
// then wait until the store has seen it (its compactor watches
// compact_rev_key when ListFromCacheSnapshot is on).
func (s *suite) compact(ctx context.Context, t *testing.T, resourceVersion string) {
	rev := mustParseRV(t, resourceVersion)
	compactKV(ctx, t, s.client.Client, rev)
	if utilfeature.DefaultFeatureGate.Enabled(features.ListFromCacheSnapshot) {
		waitFor(t, fmt.Sprintf("the store to see compaction at %d", rev), func() bool { return s.store.CompactRevision() >= int64(rev) })
	}
}

// compactKV runs etcd3.Compact until it wins the compact_rev_key compare:
// where other suites compacted before, the key's version (kube's
// "compaction time") is not 0, and the first try learns it. Success is
// the time advanced by one and the compaction at rev.
func compactKV(ctx context.Context, t *testing.T, cli *clientv3.Client, rev uint64) {
	t.Helper()
	var version int64
	for range 10 {
		current, _, compacted, err := etcd3.Compact(ctx, cli, version, int64(rev))
		if err != nil {
			t.Fatalf("compacting at %d: %v", rev, err)
		}
		if current == version+1 && compacted == int64(rev) {
			return
		}
		version = current
	}
	t.Fatalf("compacting at %d: lost the compact_rev_key compare ten times", rev)
}

func mustParseRV(t *testing.T, resourceVersion string) uint64 {
	t.Helper()
	rv, err := storage.APIObjectVersioner{}.ParseResourceVersion(resourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	return rv
}

// pollTimeout bounds the waits for state kube's storage layer updates in
// the background, with no event a test can await.
const pollTimeout = 30 * time.Second

// poll calls cond until it reports done or an error, or pollTimeout
// passes.
func poll(what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(pollTimeout)
	for {
		done, err := cond()
		switch {
		case err != nil:
			return fmt.Errorf("waiting for %s: %w", what, err)
		case done:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor polls cond until it holds, and fails the test after pollTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := poll(what, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatal(err)
	}
}

// swapTransformer forwards to a transformer the test may swap.
type swapTransformer struct {
	base value.Transformer
	mu   sync.RWMutex
	cur  value.Transformer
}

func newSwapTransformer(base value.Transformer) *swapTransformer {
	return &swapTransformer{base: base, cur: base}
}

// swap makes next current and returns the function that restores base.
func (s *swapTransformer) swap(next value.Transformer) func() {
	s.set(next)
	return func() { s.set(s.base) }
}

func (s *swapTransformer) set(t value.Transformer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = t
}

func (s *swapTransformer) current() value.Transformer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur
}

func (s *swapTransformer) TransformFromStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, bool, error) {
	return s.current().TransformFromStorage(ctx, data, dataCtx)
}

func (s *swapTransformer) TransformToStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, error) {
	return s.current().TransformToStorage(ctx, data, dataCtx)
}
