package kv

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// stallTimeout only turns a hung watcher into a test failure; no test waits
// on time for synchronisation.
const stallTimeout = 30 * time.Second

// recv returns the watcher's next response, failing if none comes.
func recv(t testing.TB, w *Watcher) (WatchResponse, bool) {
	t.Helper()
	select {
	case resp, ok := <-w.Responses():
		return resp, ok
	case <-time.After(stallTimeout):
		t.Fatalf("watcher stalled: no response in %v", stallTimeout)
		return WatchResponse{}, false
	}
}

// drain reads the watcher's responses until its channel closes and returns
// the last one.
func drain(t testing.TB, w *Watcher) WatchResponse {
	t.Helper()
	var last WatchResponse
	for {
		resp, ok := recv(t, w)
		if !ok {
			return last
		}
		last = resp
	}
}

func openTestDB(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// harness is a Store on an in-memory Pebble, applying one request per batch
// unless told otherwise.
type harness struct {
	t  testing.TB
	db *pebble.DB
	s  *Store
}

func newHarness(t testing.TB, opts Options) *harness {
	t.Helper()
	db := openTestDB(t)
	return openHarness(t, db, opts)
}

func openHarness(t testing.TB, db *pebble.DB, opts Options) *harness {
	t.Helper()
	s, err := Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &harness{t: t, db: db, s: s}
}

// applyBatch applies reqs into one batch, commits it and publishes it.
func (h *harness) applyBatch(reqs ...*Request) ([]*Response, []error) {
	h.t.Helper()
	b := h.db.NewIndexedBatch()
	resps, errs := make([]*Response, len(reqs)), make([]error, len(reqs))
	for i, req := range reqs {
		resps[i], errs[i] = h.s.Apply(b, req)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		h.t.Fatal(err)
	}
	h.s.Committed()
	return resps, errs
}

// applyUncommitted applies req into a new batch and returns the batch.
func (h *harness) applyUncommitted(req *Request) *pebble.Batch {
	h.t.Helper()
	b := h.db.NewIndexedBatch()
	if _, err := h.s.Apply(b, req); err != nil {
		h.t.Fatal(err)
	}
	return b
}

func (h *harness) apply(req *Request) (*Response, error) {
	h.t.Helper()
	resps, errs := h.applyBatch(req)
	return resps[0], errs[0]
}

func (h *harness) mustApply(req *Request) *Response {
	h.t.Helper()
	resp, err := h.apply(req)
	if err != nil {
		h.t.Fatalf("apply %s: %v", describe(req), err)
	}
	return resp
}

func (h *harness) put(key, value string) *PutResponse {
	h.t.Helper()
	return h.mustApply(&Request{Put: &PutRequest{Key: []byte(key), Value: []byte(value)}}).Put
}

func (h *harness) del(key, end string) *DeleteRangeResponse {
	h.t.Helper()
	return h.mustApply(&Request{DeleteRange: &DeleteRangeRequest{Key: []byte(key), RangeEnd: bs(end), PrevKv: true}}).DeleteRange
}

func (h *harness) compact(rev int64) error {
	h.t.Helper()
	_, err := h.apply(&Request{Compaction: &CompactionRequest{Revision: rev}})
	return err
}

func (h *harness) get(key string) (KeyValue, bool) {
	h.t.Helper()
	resp, err := h.s.Range(&RangeRequest{Key: []byte(key)})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return KeyValue{}, false
	}
	return resp.Kvs[0], true
}

// contents lists every Pebble key and value under the store's prefix.
func contents(t testing.TB, db *pebble.DB, prefix byte) [][2]string {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out [][2]string
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, [2]string{string(it.Key()), string(it.Value())})
	}
	return out
}

func bs(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// prefixEnd is clientv3.GetPrefixRangeEnd.
func prefixEnd(prefix string) string {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return string(end[:i+1])
		}
	}
	return "\x00"
}

func kvString(kv *KeyValue) string {
	if kv == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q=%q c%d m%d v%d l%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
}

func kvsString(kvs []KeyValue) string {
	var b bytes.Buffer
	for i := range kvs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(kvString(&kvs[i]))
	}
	return "[" + b.String() + "]"
}

func eventString(ev *Event) string {
	typ := "PUT"
	if ev.Type == EventDelete {
		typ = "DEL"
	}
	return fmt.Sprintf("%s %s prev %s", typ, kvString(&ev.Kv), kvString(ev.PrevKv))
}

func describe(req *Request) string {
	switch {
	case req.Put != nil:
		return fmt.Sprintf("put %q=%q", req.Put.Key, req.Put.Value)
	case req.DeleteRange != nil:
		return fmt.Sprintf("delete [%q, %q)", req.DeleteRange.Key, req.DeleteRange.RangeEnd)
	case req.Txn != nil:
		return fmt.Sprintf("txn %d compares, %d/%d ops", len(req.Txn.Compare), len(req.Txn.Success), len(req.Txn.Failure))
	case req.Compaction != nil:
		return fmt.Sprintf("compact %d", req.Compaction.Revision)
	case req.Range != nil:
		return fmt.Sprintf("range [%q, %q)", req.Range.Key, req.Range.RangeEnd)
	case req.LeaseGrant != nil:
		return fmt.Sprintf("lease grant %d ttl %d", req.LeaseGrant.ID, req.LeaseGrant.TTL)
	case req.LeaseRevoke != nil:
		return fmt.Sprintf("lease revoke %d", req.LeaseRevoke.ID)
	case req.LeaseRenew != nil:
		return fmt.Sprintf("lease renew %d", req.LeaseRenew.ID)
	}
	return "empty request"
}
