package server_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/natsraft/natsraft/internal/testcluster"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// BenchmarkProposeCommit measures a write's propose-to-commit time on an
// in-process 3-node cluster over an embedded NATS server, with fsync: the
// caller's Write returns once the leader applied the entry, i.e. after
// the quorum's data is on disk. seq is one writer (latency); parallel runs
// GOMAXPROCS*16 writers (throughput through batching).
//
//	go test -run '^$' -bench ProposeCommit -benchtime 3000x ./server/
func BenchmarkProposeCommit(b *testing.B) {
	c := testcluster.StartWith(b, server.Config{}, "n1", "n2", "n3")
	lead := c.Nodes[c.Leader()]
	value := make([]byte, 128)
	write := func(i int64) {
		key := fmt.Appendf(nil, "key-%011d", i%100000)
		_, err := lead.Write(context.Background(), &kv.Request{Put: &kv.PutRequest{Key: key, Value: value}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			write(int64(i))
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				write(next.Add(1))
			}
		})
	})
}
