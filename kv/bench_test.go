package kv

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"
)

const benchBatchRequests = 64 // requests per Pebble batch, as a burst of Raft entries

// BenchmarkApplyPut applies Puts of a 16-byte key and a 128-byte value,
// committing (NoSync) and publishing every benchBatchRequests, so ns/op
// includes the amortized commit and Pebble's background work. "update"
// cycles through 10,000 keys, "create" writes new keys only, "watched" adds
// a synced prefix watcher with prev_kv. "pebble=tuned" is a node-like Pebble
// (bloom filters, 64 MiB memtable, 128 MiB cache); "pebble=default" is
// Pebble's defaults.
func BenchmarkApplyPut(b *testing.B) {
	for _, tuned := range []bool{true, false} {
		for _, bc := range []struct {
			name    string
			keys    int
			watched bool
		}{{"update", 10000, false}, {"create", 0, false}, {"watched", 10000, true}} {
			name := fmt.Sprintf("pebble=%s/%s", map[bool]string{true: "tuned", false: "default"}[tuned], bc.name)
			b.Run(name, func(b *testing.B) { benchApplyPut(b, tuned, bc.keys, bc.watched) })
		}
	}
}

func openBenchDB(b *testing.B, tuned bool) *pebble.DB {
	if !tuned {
		return openTestDB(b)
	}
	cache := pebble.NewCache(128 << 20)
	defer cache.Unref()
	opts := &pebble.Options{FS: vfs.NewMem(), Cache: cache, MemTableSize: 64 << 20}
	opts.Levels = make([]pebble.LevelOptions, 7)
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		opts.Levels[i].FilterType = pebble.TableFilter
	}
	db, err := pebble.Open("", opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func benchApplyPut(b *testing.B, tuned bool, keySpace int, watched bool) {
	h := openHarness(b, openBenchDB(b, tuned), Options{})
	if watched {
		w, err := h.s.Watch(WatchRequest{Key: []byte("k"), RangeEnd: []byte("l"), PrevKv: true})
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for range w.Responses() {
			}
		}()
	}
	reqs := make([]Request, benchBatchRequests)
	puts := make([]PutRequest, benchBatchRequests)
	value := make([]byte, 128)
	batch := h.db.NewIndexedBatch()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % benchBatchRequests
		n := i
		if keySpace > 0 {
			n = i % keySpace
		}
		key := binary.BigEndian.AppendUint64([]byte("key-1234"), uint64(n))
		puts[j] = PutRequest{Key: key, Value: value}
		reqs[j] = Request{Put: &puts[j]}
		if _, err := h.s.Apply(batch, &reqs[j]); err != nil {
			b.Fatal(err)
		}
		if j == benchBatchRequests-1 {
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
			h.s.Committed()
			batch = h.db.NewIndexedBatch()
		}
	}
}

// BenchmarkRequestCodecPut encodes and decodes a Put request (the Raft
// payload on the hot path).
func BenchmarkRequestCodecPut(b *testing.B) {
	req := &Request{Put: &PutRequest{Key: make([]byte, 16), Value: make([]byte, 128)}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		data, err := MarshalRequest(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := UnmarshalRequest(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRange reads 100 keys of 10,000 at the current and at an old
// revision.
func BenchmarkRange(b *testing.B) {
	h := newHarness(b, Options{})
	value := make([]byte, 128)
	batch := h.db.NewIndexedBatch()
	for i := 0; i < 10000; i++ {
		key := []byte(fmt.Sprintf("key-%05d", i))
		if _, err := h.s.Apply(batch, &Request{Put: &PutRequest{Key: key, Value: value}}); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		b.Fatal(err)
	}
	h.s.Committed()
	h.put("key-00000", "new")
	for _, rev := range []int64{0, 10001} {
		b.Run(fmt.Sprint("rev=", rev), func(b *testing.B) {
			req := &RangeRequest{Key: []byte("key-05000"), RangeEnd: []byte("key-05100"), Revision: rev}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if resp, err := h.s.Range(req); err != nil || len(resp.Kvs) != 100 {
					b.Fatal(resp, err)
				}
			}
		})
	}
}
