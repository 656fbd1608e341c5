package kv

import (
	"fmt"

	"github.com/cockroachdb/pebble"
)

// writeTxn applies one request: every change it makes shares the revision
// beginRev+1, with sub-revisions 0, 1, ... in the order of the changes.
type writeTxn struct {
	s        *Store
	b        *pebble.Batch
	beginRev int64
	changes  int64 // changes written so far; the next one's sub-revision
}

// rev is the revision the request has reached: beginRev until it changes
// something, beginRev+1 after.
func (t *writeTxn) rev() int64 {
	if t.changes > 0 {
		return t.beginRev + 1
	}
	return t.beginRev
}

// view reads through the batch, so it sees the writes made so far.
func (t *writeTxn) view() view {
	return view{r: t.b, keys: t.s.keys, rev: t.rev(), compact: t.s.compactRev}
}

func (t *writeTxn) apply(req *Request) (*Response, error) {
	var resp Response
	var err error
	switch {
	case req.Range != nil:
		v := t.view()
		resp.Range, err = v.rangeKeys(req.Range)
	case req.Put != nil:
		if err = t.checkPut(req.Put); err == nil {
			resp.Put = t.put(req.Put)
		}
	case req.DeleteRange != nil:
		resp.DeleteRange = t.deleteRange(req.DeleteRange)
	case req.Txn != nil:
		resp.Txn, err = t.txn(req.Txn)
	case req.LeaseGrant != nil:
		resp.LeaseGrant, err = t.leaseGrant(req.LeaseGrant)
	case req.LeaseRevoke != nil:
		resp.LeaseRevoke, err = t.leaseRevoke(req.LeaseRevoke)
	case req.LeaseRenew != nil:
		resp.LeaseRenew, err = t.leaseRenew(req.LeaseRenew)
	default:
		resp.Compaction, err = t.compact(req.Compaction)
	}
	if err != nil {
		return nil, err
	}
	return &resp, nil
}

// checkPut is the state-dependent check of a Put, done before any write:
// IgnoreValue and IgnoreLease need an existing key, a lease must exist.
func (t *writeTxn) checkPut(p *PutRequest) error {
	if (p.IgnoreValue || p.IgnoreLease) && t.s.index[string(p.Key)] == nil {
		return ErrKeyNotFound
	}
	return t.checkLease(p.Lease)
}

// put writes a new version of the key. The previous value is read from
// Pebble only when something needs it; otherwise the event is marked so
// that a watcher asking for prev_kv reads it from the history instead.
// REQUIRES: checkPut passed.
func (t *writeTxn) put(p *PutRequest) *PutResponse {
	s := t.s
	rev := t.beginRev + 1
	kv := KeyValue{Key: p.Key, Value: p.Value, CreateRevision: rev, ModRevision: rev, Version: 1, Lease: p.Lease}
	var prev *KeyValue
	prevUnknown := false
	if meta := s.index[string(p.Key)]; meta != nil {
		kv.CreateRevision, kv.Version = meta.createRevision, meta.version+1
		if p.IgnoreLease {
			kv.Lease = meta.lease
		}
		if prevUnknown = !p.PrevKv && !p.IgnoreValue && !s.hub.wantsPrevKv(); !prevUnknown {
			prev = t.latest(p.Key)
		}
		if p.IgnoreValue {
			kv.Value = prev.Value
		}
	}
	t.writePut(&kv, prev, prevUnknown)
	resp := &PutResponse{Header: ResponseHeader{Revision: rev}}
	if p.PrevKv {
		resp.PrevKv = prev
	}
	return resp
}

// latest reads the latest version of a key the index holds.
func (t *writeTxn) latest(key []byte) *KeyValue {
	v := t.view()
	kv, found, err := v.latest(t.s.keyBuf, key)
	must(err)
	if !found {
		panic(fmt.Sprintf("kv: key %q indexed but not stored", key))
	}
	return &kv
}

func (t *writeTxn) deleteRange(d *DeleteRangeRequest) *DeleteRangeResponse {
	v := t.view()
	var kvs []KeyValue
	must(v.visit(makeSpan(d.Key, d.RangeEnd), v.rev, func(key, rec []byte) error {
		kvs = append(kvs, KeyValue{})
		return decodeRecord(&kvs[len(kvs)-1], key, rec, true)
	}))
	for i := range kvs {
		t.writeDelete(&kvs[i])
	}
	resp := &DeleteRangeResponse{Header: ResponseHeader{Revision: t.rev()}, Deleted: int64(len(kvs))}
	if d.PrevKv {
		resp.PrevKvs = kvs
	}
	return resp
}

// writePut writes kv as the latest version, into the history and into the
// revision log: three Pebble writes.
func (t *writeTxn) writePut(kv, prev *KeyValue, prevUnknown bool) {
	s := t.s
	oldLease := int64(0)
	if meta := s.index[string(kv.Key)]; meta != nil {
		oldLease = meta.lease
	}
	t.attach(kv.Key, oldLease, kv.Lease)
	s.recBuf = appendRecord(s.recBuf[:0], kv)
	s.keyBuf = s.keys.latest(s.keyBuf[:0], kv.Key)
	must(t.b.Set(s.keyBuf, s.recBuf, nil))
	s.keyBuf = s.keys.history(s.keyBuf[:0], kv.Key, kv.ModRevision)
	must(t.b.Set(s.keyBuf, s.recBuf, nil))
	t.writeRevision(EventPut, kv.Key)
	s.index.set(kv)
	s.pending = append(s.pending, Event{Type: EventPut, Kv: *kv, PrevKv: prev, prevUnknown: prevUnknown})
}

// writeDelete removes the latest version of prev.Key and records a
// tombstone in the history and the revision log.
func (t *writeTxn) writeDelete(prev *KeyValue) {
	s := t.s
	rev := t.beginRev + 1
	t.attach(prev.Key, prev.Lease, 0)
	s.keyBuf = s.keys.latest(s.keyBuf[:0], prev.Key)
	must(t.b.Delete(s.keyBuf, nil))
	s.keyBuf = s.keys.history(s.keyBuf[:0], prev.Key, rev)
	must(t.b.Set(s.keyBuf, tombstoneRecord, nil))
	t.writeRevision(EventDelete, prev.Key)
	delete(s.index, string(prev.Key))
	kv := KeyValue{Key: prev.Key, ModRevision: rev}
	s.pending = append(s.pending, Event{Type: EventDelete, Kv: kv, PrevKv: prev})
}

func (t *writeTxn) writeRevision(typ EventType, key []byte) {
	s := t.s
	s.keyBuf = s.keys.revision(s.keyBuf[:0], t.beginRev+1, t.changes)
	s.recBuf = appendRevRecord(s.recBuf[:0], typ, key)
	must(t.b.Set(s.keyBuf, s.recBuf, nil))
	t.changes++
}
