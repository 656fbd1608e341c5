package kv

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func (h *harness) grant(id, ttl int64) {
	h.t.Helper()
	h.mustApply(&Request{LeaseGrant: &LeaseGrantRequest{ID: id, TTL: ttl}})
}

func (h *harness) putLease(key, value string, lease int64) {
	h.t.Helper()
	h.mustApply(&Request{Put: &PutRequest{Key: []byte(key), Value: []byte(value), Lease: lease}})
}

func leaseKeys(t *testing.T, h *harness, id int64) string {
	t.Helper()
	_, list, err := h.s.LeaseKeys(id)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%q", list)
}

// TestLeaseRevokeDeletesAttachedKeysInOneRevision: etcd's revoke deletes
// the lease's keys in one txn, sorted, with one revision for all.
func TestLeaseRevokeDeletesAttachedKeysInOneRevision(t *testing.T) {
	h := newHarness(t, Options{})
	h.grant(7, 30)
	if h.s.Revision() != 1 {
		t.Fatalf("grant added a revision: %d", h.s.Revision())
	}
	h.putLease("b", "1", 7) // 2
	h.putLease("a", "1", 7) // 3
	h.putLease("c", "1", 7) // 4
	h.putLease("c", "2", 0) // 5: c leaves the lease
	h.put("d", "1")         // 6
	if got := leaseKeys(t, h, 7); got != `["a" "b"]` {
		t.Fatalf("attached keys %s", got)
	}
	w := mustWatch(t, h, WatchRequest{Key: []byte{0}, RangeEnd: []byte{0}, StartRevision: 7, PrevKv: true})
	resp := h.mustApply(&Request{LeaseRevoke: &LeaseRevokeRequest{ID: 7}}).LeaseRevoke
	if resp.Header.Revision != 7 {
		t.Fatalf("revoke at revision %d, want 7", resp.Header.Revision)
	}
	expectEvents(t, w,
		delEv("a", 7, &KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 3, ModRevision: 3, Version: 1, Lease: 7}),
		delEv("b", 7, &KeyValue{Key: []byte("b"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1, Lease: 7}))
	for _, k := range []string{"a", "b"} {
		if _, ok := h.get(k); ok {
			t.Fatalf("%s survived its lease", k)
		}
	}
	if _, ok := h.get("c"); !ok {
		t.Fatal("c was deleted with a lease it had left")
	}
	if _, _, err := h.s.LeaseKeys(7); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("revoked lease: %v", err)
	}
	if _, err := h.apply(&Request{LeaseRevoke: &LeaseRevokeRequest{ID: 7}}); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	h.grant(8, 30)
	h.mustApply(&Request{LeaseRevoke: &LeaseRevokeRequest{ID: 8}})
	if h.s.Revision() != 7 {
		t.Fatalf("revoking a lease without keys added a revision: %d", h.s.Revision())
	}
}

func TestLeaseAttachment(t *testing.T) {
	h := newHarness(t, Options{})
	h.grant(1, 10)
	h.grant(2, 10)
	if _, err := h.apply(&Request{LeaseGrant: &LeaseGrantRequest{ID: 1, TTL: 5}}); !errors.Is(err, ErrLeaseExists) {
		t.Fatalf("grant of an existing lease: %v", err)
	}
	h.putLease("k", "v", 1)
	h.mustApply(&Request{Put: &PutRequest{Key: []byte("k"), Value: []byte("w"), IgnoreLease: true}})
	if got := leaseKeys(t, h, 1); got != `["k"]` {
		t.Fatalf("ignore_lease moved the key: %s", got)
	}
	h.putLease("k", "x", 2)
	if a, b := leaseKeys(t, h, 1), leaseKeys(t, h, 2); a != `[]` || b != `["k"]` {
		t.Fatalf("after moving to lease 2: %s %s", a, b)
	}
	h.del("k", "")
	if got := leaseKeys(t, h, 2); got != `[]` {
		t.Fatalf("a deleted key stays attached: %s", got)
	}
	list, err := h.s.Leases()
	if err != nil || !reflect.DeepEqual(list, []Lease{{1, 10}, {2, 10}}) {
		t.Fatalf("leases %v, %v", list, err)
	}
	renew := h.mustApply(&Request{LeaseRenew: &LeaseRenewRequest{ID: 2}}).LeaseRenew
	if renew.TTL != 10 || renew.ID != 2 {
		t.Fatalf("renew %+v", renew)
	}
}

// TestTxnPutWithMissingLeaseWritesNothing: the lease check is part of the
// txn's checks, before any write (etcd's checkRequestPut).
func TestTxnPutWithMissingLeaseWritesNothing(t *testing.T) {
	h := newHarness(t, Options{})
	_, err := h.apply(&Request{Txn: &TxnRequest{Success: []RequestOp{
		{Put: &PutRequest{Key: []byte("a"), Value: []byte("1")}},
		{Put: &PutRequest{Key: []byte("b"), Value: []byte("1"), Lease: 3}},
	}}})
	if !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("txn: %v", err)
	}
	if _, ok := h.get("a"); ok || h.s.Revision() != 1 {
		t.Fatal("a failed txn wrote")
	}
}

// TestLeaseRequestChecks: Validate refuses what is wrong in itself; Apply
// also refuses what is wrong against the state.
func TestLeaseRequestChecks(t *testing.T) {
	h := newHarness(t, Options{})
	for _, tc := range []struct {
		req                   *Request
		validateErr, applyErr error
	}{
		{&Request{LeaseGrant: &LeaseGrantRequest{ID: 1, TTL: MaxLeaseTTL + 1}}, ErrLeaseTTLTooLarge, ErrLeaseTTLTooLarge},
		{&Request{LeaseGrant: &LeaseGrantRequest{ID: 0, TTL: 5}}, ErrLeaseNotFound, ErrLeaseNotFound},
		{&Request{LeaseGrant: &LeaseGrantRequest{ID: 1, TTL: -1}}, ErrInvalidRequest, ErrInvalidRequest},
		{&Request{LeaseGrant: &LeaseGrantRequest{ID: 1, TTL: 5}, LeaseRenew: &LeaseRenewRequest{ID: 1}}, ErrInvalidRequest, ErrInvalidRequest},
		{&Request{LeaseRenew: &LeaseRenewRequest{ID: 4}}, nil, ErrLeaseNotFound},
		{&Request{LeaseRevoke: &LeaseRevokeRequest{ID: 4}}, nil, ErrLeaseNotFound},
	} {
		if err := h.s.Validate(tc.req); !errors.Is(err, tc.validateErr) {
			t.Errorf("validate %s: %v, want %v", describe(tc.req), err, tc.validateErr)
		}
		if _, err := h.apply(tc.req); !errors.Is(err, tc.applyErr) {
			t.Errorf("apply %s: %v, want %v", describe(tc.req), err, tc.applyErr)
		}
	}
}

func TestLeaseRequestsRoundTrip(t *testing.T) {
	for _, req := range []*Request{
		{LeaseGrant: &LeaseGrantRequest{ID: 1 << 62, TTL: 30}},
		{LeaseRevoke: &LeaseRevokeRequest{ID: -5}},
		{LeaseRenew: &LeaseRenewRequest{ID: 9}},
	} {
		data, err := MarshalRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalRequest(data)
		if err != nil || !reflect.DeepEqual(got, req) {
			t.Fatalf("round trip of %+v: %+v, %v", req, got, err)
		}
	}
	var resp Response
	data, _ := msgpack.Marshal(&Response{LeaseGrant: &LeaseGrantResponse{ID: 3, TTL: 4}})
	if err := msgpack.Unmarshal(data, &resp); err != nil || resp.LeaseGrant.TTL != 4 {
		t.Fatalf("response round trip: %+v, %v", resp, err)
	}
}

// TestLeasesSurviveSnapshotAndReopen: leases and attachments travel in
// snapshots and are reloaded on Open.
func TestLeasesSurviveSnapshotAndReopen(t *testing.T) {
	src := newHarness(t, Options{})
	src.grant(5, 20)
	src.putLease("x", "1", 5)
	var snap bytes.Buffer
	if err := src.s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	dst := newHarness(t, Options{})
	dst.grant(6, 20)
	if err := restore(t, dst, snap.Bytes()); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, dst)
	if got := leaseKeys(t, dst, 5); got != `["x"]` {
		t.Fatalf("restored attachments %s", got)
	}
	if _, err := dst.apply(&Request{LeaseRenew: &LeaseRenewRequest{ID: 6}}); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("a lease replaced by the snapshot is still known: %v", err)
	}
	reopened := openHarness(t, dst.db, Options{})
	if ttl := reopened.s.leases[5]; ttl != 20 {
		t.Fatalf("reopened store has lease 5 with TTL %d", ttl)
	}
	reopened.mustApply(&Request{LeaseRevoke: &LeaseRevokeRequest{ID: 5}})
	if _, ok := reopened.get("x"); ok {
		t.Fatal("revoke after reopen left the key")
	}
}
