package kv

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
)

// model is a naive etcd MVCC: every version of every key in a map, for
// checking the Store against. It handles the requests gen makes.
type model struct {
	rev, compact int64
	versions     map[string][]KeyValue // oldest first; a tombstone has CreateRevision 0
	events       []Event
	leases       map[int64]bool
}

func newModel() *model {
	return &model{rev: 1, versions: map[string][]KeyValue{}, leases: map[int64]bool{}}
}

func (m *model) at(key string, rev int64) (KeyValue, bool) {
	vs := m.versions[key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].ModRevision > rev {
			continue
		}
		if vs[i].CreateRevision == 0 {
			return KeyValue{}, false
		}
		return vs[i], true
	}
	return KeyValue{}, false
}

func (m *model) rangeAt(s span, rev int64) []KeyValue {
	var keys []string
	for k := range m.versions {
		if s.contains([]byte(k)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []KeyValue
	for _, k := range keys {
		if kv, ok := m.at(k, rev); ok {
			out = append(out, kv)
		}
	}
	return out
}

// apply returns the response header revision.
func (m *model) apply(req *Request) (int64, error) {
	switch {
	case req.Compaction != nil:
		return m.compactTo(req.Compaction.Revision)
	case req.Range != nil:
		return m.rev, nil
	case req.isLease():
		return m.applyLease(req)
	case req.Put != nil && req.Put.Lease != 0 && !m.leases[req.Put.Lease]:
		return 0, ErrLeaseNotFound
	}
	ops := []RequestOp{*req.op()}
	if req.Txn != nil {
		ops = branch(req.Txn, m.holds(req.Txn.Compare))
	}
	changed := false
	for _, op := range ops {
		changed = m.write(op) || changed
	}
	if changed {
		m.rev++
	}
	return m.rev, nil
}

// applyLease grants, renews, or revokes: a revoke deletes the lease's keys
// (those whose latest version carries it), in key order, at one revision.
func (m *model) applyLease(req *Request) (int64, error) {
	if g := req.LeaseGrant; g != nil {
		if m.leases[g.ID] {
			return 0, ErrLeaseExists
		}
		m.leases[g.ID] = true
		return m.rev, nil
	}
	id := req.LeaseRenew
	if req.LeaseRevoke != nil {
		id = (*LeaseRenewRequest)(req.LeaseRevoke)
	}
	if !m.leases[id.ID] {
		return 0, ErrLeaseNotFound
	}
	if req.LeaseRevoke == nil {
		return m.rev, nil
	}
	delete(m.leases, id.ID)
	changed := false
	for _, kv := range m.rangeAt(makeSpan([]byte{0}, []byte{0}), math.MaxInt64) {
		if kv.Lease == id.ID {
			changed = m.write(RequestOp{DeleteRange: &DeleteRangeRequest{Key: kv.Key}}) || changed
		}
	}
	if changed {
		m.rev++
	}
	return m.rev, nil
}

func (m *model) compactTo(rev int64) (int64, error) {
	switch {
	case rev <= m.compact:
		return 0, ErrCompacted
	case rev > m.rev:
		return 0, ErrFutureRev
	}
	m.compact = rev
	return m.rev, nil
}

func (m *model) holds(compares []Compare) bool {
	for i := range compares {
		c := &compares[i]
		kv, ok := m.at(string(c.Key), m.rev)
		if (!ok && c.Target == CompareValue) || !compareKV(c, &kv) {
			return false
		}
	}
	return true
}

// write applies one put or delete at revision m.rev+1.
func (m *model) write(op RequestOp) bool {
	rev := m.rev + 1
	if p := op.Put; p != nil {
		prev, ok := m.at(string(p.Key), math.MaxInt64)
		kv := KeyValue{Key: p.Key, Value: p.Value, CreateRevision: rev, ModRevision: rev, Version: 1, Lease: p.Lease}
		var prevKv *KeyValue
		if ok {
			kv.CreateRevision, kv.Version, prevKv = prev.CreateRevision, prev.Version+1, &prev
		}
		m.versions[string(p.Key)] = append(m.versions[string(p.Key)], kv)
		m.events = append(m.events, Event{Type: EventPut, Kv: kv, PrevKv: prevKv})
		return true
	}
	if op.DeleteRange == nil {
		return false
	}
	kvs := m.rangeAt(makeSpan(op.DeleteRange.Key, op.DeleteRange.RangeEnd), math.MaxInt64)
	for i := range kvs {
		tomb := KeyValue{Key: kvs[i].Key, ModRevision: rev}
		m.versions[string(tomb.Key)] = append(m.versions[string(tomb.Key)], tomb)
		m.events = append(m.events, Event{Type: EventDelete, Kv: tomb, PrevKv: &kvs[i]})
	}
	return len(kvs) > 0
}

// gen makes random requests over a few keys, some with 0x00 and 0xFF bytes.
type gen struct {
	rng     *rand.Rand
	m       *model
	compact bool // may make compactions
}

var genKeys = []string{"a", "a\x00", "a\x00b", "ab", "b", "b\xff", "c", "c/1", "c/2"}

func (g *gen) key() []byte { return []byte(genKeys[g.rng.IntN(len(genKeys))]) }

func (g *gen) value() []byte {
	return []byte{byte('a' + g.rng.IntN(26)), byte('a' + g.rng.IntN(26))}
}

func (g *gen) request() *Request {
	switch n := g.rng.IntN(100); {
	case n < 46:
		return &Request{Put: &PutRequest{Key: g.key(), Value: g.value(), Lease: int64(g.rng.IntN(3))}}
	case n < 48:
		return &Request{LeaseGrant: &LeaseGrantRequest{ID: int64(1 + g.rng.IntN(2)), TTL: 10}}
	case n < 49:
		return &Request{LeaseRevoke: &LeaseRevokeRequest{ID: int64(1 + g.rng.IntN(2))}}
	case n < 50:
		return &Request{LeaseRenew: &LeaseRenewRequest{ID: int64(1 + g.rng.IntN(2))}}
	case n < 60:
		return &Request{DeleteRange: &DeleteRangeRequest{Key: g.key()}}
	case n < 68:
		return &Request{DeleteRange: &DeleteRangeRequest{Key: g.key(), RangeEnd: g.key()}}
	case n < 92:
		return &Request{Txn: g.txn()}
	case n < 96 && g.compact:
		return &Request{Compaction: &CompactionRequest{Revision: g.m.compact + 1 + g.rng.Int64N(g.m.rev-g.m.compact+1)}}
	}
	return &Request{Range: &RangeRequest{Key: g.key()}}
}

func (g *gen) txn() *TxnRequest {
	c := Compare{Key: g.key(), Target: CompareTarget(g.rng.IntN(4)), Result: CompareResult(g.rng.IntN(4))}
	c.Version, c.ModRevision, c.CreateRevision = int64(g.rng.IntN(3)), g.m.rev-int64(g.rng.IntN(3)), g.m.rev-int64(g.rng.IntN(5))
	c.Value = g.value()
	put, del := g.key(), g.key()
	for string(del) == string(put) {
		del = g.key()
	}
	return &TxnRequest{
		Compare: []Compare{c},
		Success: []RequestOp{{Put: &PutRequest{Key: put, Value: g.value()}}, {DeleteRange: &DeleteRangeRequest{Key: del}}},
		Failure: []RequestOp{{Put: &PutRequest{Key: g.key(), Value: g.value()}}, {Range: &RangeRequest{Key: put}}},
	}
}

// errorsMatch reports whether the model's and the store's errors agree.
func errorsMatch(modelErr, storeErr error) bool {
	if modelErr == nil || storeErr == nil {
		return modelErr == storeErr
	}
	return errors.Is(storeErr, modelErr)
}
