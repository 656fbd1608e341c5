package raft

import (
	"fmt"
	"testing"
)

// BenchmarkProposeCommit measures the core's cost per proposed entry on a
// 3-node in-memory cluster: propose, replicate, acknowledge, commit and
// hand to the state machine on every node. Storage is MemoryStorage, so
// this is the core's CPU and allocation cost, not I/O.
//
//	go test -run '^$' -bench ProposeCommit -benchmem ./raft/
func BenchmarkProposeCommit(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			c := newTestCluster(b, []uint64{1, 2, 3}, nil)
			c.campaign(1)
			lead := c.nodes[1]
			data := make([]byte, 128)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				for range min(batch, b.N-i) {
					if err := lead.Propose(data); err != nil {
						b.Fatal(err)
					}
				}
				c.stabilize()
				if i%8192 < batch {
					c.compactAll()
				}
			}
			b.StopTimer()
			if got := lead.r.log.committed; got < uint64(b.N) {
				b.Fatalf("committed %d of %d", got, b.N)
			}
		})
	}
}

// compactAll drops applied entries from every node's storage and
// forgets what the test recorded as applied, to keep memory flat.
func (c *testCluster) compactAll() {
	for id, n := range c.nodes {
		if applied := n.r.log.applied; applied > 1 {
			_ = c.storage[id].Compact(applied - 1)
		}
		c.applied[id] = c.applied[id][:0]
	}
}
