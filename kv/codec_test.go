package kv

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func roundTrip[T any](t *testing.T, in T) T {
	t.Helper()
	data, err := msgpack.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := msgpack.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRequestCodecRoundTrip(t *testing.T) {
	reqs := []Request{
		{Put: &PutRequest{Key: []byte("k"), Value: []byte("v"), Lease: 42, PrevKv: true, IgnoreLease: true}},
		{Put: &PutRequest{Key: []byte("k"), IgnoreValue: true}},
		{Range: &RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Limit: 10, Revision: 5, SortOrder: SortDescend, SortTarget: SortByMod, KeysOnly: true, MinCreateRevision: 3}},
		{DeleteRange: &DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("b"), PrevKv: true}},
		{Compaction: &CompactionRequest{Revision: 9, Physical: true}},
		{Txn: &TxnRequest{
			Compare: []Compare{{Result: CompareGreater, Target: CompareMod, Key: []byte("a"), ModRevision: 3}},
			Success: []RequestOp{putOp("a", "1"), {Txn: &TxnRequest{Failure: []RequestOp{delOp("b", "")}}}},
			Failure: []RequestOp{{Range: &RangeRequest{Key: []byte("a")}}},
		}},
	}
	for _, req := range reqs {
		for _, got := range []Request{roundTrip(t, req), *roundTrip(t, &req)} {
			if !reflect.DeepEqual(got, req) {
				t.Fatalf("%s: round trip gave %+v", describe(&req), got)
			}
		}
	}
}

func TestResponseCodecRoundTrip(t *testing.T) {
	kv := KeyValue{Key: []byte("k"), Value: []byte("v"), CreateRevision: 2, ModRevision: 3, Version: 2, Lease: 1}
	resp := Response{Txn: &TxnResponse{Header: ResponseHeader{Revision: 4}, Succeeded: true, Responses: []ResponseOp{
		{Range: &RangeResponse{Header: ResponseHeader{Revision: 4}, Kvs: []KeyValue{kv}, More: true, Count: 7}},
		{Put: &PutResponse{Header: ResponseHeader{Revision: 4}, PrevKv: &kv}},
		{DeleteRange: &DeleteRangeResponse{Deleted: 1, PrevKvs: []KeyValue{kv}}},
	}}}
	if got := roundTrip(t, resp); !reflect.DeepEqual(got, resp) {
		t.Fatalf("round trip gave %+v", got)
	}
	wr := WatchResponse{Header: ResponseHeader{Revision: 3}, Events: []Event{{Type: EventDelete, Kv: kv, PrevKv: &kv}}, CompactRevision: 2, Canceled: true, CancelReason: "x"}
	if got := roundTrip(t, wr); !reflect.DeepEqual(got, wr) {
		t.Fatalf("round trip gave %+v", got)
	}
}

// TestArrayCodecSkipsUnknownTrailingFields: a newer writer may append fields.
func TestArrayCodecSkipsUnknownTrailingFields(t *testing.T) {
	data := []byte{0x97} // an array of 7 fields, one more than KeyValue's
	data = appendMsgpackBytes(data, []byte("k"))
	for _, n := range []int64{1, 2, 3} {
		data = appendMsgpackInt(data, n)
	}
	data = appendMsgpackBytes(data, []byte("v"))
	data = appendMsgpackInt(data, 4)
	data = appendMsgpackBytes(data, nil) // the unknown field
	var kv KeyValue
	if err := msgpack.Unmarshal(data, &kv); err != nil {
		t.Fatal(err)
	}
	if string(kv.Key) != "k" || kv.Version != 3 || kv.Lease != 4 {
		t.Fatalf("decoded %s", kvString(&kv))
	}
}

func TestRequestDecodeRejectsGarbage(t *testing.T) {
	good, _ := msgpack.Marshal(&Request{Put: &PutRequest{Key: []byte("k")}})
	bad := map[string][]byte{
		"version": append([]byte{good[0], 2}, good[2:]...),
		"kind":    append([]byte{good[0], good[1], 9}, good[3:]...),
		"short":   good[:len(good)-2],
		"empty":   {0x90},
	}
	for name, data := range bad {
		var req Request
		if err := msgpack.Unmarshal(data, &req); err == nil {
			t.Fatalf("%s: decoded %+v", name, req)
		}
	}
	if _, err := msgpack.Marshal(&Request{}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("encoding an empty request: %v", err)
	}
}

// TestHistoryKeyOrder: escaped history keys sort by key, then newest
// revision first, for keys full of 0x00 and 0xFF.
func TestHistoryKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0x00, 0x01, 0xff, 'a'}
	type entry struct {
		key  string
		rev  int64
		hkey string
	}
	k := keys{prefix: 'k'}
	var entries []entry
	for i := 0; i < 2000; i++ {
		key := make([]byte, 1+rng.IntN(4))
		for j := range key {
			key[j] = alphabet[rng.IntN(len(alphabet))]
		}
		rev := 1 + rng.Int64N(3)
		hk := k.history(nil, key, rev)
		esc, main := splitHistory(hk)
		if string(unescapeKey(nil, esc)) != string(key) || main != rev {
			t.Fatalf("split %x: %x@%d", hk, unescapeKey(nil, esc), main)
		}
		entries = append(entries, entry{string(key), rev, string(hk)})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.hkey, b.hkey) })
	for i := 1; i < len(entries); i++ {
		a, b := entries[i-1], entries[i]
		if a.key > b.key || (a.key == b.key && a.rev < b.rev) {
			t.Fatalf("%x@%d sorts before %x@%d", a.key, a.rev, b.key, b.rev)
		}
	}
}

// TestPutFastPathMatchesMsgpack: the hand-written Put encoding is byte for
// byte msgpack's, and both decoders read both.
func TestPutFastPathMatchesMsgpack(t *testing.T) {
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, math.MaxInt64, -1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	sizes := []int{-1, 0, 1, 255, 256, 65535, 65536}
	payload := func(n int) []byte {
		if n < 0 {
			return nil
		}
		return bytes.Repeat([]byte{'x'}, n)
	}
	for i, lease := range ints {
		p := &PutRequest{Key: payload(sizes[i%len(sizes)]), Value: payload(sizes[(i+3)%len(sizes)]), Lease: lease,
			PrevKv: i%2 == 0, IgnoreValue: i%3 == 0, IgnoreLease: i%5 == 0}
		req := &Request{Put: p}
		fast, err := MarshalRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := msgpack.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast, slow) {
			t.Fatalf("lease %d: encodings differ:\n%x\n%x", lease, fast, slow)
		}
		got, err := UnmarshalRequest(fast)
		if err != nil || !reflect.DeepEqual(got.Put, p) {
			t.Fatalf("lease %d: fast decode %+v, %v", lease, got, err)
		}
		var viaMsgpack Request
		if err := msgpack.Unmarshal(fast, &viaMsgpack); err != nil || viaMsgpack.Put.Lease != lease || len(viaMsgpack.Put.Value) != len(p.Value) {
			t.Fatalf("lease %d: msgpack decode %+v, %v", lease, viaMsgpack.Put, err)
		}
	}
	txn := &Request{Txn: &TxnRequest{Success: []RequestOp{putOp("a", "1")}}}
	data, err := MarshalRequest(txn)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnmarshalRequest(data); err != nil || !reflect.DeepEqual(got, txn) {
		t.Fatalf("txn through the fast API: %+v, %v", got, err)
	}
	if _, err := UnmarshalRequest(data[:len(data)-1]); err == nil {
		t.Fatal("truncated request decoded")
	}
}
