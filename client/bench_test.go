package client_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/natsraft/natsraft/client"
)

// The client's round trips on the in-process cluster (10 ms tick, real
// fsync): go test -run X -bench . ./client/

func BenchmarkPut(b *testing.B) {
	c := startCluster(b)
	cl := newClient(b, c, client.Options{})
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, err := cl.Put(ctx, "bench", fmt.Sprint(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutParallel(b *testing.B) {
	c := startCluster(b)
	cl := newClient(b, c, client.Options{})
	ctx := context.Background()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cl.Put(ctx, "bench", "v"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGet(b *testing.B) {
	benchmarkGet(b)
}

func BenchmarkGetSerializable(b *testing.B) {
	benchmarkGet(b, client.WithSerializable())
}

func benchmarkGet(b *testing.B, opts ...client.OpOption) {
	c := startCluster(b)
	cl := newClient(b, c, client.Options{})
	ctx := context.Background()
	if _, err := cl.Put(ctx, "bench", "v"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := cl.Get(ctx, "bench", opts...); err != nil {
			b.Fatal(err)
		}
	}
}
