package kv

import (
	"errors"
	"fmt"
	"testing"
)

func cmpReq(target CompareTarget, result CompareResult, key string, operand any) Compare {
	c := Compare{Target: target, Result: result, Key: []byte(key)}
	switch v := operand.(type) {
	case string:
		c.Value = []byte(v)
	case int:
		switch target {
		case CompareVersion:
			c.Version = int64(v)
		case CompareCreate:
			c.CreateRevision = int64(v)
		case CompareMod:
			c.ModRevision = int64(v)
		case CompareLease:
			c.Lease = int64(v)
		}
	}
	return c
}

func putOp(key, value string) RequestOp {
	return RequestOp{Put: &PutRequest{Key: []byte(key), Value: []byte(value)}}
}

func delOp(key, end string) RequestOp {
	return RequestOp{DeleteRange: &DeleteRangeRequest{Key: []byte(key), RangeEnd: bs(end)}}
}

// TestTxnCompare: every target with every result. Fixture: a="m" created at
// 2, modified at 4 (version 2, lease 5); b="z" at 3.
func TestTxnCompare(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "l")
	h.put("b", "z")
	h.mustApply(&Request{LeaseGrant: &LeaseGrantRequest{ID: 5, TTL: 60}})
	h.mustApply(&Request{Put: &PutRequest{Key: []byte("a"), Value: []byte("m"), Lease: 5}})
	tests := []struct {
		c    Compare
		want bool
	}{
		{cmpReq(CompareValue, CompareEqual, "a", "m"), true},
		{cmpReq(CompareValue, CompareNotEqual, "a", "m"), false},
		{cmpReq(CompareValue, CompareGreater, "a", "l"), true},
		{cmpReq(CompareValue, CompareLess, "a", "n"), true},
		{cmpReq(CompareValue, CompareLess, "a", "m"), false},
		{cmpReq(CompareVersion, CompareEqual, "a", 2), true},
		{cmpReq(CompareVersion, CompareGreater, "a", 2), false},
		{cmpReq(CompareVersion, CompareLess, "a", 3), true},
		{cmpReq(CompareVersion, CompareNotEqual, "a", 1), true},
		{cmpReq(CompareCreate, CompareEqual, "a", 2), true},
		{cmpReq(CompareCreate, CompareGreater, "a", 1), true},
		{cmpReq(CompareCreate, CompareLess, "a", 2), false},
		{cmpReq(CompareCreate, CompareNotEqual, "a", 2), false},
		{cmpReq(CompareMod, CompareEqual, "a", 4), true},
		{cmpReq(CompareMod, CompareGreater, "a", 4), false},
		{cmpReq(CompareMod, CompareLess, "a", 5), true},
		{cmpReq(CompareMod, CompareNotEqual, "a", 3), true},
		{cmpReq(CompareLease, CompareEqual, "a", 5), true},
		{cmpReq(CompareLease, CompareGreater, "b", 0), false},
		// A missing key compares as a zero KeyValue, except for its value.
		{cmpReq(CompareVersion, CompareEqual, "x", 0), true},
		{cmpReq(CompareCreate, CompareEqual, "x", 0), true},
		{cmpReq(CompareMod, CompareLess, "x", 1), true},
		{cmpReq(CompareValue, CompareEqual, "x", ""), false},
		{cmpReq(CompareValue, CompareNotEqual, "x", "v"), false},
		// A range: the compare must hold for every key.
		{Compare{Target: CompareVersion, Result: CompareGreater, Key: []byte("a"), RangeEnd: []byte("c")}, true},
		{Compare{Target: CompareVersion, Result: CompareEqual, Key: []byte("a"), RangeEnd: []byte("c"), Version: 1}, false},
		{Compare{Target: CompareMod, Result: CompareLess, Key: []byte("a"), RangeEnd: []byte{0}, ModRevision: 5}, true},
		{Compare{Target: CompareCreate, Result: CompareEqual, Key: []byte("c"), RangeEnd: []byte("d")}, true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			resp := h.mustApply(&Request{Txn: &TxnRequest{
				Compare: []Compare{tt.c},
				Success: []RequestOp{{Range: &RangeRequest{Key: []byte("a")}}},
				Failure: []RequestOp{{Range: &RangeRequest{Key: []byte("b")}}, {Range: &RangeRequest{Key: []byte("b")}}},
			}}).Txn
			if resp.Succeeded != tt.want {
				t.Fatalf("compare %+v: succeeded %v", tt.c, resp.Succeeded)
			}
			if wantOps := map[bool]int{true: 1, false: 2}[tt.want]; len(resp.Responses) != wantOps {
				t.Fatalf("%d responses, want %d", len(resp.Responses), wantOps)
			}
		})
	}
	if h.s.Revision() != 4 {
		t.Fatalf("read-only txns moved the revision to %d", h.s.Revision())
	}
}

// TestTxnThenElse: the classic compare-and-swap, both ways, with ranges in
// the txn seeing the writes before them.
func TestTxnThenElse(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("k", "v1")
	cas := func(expect, value string) *TxnResponse {
		return h.mustApply(&Request{Txn: &TxnRequest{
			Compare: []Compare{cmpReq(CompareValue, CompareEqual, "k", expect)},
			Success: []RequestOp{putOp("k", value), {Range: &RangeRequest{Key: []byte("k")}}},
			Failure: []RequestOp{{Range: &RangeRequest{Key: []byte("k")}}},
		}}).Txn
	}
	ok := cas("v1", "v2")
	if !ok.Succeeded || ok.Header.Revision != 3 || ok.Responses[0].Put.Header.Revision != 3 {
		t.Fatalf("cas v1->v2: %+v", ok)
	}
	if r := ok.Responses[1].Range; r.Header.Revision != 3 || string(r.Kvs[0].Value) != "v2" {
		t.Fatalf("range after put in txn: %s at %d", kvsString(r.Kvs), r.Header.Revision)
	}
	failed := cas("v1", "v3")
	if failed.Succeeded || failed.Header.Revision != 3 || string(failed.Responses[0].Range.Kvs[0].Value) != "v2" {
		t.Fatalf("failed cas: %+v", failed)
	}
}

// TestNestedTxnComparesSeeStateBeforeTxn: etcd decides every branch before
// running any op, so a nested compare does not see the outer put.
func TestNestedTxnComparesSeeStateBeforeTxn(t *testing.T) {
	h := newHarness(t, Options{})
	resp := h.mustApply(&Request{Txn: &TxnRequest{Success: []RequestOp{
		putOp("a", "1"),
		{Txn: &TxnRequest{
			Compare: []Compare{cmpReq(CompareVersion, CompareEqual, "a", 0)},
			Success: []RequestOp{putOp("absent-before", "yes"), {Range: &RangeRequest{Key: []byte("a")}}},
			Failure: []RequestOp{putOp("present-before", "yes")},
		}},
	}}}).Txn
	nested := resp.Responses[1].Txn
	if !nested.Succeeded || len(nested.Responses[1].Range.Kvs) != 1 {
		t.Fatalf("nested txn: %+v", nested)
	}
	if _, found := h.get("absent-before"); !found || resp.Header.Revision != 2 {
		t.Fatalf("nested success branch not applied at one revision (%d)", resp.Header.Revision)
	}
}

// TestTxnFailedCheckWritesNothing: a check on the chosen path fails before
// any op runs, even ops listed before it.
func TestTxnFailedCheckWritesNothing(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1")
	for _, tt := range []struct {
		op   RequestOp
		want error
	}{
		{RequestOp{Put: &PutRequest{Key: []byte("missing"), IgnoreValue: true}}, ErrKeyNotFound},
		{RequestOp{Range: &RangeRequest{Key: []byte("a"), Revision: 3}}, ErrFutureRev},
	} {
		_, err := h.apply(&Request{Txn: &TxnRequest{Success: []RequestOp{putOp("b", "1"), tt.op}}})
		if !errors.Is(err, tt.want) {
			t.Fatalf("err %v, want %v", err, tt.want)
		}
		if _, found := h.get("b"); found || h.s.Revision() != 2 {
			t.Fatal("failed txn wrote")
		}
	}
}

func TestTxnDuplicateKeys(t *testing.T) {
	nested := func(then, els []RequestOp) RequestOp {
		return RequestOp{Txn: &TxnRequest{Success: then, Failure: els}}
	}
	tests := []struct {
		name string
		ops  []RequestOp
		dup  bool
	}{
		{"two puts", []RequestOp{putOp("a", "1"), putOp("a", "2")}, true},
		{"put in deleted range", []RequestOp{delOp("a", "c"), putOp("b", "1")}, true},
		{"put then delete", []RequestOp{putOp("a", "1"), delOp("a", "")}, true},
		{"put under delete from key", []RequestOp{putOp("z", "1"), delOp("a", "\x00")}, true},
		{"two deletes", []RequestOp{delOp("a", "c"), delOp("b", "d")}, false},
		{"put beside range", []RequestOp{delOp("a", "c"), putOp("c", "1")}, false},
		{"nested put vs put", []RequestOp{putOp("a", "1"), nested([]RequestOp{putOp("a", "2")}, nil)}, true},
		{"nested then/else", []RequestOp{nested([]RequestOp{putOp("a", "1")}, []RequestOp{putOp("a", "2")})}, false},
		{"nested put, own else delete", []RequestOp{nested([]RequestOp{putOp("a", "1")}, []RequestOp{delOp("a", "")})}, false},
		{"nested put, later sibling delete", []RequestOp{nested([]RequestOp{putOp("a", "1")}, nil), nested([]RequestOp{delOp("a", "b")}, nil)}, true},
		{"nested delete, outer put", []RequestOp{nested(nil, []RequestOp{delOp("a", "b")}), putOp("a", "1")}, true},
		{"two nested puts", []RequestOp{nested([]RequestOp{putOp("a", "1")}, nil), nested(nil, []RequestOp{putOp("a", "1")})}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkRequest(&Request{Txn: &TxnRequest{Success: tt.ops}})
			if dup := errors.Is(err, ErrDuplicateKey); dup != tt.dup || (err != nil && !dup) {
				t.Fatalf("err %v, want duplicate %v", err, tt.dup)
			}
			err = checkRequest(&Request{Txn: &TxnRequest{Failure: tt.ops}})
			if errors.Is(err, ErrDuplicateKey) != tt.dup {
				t.Fatalf("failure branch: err %v", err)
			}
		})
	}
}
