package server

// What the etcd API (server/etcdapi) needs from a node beyond the service
// layer of api.go and lease.go.

import "github.com/natsraft/natsraft/kv"

// electionTicks is the Raft election timeout in ticks (raft.Config in
// startRaft); leases are sized from it.
const electionTicks = 10

// Revision is the revision of the state this node has applied and
// published: every event up to it has gone to the watchers.
func (n *Node) Revision() int64 { return n.kv.Revision() }

// CompactRevision is the compaction revision of that state.
func (n *Node) CompactRevision() int64 { return n.kv.CompactRevision() }

// DBSizeBytes is the space the node's Pebble store takes on disk (the log,
// snapshots and the key-value state).
func (n *Node) DBSizeBytes() int64 {
	return int64(n.store.DB().Metrics().DiskSpaceUsage())
}

// ProgressAll is kv.Store.ProgressAll for watchers started by Watch.
func (n *Node) ProgressAll(ws []*kv.Watcher) (int64, bool) { return n.kv.ProgressAll(ws) }
