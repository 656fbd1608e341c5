// Package etcdapi serves etcd's v3 gRPC API (KV, Watch, Lease, Cluster,
// Maintenance, with the generated stubs of go.etcd.io/etcd/api/v3) over one
// natsraft node, so that etcdctl, go.etcd.io/etcd/client/v3 and
// kube-apiserver (or k3s with --datastore-endpoint) use a natsraft cluster
// as they use etcd.
//
// It is a thin adapter: reads go through server.Node.Range (linearizable
// unless serializable), writes, leases and compactions through
// server.Node.Write (the Raft log), watches through kv's watchers. The
// semantics are etcd's (kv mirrors etcd's MVCC); what this package adds is
// etcd's wire behaviour:
//
//   - response headers: cluster_id (from the cluster name), member_id (the
//     node's Raft ID), revision and raft_term;
//   - errors as rpctypes.ErrGRPC* values, byte for byte (errors.go);
//   - the Watch stream protocol (watch.go): server-assigned IDs, Created
//     first, compaction cancels with compact_revision, progress requests
//     answered when every watcher of the stream is synced, periodic
//     progress notifications;
//   - RangeStream (etcd 3.7): chunks read at one pinned revision;
//   - hasleader metadata (clientv3.WithRequireLeader): refused without a
//     leader, streams ended after three leaderless election timeouts;
//   - learners serve only Status and serializable Range, as in etcd.
//
// What is not served, and why, is in docs/etcd-compat.md.
package etcdapi
