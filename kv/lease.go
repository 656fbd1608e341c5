package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble"
)

// Leases, as etcd's lessor keeps them, minus the clock: the state machine
// holds which leases exist, their granted TTL and the keys attached to each;
// when a lease expires is the server's business (the leader decides and
// proposes a LeaseRevoke through the log, so every node applies the same
// revocation at the same point). Apply stays a function of the state and
// the request.
//
//	key                          value            role
//	P 'E' id(8, BE)              uvarint(ttl)     every lease and its granted TTL in seconds
//	P 'A' id(8, BE) key          (empty)          the keys attached to each lease
//
// Lease IDs are nonzero (0 is "no lease"); the server picks positive ones,
// as etcd does. The applier also keeps the leases in memory (ID -> TTL),
// rebuilt with the key index on Open, Restore and Discard.

// LeaseGrantRequest creates lease ID with a TTL in seconds. The server
// chooses the ID when the client gave none and applies etcd's TTL bounds
// before proposing; Apply stores what it is given.
type LeaseGrantRequest struct {
	ID  int64 `msgpack:"id"`
	TTL int64 `msgpack:"ttl"`
}

// LeaseGrantResponse answers a LeaseGrantRequest.
type LeaseGrantResponse struct {
	Header ResponseHeader `msgpack:"header"`
	ID     int64          `msgpack:"id"`
	TTL    int64          `msgpack:"ttl"`
}

// LeaseRevokeRequest deletes a lease and every key attached to it: the
// deletes share one revision (none if no key is attached), in key order.
type LeaseRevokeRequest struct {
	ID int64 `msgpack:"id"`
}

// LeaseRevokeResponse answers a LeaseRevokeRequest.
type LeaseRevokeResponse struct {
	Header ResponseHeader `msgpack:"header"`
}

// LeaseRenewRequest is a keep-alive that went through the log: it changes
// nothing in the state machine (it fails with ErrLeaseNotFound if the lease
// is gone), and tells every node's lease clock, at the same log position,
// that the lease starts a new TTL.
type LeaseRenewRequest struct {
	ID int64 `msgpack:"id"`
}

// LeaseRenewResponse answers a LeaseRenewRequest with the granted TTL.
type LeaseRenewResponse struct {
	Header ResponseHeader `msgpack:"header"`
	ID     int64          `msgpack:"id"`
	TTL    int64          `msgpack:"ttl"`
}

// Lease is a lease as the state machine holds it.
type Lease struct {
	ID  int64
	TTL int64 // granted TTL, seconds
}

// MaxLeaseTTL is etcd's bound on a lease's TTL (lease.MaxLeaseTTL), in
// seconds; a larger grant fails with ErrLeaseTTLTooLarge.
const MaxLeaseTTL = 9000000000

const (
	spaceLease    = 'E' // prefix 'E' id         -> uvarint(ttl)
	spaceAttached = 'A' // prefix 'A' id key     -> empty
)

func (k keys) lease(dst []byte, id int64) []byte {
	return binary.BigEndian.AppendUint64(k.space(dst, spaceLease), uint64(id))
}

func (k keys) attached(dst []byte, id int64, key []byte) []byte {
	dst = binary.BigEndian.AppendUint64(k.space(dst, spaceAttached), uint64(id))
	return append(dst, key...)
}

// leaseIndex is the applier's in-memory set of leases: ID -> granted TTL.
type leaseIndex map[int64]int64

func loadLeases(r pebble.Reader, k keys) (leaseIndex, error) {
	list, err := readLeases(r, k)
	if err != nil {
		return nil, err
	}
	idx := make(leaseIndex, len(list))
	for _, l := range list {
		idx[l.ID] = l.TTL
	}
	return idx, nil
}

// readLeases lists the leases held by r, in the order of their IDs as
// unsigned numbers.
func readLeases(r pebble.Reader, k keys) ([]Lease, error) {
	it, err := r.NewIter(&pebble.IterOptions{
		LowerBound: k.space(nil, spaceLease),
		UpperBound: k.spaceEnd(nil, spaceLease),
	})
	if err != nil {
		return nil, err
	}
	var list []Lease
	for ok := it.First(); ok; ok = it.Next() {
		l, derr := decodeLease(it.Key(), it.Value())
		if derr != nil {
			return nil, closeIterAfter(it, derr)
		}
		list = append(list, l)
	}
	return list, closeIter(it)
}

func decodeLease(key, val []byte) (Lease, error) {
	ttl, n := binary.Uvarint(val)
	if len(key) != 10 || n <= 0 || n != len(val) {
		return Lease{}, fmt.Errorf("%w: lease %x", errCorrupt, key)
	}
	return Lease{ID: int64(binary.BigEndian.Uint64(key[2:])), TTL: int64(ttl)}, nil
}

// readAttached lists the keys attached to lease id in r, in key order.
func readAttached(r pebble.Reader, k keys, id int64) ([][]byte, error) {
	lower := k.attached(nil, id, nil)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: keyPrefixEnd(lower)})
	if err != nil {
		return nil, err
	}
	var list [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		list = append(list, slices.Clone(it.Key()[len(lower):]))
	}
	return list, closeIter(it)
}

// Leases lists the leases of the committed state.
func (s *Store) Leases() ([]Lease, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	return readLeases(snap, s.keys)
}

// LeaseKeys returns lease id's TTL and attached keys (in key order) in the
// committed state, or ErrLeaseNotFound.
func (s *Store) LeaseKeys(id int64) (Lease, [][]byte, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	val, closer, err := snap.Get(s.keys.lease(nil, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return Lease{}, nil, ErrLeaseNotFound
	}
	if err != nil {
		return Lease{}, nil, err
	}
	l, err := decodeLease(s.keys.lease(nil, id), val)
	closer.Close()
	if err != nil {
		return Lease{}, nil, err
	}
	list, err := readAttached(snap, s.keys, id)
	return l, list, err
}

// checkLease is the state-dependent check of a Put's lease: etcd refuses a
// lease that does not exist.
func (t *writeTxn) checkLease(id int64) error {
	if id == 0 {
		return nil
	}
	if _, ok := t.s.leases[id]; !ok {
		return ErrLeaseNotFound
	}
	return nil
}

func (t *writeTxn) leaseGrant(r *LeaseGrantRequest) (*LeaseGrantResponse, error) {
	s := t.s
	if _, ok := s.leases[r.ID]; ok {
		return nil, ErrLeaseExists
	}
	s.keyBuf = s.keys.lease(s.keyBuf[:0], r.ID)
	must(t.b.Set(s.keyBuf, binary.AppendUvarint(s.recBuf[:0], uint64(r.TTL)), nil))
	s.leases[r.ID] = r.TTL
	return &LeaseGrantResponse{Header: ResponseHeader{Revision: t.rev()}, ID: r.ID, TTL: r.TTL}, nil
}

// leaseRevoke deletes the attached keys in key order (etcd sorts them too),
// all at one revision, then the lease.
func (t *writeTxn) leaseRevoke(r *LeaseRevokeRequest) (*LeaseRevokeResponse, error) {
	s := t.s
	if _, ok := s.leases[r.ID]; !ok {
		return nil, ErrLeaseNotFound
	}
	attached, err := readAttached(t.b, s.keys, r.ID)
	must(err)
	for _, key := range attached {
		must(t.visitKey(key, func(kv *KeyValue) { t.writeDelete(kv) }))
	}
	s.keyBuf = s.keys.lease(s.keyBuf[:0], r.ID)
	must(t.b.Delete(s.keyBuf, nil))
	delete(s.leases, r.ID)
	return &LeaseRevokeResponse{Header: ResponseHeader{Revision: t.rev()}}, nil
}

// visitKey calls fn with key's latest version, which must exist: a key is
// attached to a lease only while it is alive.
func (t *writeTxn) visitKey(key []byte, fn func(kv *KeyValue)) error {
	v := t.view()
	kv, found, err := v.latest(nil, key)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: key %q attached to a lease but not alive", errCorrupt, key)
	}
	fn(&kv)
	return nil
}

func (t *writeTxn) leaseRenew(r *LeaseRenewRequest) (*LeaseRenewResponse, error) {
	ttl, ok := t.s.leases[r.ID]
	if !ok {
		return nil, ErrLeaseNotFound
	}
	return &LeaseRenewResponse{Header: ResponseHeader{Revision: t.rev()}, ID: r.ID, TTL: ttl}, nil
}

// attach moves key from lease old to lease new in the 'A' space (either
// may be 0, no lease).
func (t *writeTxn) attach(key []byte, old, new int64) {
	if old == new {
		return
	}
	s := t.s
	if old != 0 {
		s.keyBuf = s.keys.attached(s.keyBuf[:0], old, key)
		must(t.b.Delete(s.keyBuf, nil))
	}
	if new != 0 {
		s.keyBuf = s.keys.attached(s.keyBuf[:0], new, key)
		must(t.b.Set(s.keyBuf, nil, nil))
	}
}

func checkLeaseRequest(req *Request) error {
	var id int64
	switch {
	case req.LeaseGrant != nil:
		id = req.LeaseGrant.ID
		if req.LeaseGrant.TTL > MaxLeaseTTL {
			return ErrLeaseTTLTooLarge
		}
		if req.LeaseGrant.TTL < 0 {
			return invalidf("negative lease TTL %d", req.LeaseGrant.TTL)
		}
	case req.LeaseRevoke != nil:
		id = req.LeaseRevoke.ID
	default:
		id = req.LeaseRenew.ID
	}
	if id == 0 {
		return ErrLeaseNotFound // etcd: lease 0 is "no lease"
	}
	return nil
}

// keyPrefixEnd is the smallest key above every key that starts with p.
func keyPrefixEnd(p []byte) []byte {
	end := slices.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xFF: no bound
}
