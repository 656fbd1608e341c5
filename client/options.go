package client

import (
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server/natsapi"
)

// OpOption modifies a Get, Put, Delete or Watch (and the ops of a Txn), in
// the manner of etcd's clientv3. An option that does not apply to an
// operation is ignored by it.
type OpOption func(*op)

type op struct {
	rangeEnd        []byte
	prefix, fromKey bool
	revision, limit int64
	serializable    bool
	keysOnly        bool
	countOnly       bool
	prevKV          bool
	sortTarget      kv.SortTarget
	sortOrder       kv.SortOrder
	minMod, maxMod  int64
	minCreate       int64
	maxCreate       int64
	lease           int64
	ignoreValue     bool
	ignoreLease     bool
	filterPut       bool
	filterDelete    bool
	progressNotify  bool
}

func newOp(opts []OpOption) op {
	if len(opts) == 0 {
		return op{} // the usual call: spares the allocation below
	}
	o := new(op) // on the heap: the compiler cannot see what opt does with it
	for _, opt := range opts {
		opt(o)
	}
	return *o
}

// keyRange resolves key and the range options to kv's Key and RangeEnd.
func (o op) keyRange(key string) ([]byte, []byte) {
	k := []byte(key)
	switch {
	case (o.prefix || o.fromKey) && len(k) == 0:
		return []byte{0}, []byte{0} // every key
	case o.prefix:
		return k, natsapi.PrefixEnd(k)
	case o.fromKey:
		return k, []byte{0}
	}
	return k, o.rangeEnd
}

// WithPrefix makes the operation act on every key starting with the key
// ("" then means every key).
func WithPrefix() OpOption { return func(o *op) { o.prefix = true } }

// WithRange makes the operation act on the keys in [key, end).
func WithRange(end string) OpOption { return func(o *op) { o.rangeEnd = []byte(end) } }

// WithFromKey makes the operation act on every key >= the key.
func WithFromKey() OpOption { return func(o *op) { o.fromKey = true } }

// WithRev reads at an older revision (Get), or starts a watch at a
// revision (Watch).
func WithRev(rev int64) OpOption { return func(o *op) { o.revision = rev } }

// WithLimit returns at most n keys (More then says whether there are more).
func WithLimit(n int64) OpOption { return func(o *op) { o.limit = n } }

// WithSerializable reads from whichever node answers, without confirming
// with the leader: faster and possibly stale, but never older than what
// this client has already seen.
func WithSerializable() OpOption { return func(o *op) { o.serializable = true } }

// WithKeysOnly returns keys without values.
func WithKeysOnly() OpOption { return func(o *op) { o.keysOnly = true } }

// WithCountOnly returns only the number of keys.
func WithCountOnly() OpOption { return func(o *op) { o.countOnly = true } }

// WithPrevKV returns the previous key-value of a Put or Delete, or of each
// watch event.
func WithPrevKV() OpOption { return func(o *op) { o.prevKV = true } }

// WithSort sorts a Get's result.
func WithSort(target kv.SortTarget, order kv.SortOrder) OpOption {
	return func(o *op) { o.sortTarget, o.sortOrder = target, order }
}

// WithModRevisionRange keeps the keys whose mod revision is in [min, max]
// (0: unbounded).
func WithModRevisionRange(min, max int64) OpOption {
	return func(o *op) { o.minMod, o.maxMod = min, max }
}

// WithCreateRevisionRange keeps the keys whose create revision is in
// [min, max] (0: unbounded).
func WithCreateRevisionRange(min, max int64) OpOption {
	return func(o *op) { o.minCreate, o.maxCreate = min, max }
}

// WithLease attaches a lease ID to a Put.
func WithLease(id int64) OpOption { return func(o *op) { o.lease = id } }

// WithIgnoreValue keeps the current value on a Put (the key must exist).
func WithIgnoreValue() OpOption { return func(o *op) { o.ignoreValue = true } }

// WithIgnoreLease keeps the current lease on a Put (the key must exist).
func WithIgnoreLease() OpOption { return func(o *op) { o.ignoreLease = true } }

// WithFilterPut leaves put events out of a watch.
func WithFilterPut() OpOption { return func(o *op) { o.filterPut = true } }

// WithFilterDelete leaves delete events out of a watch.
func WithFilterDelete() OpOption { return func(o *op) { o.filterDelete = true } }

// WithProgressNotify passes a watch's progress notifications (responses
// without events) to the caller.
func WithProgressNotify() OpOption { return func(o *op) { o.progressNotify = true } }

func (o op) rangeRequest(key string) *kv.RangeRequest {
	k, end := o.keyRange(key)
	return &kv.RangeRequest{Key: k, RangeEnd: end, Limit: o.limit, Revision: o.revision,
		SortOrder: o.sortOrder, SortTarget: o.sortTarget, Serializable: o.serializable,
		KeysOnly: o.keysOnly, CountOnly: o.countOnly,
		MinModRevision: o.minMod, MaxModRevision: o.maxMod,
		MinCreateRevision: o.minCreate, MaxCreateRevision: o.maxCreate}
}

func (o op) putRequest(key, value string) *kv.PutRequest {
	return &kv.PutRequest{Key: []byte(key), Value: []byte(value), Lease: o.lease, PrevKv: o.prevKV,
		IgnoreValue: o.ignoreValue, IgnoreLease: o.ignoreLease}
}

func (o op) deleteRequest(key string) *kv.DeleteRangeRequest {
	k, end := o.keyRange(key)
	return &kv.DeleteRangeRequest{Key: k, RangeEnd: end, PrevKv: o.prevKV}
}

func (o op) watchRequest(key string) kv.WatchRequest {
	k, end := o.keyRange(key)
	return kv.WatchRequest{Key: k, RangeEnd: end, StartRevision: o.revision, PrevKv: o.prevKV,
		NoPut: o.filterPut, NoDelete: o.filterDelete}
}

// OpGet is a Range op of a Txn.
func OpGet(key string, opts ...OpOption) kv.RequestOp {
	return kv.RequestOp{Range: newOp(opts).rangeRequest(key)}
}

// OpPut is a Put op of a Txn.
func OpPut(key, value string, opts ...OpOption) kv.RequestOp {
	return kv.RequestOp{Put: newOp(opts).putRequest(key, value)}
}

// OpDelete is a DeleteRange op of a Txn.
func OpDelete(key string, opts ...OpOption) kv.RequestOp {
	return kv.RequestOp{DeleteRange: newOp(opts).deleteRequest(key)}
}

// OpTxn is a nested Txn op of a Txn.
func OpTxn(t *kv.TxnRequest) kv.RequestOp { return kv.RequestOp{Txn: t} }

// CompareValue is the condition "the value of key <result> value".
func CompareValue(key string, result kv.CompareResult, value string) kv.Compare {
	return kv.Compare{Key: []byte(key), Target: kv.CompareValue, Result: result, Value: []byte(value)}
}

// CompareVersion is the condition "the version of key <result> version";
// version 0 means the key does not exist.
func CompareVersion(key string, result kv.CompareResult, version int64) kv.Compare {
	return kv.Compare{Key: []byte(key), Target: kv.CompareVersion, Result: result, Version: version}
}

// CompareModRevision is the condition "the mod revision of key <result>
// rev": with CompareEqual, "nobody changed key since I read it at rev".
func CompareModRevision(key string, result kv.CompareResult, rev int64) kv.Compare {
	return kv.Compare{Key: []byte(key), Target: kv.CompareMod, Result: result, ModRevision: rev}
}

// CompareCreateRevision is the condition "the create revision of key
// <result> rev"; 0 means the key does not exist.
func CompareCreateRevision(key string, result kv.CompareResult, rev int64) kv.Compare {
	return kv.Compare{Key: []byte(key), Target: kv.CompareCreate, Result: result, CreateRevision: rev}
}
