package kv

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble"
)

func TestFreshStoreIsAtRevisionOne(t *testing.T) {
	h := newHarness(t, Options{})
	if got := h.s.Revision(); got != 1 {
		t.Fatalf("fresh store at revision %d, want 1", got)
	}
	resp, err := h.s.Range(&RangeRequest{Key: []byte("a")})
	if err != nil || resp.Header.Revision != 1 || resp.Count != 0 {
		t.Fatalf("range on fresh store: %+v, %v", resp, err)
	}
}

// TestRevisionsAcrossPutDeleteRecreate follows one key through etcd's life
// cycle: create, update, delete, delete again (no-op), recreate.
func TestRevisionsAcrossPutDeleteRecreate(t *testing.T) {
	h := newHarness(t, Options{})
	steps := []struct {
		name    string
		do      func() int64 // returns the response header revision
		wantRev int64
		want    *KeyValue // nil: key absent afterwards
	}{
		{"create", func() int64 { return h.put("a", "1").Header.Revision }, 2,
			&KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1}},
		{"update", func() int64 { return h.put("a", "2").Header.Revision }, 3,
			&KeyValue{Key: []byte("a"), Value: []byte("2"), CreateRevision: 2, ModRevision: 3, Version: 2}},
		{"other key", func() int64 { return h.put("b", "x").Header.Revision }, 4,
			&KeyValue{Key: []byte("a"), Value: []byte("2"), CreateRevision: 2, ModRevision: 3, Version: 2}},
		{"delete", func() int64 { return h.del("a", "").Header.Revision }, 5, nil},
		{"delete nothing", func() int64 { return h.del("a", "").Header.Revision }, 5, nil},
		{"recreate", func() int64 { return h.put("a", "3").Header.Revision }, 6,
			&KeyValue{Key: []byte("a"), Value: []byte("3"), CreateRevision: 6, ModRevision: 6, Version: 1}},
	}
	for _, step := range steps {
		if got := step.do(); got != step.wantRev {
			t.Fatalf("%s: header revision %d, want %d", step.name, got, step.wantRev)
		}
		if got := h.s.Revision(); got != step.wantRev {
			t.Fatalf("%s: store revision %d, want %d", step.name, got, step.wantRev)
		}
		kv, found := h.get("a")
		if (step.want == nil) != !found || (found && kvString(&kv) != kvString(step.want)) {
			t.Fatalf("%s: a is %s (found %v), want %s", step.name, kvString(&kv), found, kvString(step.want))
		}
	}
}

func TestOneRevisionPerWriteTxn(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1")
	resp := h.mustApply(&Request{Txn: &TxnRequest{Success: []RequestOp{
		{Put: &PutRequest{Key: []byte("b"), Value: []byte("2")}},
		{Put: &PutRequest{Key: []byte("c"), Value: []byte("3")}},
		{DeleteRange: &DeleteRangeRequest{Key: []byte("a")}},
	}}})
	if resp.Txn.Header.Revision != 3 || h.s.Revision() != 3 {
		t.Fatalf("txn at revision %d, store at %d, want 3", resp.Txn.Header.Revision, h.s.Revision())
	}
	readOnly := h.mustApply(&Request{Txn: &TxnRequest{Success: []RequestOp{{Range: &RangeRequest{Key: []byte("b")}}}}})
	noop := h.mustApply(&Request{Txn: &TxnRequest{Success: []RequestOp{{DeleteRange: &DeleteRangeRequest{Key: []byte("zz")}}}}})
	if readOnly.Txn.Header.Revision != 3 || noop.Txn.Header.Revision != 3 || h.s.Revision() != 3 {
		t.Fatalf("read-only or no-op txn added a revision: %d %d %d", readOnly.Txn.Header.Revision, noop.Txn.Header.Revision, h.s.Revision())
	}
	for _, key := range []string{"b", "c"} {
		if kv, _ := h.get(key); kv.ModRevision != 3 || kv.CreateRevision != 3 {
			t.Fatalf("%s: %s, want mod and create revision 3", key, kvString(&kv))
		}
	}
}

// TestSeveralAppliesInOneBatch: each Apply sees the ones before it in the
// same uncommitted batch; nothing is visible to readers before the commit.
func TestSeveralAppliesInOneBatch(t *testing.T) {
	h := newHarness(t, Options{})
	b := h.db.NewIndexedBatch()
	for i, value := range []string{"1", "2", "3"} {
		resp, err := h.s.Apply(b, &Request{Put: &PutRequest{Key: []byte("a"), Value: []byte(value), PrevKv: true}})
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(i + 2); resp.Put.Header.Revision != want {
			t.Fatalf("put %d at revision %d, want %d", i, resp.Put.Header.Revision, want)
		}
		if i > 0 && (resp.Put.PrevKv == nil || resp.Put.PrevKv.Version != int64(i)) {
			t.Fatalf("put %d: prev %s", i, kvString(resp.Put.PrevKv))
		}
	}
	if _, found := h.get("a"); found || h.s.Revision() != 1 {
		t.Fatal("uncommitted batch visible to readers")
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if kv, _ := h.get("a"); kv.Version != 3 || kv.ModRevision != 4 {
		t.Fatalf("after commit: %s", kvString(&kv))
	}
	h.s.Committed()
	if h.s.Revision() != 4 {
		t.Fatalf("published revision %d, want 4", h.s.Revision())
	}
}

func TestReopenLoadsRevisions(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1")
	h.put("a", "2")
	h.put("b", "1")
	if err := h.compact(3); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(h.db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Revision() != 4 || s2.CompactRevision() != 3 {
		t.Fatalf("reopened at %d compacted %d, want 4 and 3", s2.Revision(), s2.CompactRevision())
	}
}

func TestDiscardForgetsUncommittedApplies(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1")
	b := h.applyUncommitted(&Request{Put: &PutRequest{Key: []byte("a"), Value: []byte("2")}})
	b.Close()
	if err := h.s.Discard(); err != nil {
		t.Fatal(err)
	}
	if resp := h.put("b", "1"); resp.Header.Revision != 3 {
		t.Fatalf("after discard, next put at %d, want 3", resp.Header.Revision)
	}
}

func TestPutOptions(t *testing.T) {
	h := newHarness(t, Options{})
	put := func(p *PutRequest) (*PutResponse, error) {
		resp, err := h.apply(&Request{Put: p})
		if err != nil {
			return nil, err
		}
		return resp.Put, nil
	}
	if _, err := put(&PutRequest{Key: []byte("a"), IgnoreValue: true}); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("ignore_value on missing key: %v", err)
	}
	if _, err := put(&PutRequest{Key: []byte("a"), IgnoreLease: true}); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("ignore_lease on missing key: %v", err)
	}
	if _, err := put(&PutRequest{Key: []byte("a"), Value: []byte("v1"), Lease: 7}); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("put with a lease that does not exist: %v", err)
	}
	if h.s.Revision() != 1 {
		t.Fatal("failed put added a revision")
	}
	h.mustApply(&Request{LeaseGrant: &LeaseGrantRequest{ID: 7, TTL: 5}})
	h.mustApply(&Request{LeaseGrant: &LeaseGrantRequest{ID: 9, TTL: 5}})
	resp, _ := put(&PutRequest{Key: []byte("a"), Value: []byte("v1"), Lease: 7, PrevKv: true})
	if resp.PrevKv != nil {
		t.Fatalf("prev of a creation: %s", kvString(resp.PrevKv))
	}
	resp, _ = put(&PutRequest{Key: []byte("a"), IgnoreValue: true, PrevKv: true})
	if kv, _ := h.get("a"); string(kv.Value) != "v1" || kv.Lease != 0 || kv.Version != 2 {
		t.Fatalf("ignore_value: %s", kvString(&kv))
	}
	if resp.PrevKv == nil || string(resp.PrevKv.Value) != "v1" || resp.PrevKv.Lease != 7 {
		t.Fatalf("prev_kv: %s", kvString(resp.PrevKv))
	}
	put(&PutRequest{Key: []byte("a"), Value: []byte("v2"), Lease: 9})
	put(&PutRequest{Key: []byte("a"), Value: []byte("v3"), IgnoreLease: true})
	if kv, _ := h.get("a"); string(kv.Value) != "v3" || kv.Lease != 9 {
		t.Fatalf("ignore_lease: %s", kvString(&kv))
	}
	for _, p := range []*PutRequest{
		{Key: []byte("a"), Value: []byte("x"), IgnoreValue: true},
		{Key: []byte("a"), Lease: 1, IgnoreLease: true},
		{Value: []byte("x")},
	} {
		if _, err := put(p); err == nil {
			t.Fatalf("put %+v accepted", p)
		}
	}
}

func TestDeleteRangePrevKvs(t *testing.T) {
	h := newHarness(t, Options{})
	for _, k := range []string{"a", "b", "c", "d"} {
		h.put(k, "v"+k)
	}
	resp := h.del("b", "d")
	if resp.Deleted != 2 || resp.Header.Revision != 6 || kvsString(resp.PrevKvs) != kvsString([]KeyValue{
		{Key: []byte("b"), Value: []byte("vb"), CreateRevision: 3, ModRevision: 3, Version: 1},
		{Key: []byte("c"), Value: []byte("vc"), CreateRevision: 4, ModRevision: 4, Version: 1},
	}) {
		t.Fatalf("delete [b, d): %d deleted at %d, prev %s", resp.Deleted, resp.Header.Revision, kvsString(resp.PrevKvs))
	}
	if resp := h.del("\x00", "\x00"); resp.Deleted != 2 || resp.Header.Revision != 7 {
		t.Fatalf("delete all: %d deleted at %d", resp.Deleted, resp.Header.Revision)
	}
}

func TestApplyPanicsOnUnindexedBatch(t *testing.T) {
	h := newHarness(t, Options{})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	h.s.Apply(h.db.NewBatch(), &Request{Put: &PutRequest{Key: []byte("a")}})
}
