package store

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/natsraft/natsraft/raft"
)

// BenchmarkAppendSync measures the write path of one Ready on the OS file
// system: a batch of 1, 16 or 64 entries of 128 bytes plus the hard state,
// committed with one fsync. The nosync variants show the CPU cost without
// the disk.
func BenchmarkAppendSync(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		for _, n := range []int{1, 16, 64} {
			name := fmt.Sprintf("entries=%d", n)
			if noSync {
				name += "/nosync"
			}
			b.Run(name, func(b *testing.B) { benchmarkAppend(b, n, noSync) })
		}
	}
}

func benchmarkAppend(b *testing.B, n int, noSync bool) {
	opts := Options{Create: true, NoSync: noSync, Logger: quietLogger()}
	s := mustOpen(b, filepath.Join(b.TempDir(), "db"), opts)
	defer s.Close()
	ents := make([]raft.Entry, n)
	data := make([]byte, 128)
	for i := range ents {
		ents[i] = raft.Entry{Term: 1, Data: data}
	}
	next := uint64(1)
	b.SetBytes(int64(n * len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for i := range ents {
			ents[i].Index = next + uint64(i)
		}
		next += uint64(n)
		batch := s.NewBatch()
		if err := batch.Append(ents); err != nil {
			b.Fatal(err)
		}
		batch.SetHardState(raft.HardState{Term: 1, Vote: 1, Commit: next - 1})
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
}

// BenchmarkEntriesCached measures the leader's replication read of 16
// recent entries from the tail cache.
func BenchmarkEntriesCached(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "db"), Options{Create: true, NoSync: true, Logger: quietLogger()})
	defer s.Close()
	for i := uint64(1); i <= 1024; i += 16 {
		mustAppend(b, s, entries(i, i+15, 1)...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		lo := 1 + uint64(i%1000)
		if ents, err := s.Entries(lo, lo+16, 1<<20); err != nil || len(ents) != 16 {
			b.Fatal(len(ents), err)
		}
	}
}
