package kv

import (
	"bytes"
	"errors"
	"testing"
)

func TestValidateLimits(t *testing.T) {
	h := newHarness(t, Options{MaxKeyBytes: 8, MaxValueBytes: 16, MaxRequestBytes: 64, MaxTxnOps: 2})
	big := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	ops := func(n int) []RequestOp {
		out := make([]RequestOp, n)
		for i := range out {
			out[i] = RequestOp{Range: &RangeRequest{Key: []byte{byte('a' + i)}}}
		}
		return out
	}
	deep := &TxnRequest{}
	for i := 0; i < maxTxnDepth; i++ {
		deep = &TxnRequest{Success: []RequestOp{{Txn: deep}}}
	}
	tests := []struct {
		name string
		req  *Request
		want error
	}{
		{"ok", &Request{Put: &PutRequest{Key: big(8), Value: big(16)}}, nil},
		{"key", &Request{Put: &PutRequest{Key: big(9)}}, ErrKeyTooLarge},
		{"range end", &Request{Range: &RangeRequest{Key: []byte("a"), RangeEnd: big(9)}}, ErrKeyTooLarge},
		{"value", &Request{Put: &PutRequest{Key: []byte("k"), Value: big(17)}}, ErrValueTooLarge},
		{"request", &Request{Txn: &TxnRequest{Success: []RequestOp{putOp("a", string(big(16))), putOp("b", string(big(16)))}}}, ErrRequestTooLarge},
		{"compares", &Request{Txn: &TxnRequest{Compare: []Compare{{Key: []byte("a")}, {Key: []byte("b")}, {Key: []byte("c")}}}}, ErrTooManyOps},
		{"success ops", &Request{Txn: &TxnRequest{Success: ops(3)}}, ErrTooManyOps},
		{"failure ops", &Request{Txn: &TxnRequest{Failure: ops(3)}}, ErrTooManyOps},
		{"nested ops", &Request{Txn: &TxnRequest{Success: []RequestOp{{Txn: &TxnRequest{Failure: ops(3)}}}}}, ErrTooManyOps},
		{"depth", &Request{Txn: deep}, ErrTooManyOps},
		{"empty key", &Request{DeleteRange: &DeleteRangeRequest{}}, ErrEmptyKey},
		{"compare key", &Request{Txn: &TxnRequest{Compare: []Compare{{}}}}, ErrEmptyKey},
		{"two ops", &Request{Put: &PutRequest{Key: []byte("k")}, DeleteRange: &DeleteRangeRequest{Key: []byte("k")}}, ErrInvalidRequest},
		{"no op", &Request{}, ErrInvalidRequest},
		{"empty txn op", &Request{Txn: &TxnRequest{Success: []RequestOp{{}}}}, ErrInvalidRequest},
		{"sort order", &Request{Range: &RangeRequest{Key: []byte("k"), SortOrder: 3}}, ErrInvalidRequest},
		{"compare target", &Request{Txn: &TxnRequest{Compare: []Compare{{Key: []byte("k"), Target: 5}}}}, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.s.Validate(tt.req)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Validate: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestApplyIgnoresLimits: limits are a proposal-time check, so a node
// configured with smaller limits still applies what the log holds.
func TestApplyIgnoresLimits(t *testing.T) {
	h := newHarness(t, Options{MaxKeyBytes: 1, MaxValueBytes: 1})
	req := &Request{Put: &PutRequest{Key: []byte("long key"), Value: []byte("long value")}}
	if err := h.s.Validate(req); !errors.Is(err, ErrKeyTooLarge) {
		t.Fatalf("Validate: %v", err)
	}
	if _, err := h.apply(req); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func TestDefaultLimits(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Prefix != 'k' || o.MaxRequestBytes != 1572864 || o.MaxTxnOps != 128 || o.MaxKeyBytes != 32768 {
		t.Fatalf("defaults %+v", o)
	}
}
