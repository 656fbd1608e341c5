package natstransport

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/natsraft/natsraft/raft"
	"github.com/vmihailenco/msgpack/v5"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzDecodeBatch from fuzzSeeds")

// fuzzLimits keep one fuzz input from allocating much.
var fuzzLimits = Limits{SnapshotBytesMax: 1 << 20, EntryBytesMax: 1 << 16}

// FuzzDecodeBatch feeds arbitrary bytes to the decoder and to a transport's
// receive path on every lane. The decoder must fail with one of its errors
// or return a batch that re-encodes to the same batch; the copying path of
// the msgpack interfaces must agree; nothing may panic.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBatch(data, fuzzLimits)
		if err != nil {
			checkDecodeError(t, err)
		} else {
			checkReencode(t, &b)
			var copied Batch
			if err := msgpack.Unmarshal(data, &copied); err != nil || !equalMessages(copied.Messages, b.Messages) {
				t.Fatalf("copying decoder disagrees: %v", err)
			}
		}
		receiveOnEveryLane(t, data)
	})
}

func checkDecodeError(t *testing.T, err error) {
	for _, known := range []error{ErrMalformed, ErrVersion, ErrKind, ErrTooLarge, ErrMessageType} {
		if errors.Is(err, known) {
			return
		}
	}
	t.Fatalf("unclassified error %v", err)
}

func checkReencode(t *testing.T, b *Batch) {
	enc, err := EncodeBatch(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeBatch(enc, fuzzLimits)
	if err != nil || again.Cluster != b.Cluster || again.Group != b.Group || again.From != b.From ||
		again.To != b.To || !equalMessages(again.Messages, b.Messages) {
		t.Fatalf("re-encoding changed the batch (%v)", err)
	}
}

// receiveOnEveryLane hands data to an unsubscribed transport (node 2 of
// {1, 2}) as if it had arrived on each lane.
func receiveOnEveryLane(t *testing.T, data []byte) {
	tr, err := newUnsubscribed(nil, Config{
		Cluster: testCluster, Group: testGroup, NodeID: 2, Members: []uint64{1, 2},
		Handler: func([]raft.Message) {}, Limits: fuzzLimits,
	}, hooks{publish: func(string, []byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for l := range tr.lanes {
		tr.receive(&tr.lanes[l], data)
	}
}

type fuzzSeed struct {
	name string
	data []byte
}

// fuzzSeeds are valid and invalid encodings; the committed corpus holds
// the same (see TestFuzzCorpusUpToDate).
func fuzzSeeds() []fuzzSeed {
	r := rand.New(rand.NewPCG(11, 12))
	var all Batch
	for typ := range raft.MessageType(18) {
		all.Messages = append(all.Messages, randomMessage(r, typ))
	}
	all.Cluster, all.Group, all.From, all.To = testCluster, testGroup, 1, 2
	hb := &Batch{Cluster: testCluster, Group: testGroup, From: 1, To: 2,
		Messages: []raft.Message{{Type: raft.MsgHeartbeat, Term: 3, Commit: 9}}}
	app := appendBatch(3, 16)
	appEnc := mustEncodeSeed(app)
	return []fuzzSeed{
		{"valid-heartbeat", mustEncodeSeed(hb)},
		{"valid-append", appEnc},
		{"valid-every-type", mustEncodeSeed(&all)},
		{"valid-empty", mustEncodeSeed(&Batch{Cluster: testCluster, Group: testGroup, From: 1, To: 2})},
		{"valid-chunk", seedChunk()},
		{"valid-ack", seedAck()},
		{"valid-other-sender", mustEncodeSeed(&Batch{Cluster: testCluster, Group: testGroup, From: 9, To: 2, Messages: hb.Messages})},
		{"invalid-garbage", []byte("not msgpack at all")},
		{"invalid-truncated", appEnc[:len(appEnc)/2]},
		{"invalid-trailing", append(slices.Clone(appEnc), 0xc0)},
		{"invalid-version", slices.Concat([]byte{0x97, 0x02}, appEnc[2:])},
		{"invalid-kind", slices.Concat(appEnc[:2], []byte{0x09}, appEnc[3:])},
		{"invalid-huge-array", hostileArray()},
		{"invalid-deep-nesting", deepExtraField(20)},
	}
}

func mustEncodeSeed(b *Batch) []byte {
	enc, err := EncodeBatch(nil, b)
	if err != nil {
		panic(err)
	}
	return enc
}

func seedChunk() []byte {
	header := raft.Message{Type: raft.MsgSnap, Term: 2, Snapshot: &raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: 5, Term: 2, ConfState: raft.ConfState{Voters: []uint64{1, 2}}}}}
	data := []byte("snapshot image")
	e := newBufferEncoder()
	e.header(kindChunk, testCluster, testGroup, 1, 2)
	e.chunk(&snapshotChunk{transferID: 1, totalBytes: uint64(len(data)), totalCRC: checksum(data),
		chunkCRC: checksum(data), data: data, header: &header})
	return e.buf.b
}

func seedAck() []byte {
	e := newBufferEncoder()
	e.header(kindAck, testCluster, testGroup, 1, 2)
	e.ack(&snapshotAck{transferID: 1, offset: 10, status: ackProgress})
	return e.buf.b
}

// TestFuzzCorpusUpToDate checks that the committed seed corpus matches
// fuzzSeeds; run with -update-corpus to rewrite it.
func TestFuzzCorpusUpToDate(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeBatch")
	for _, s := range fuzzSeeds() {
		file := filepath.Join(dir, s.name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (%v); run go test ./natstransport/ -run TestFuzzCorpusUpToDate -update-corpus", file, err)
		}
	}
}
