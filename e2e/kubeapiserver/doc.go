// Package kubeapiserver runs a real kube-apiserver with a natsraft cluster as
// its datastore, the way it runs with etcd 3.7, and drives it over HTTPS
// with plain net/http and encoding/json, as a user's tools would (e2e/kube
// runs k8s.io/apiserver's storage layer in process). The test covers what Kubernetes needs from its store: CRUD with
// optimistic concurrency and delete preconditions, paginated lists,
// watches in order (with bookmarks and initial events), consistent reads,
// compaction by kube-apiserver's own compactor (410 Gone below it), and the
// loss of the Raft leader while writes and watches go on.
//
// kube-apiserver v1.37.2 (module k8s.io/kubernetes) is built once into the
// user cache directory by internal/gobuild, in a scratch module that
// replaces each staging module with its v0.37.2 release: the first run
// downloads and compiles for about ten minutes on a 2-core machine, later
// runs start at once. When it cannot be built the test skips, except under
// CI=true, where it fails. NATSRAFT_KUBE_APISERVER names a prebuilt
// kube-apiserver to use instead.
//
// The natsraft nodes run in the test process (internal/testcluster with
// server/etcdapi on loopback); kube-apiserver is a child process whose log
// is kept when the test fails.
package kubeapiserver
