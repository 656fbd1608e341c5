package kv

// The request and response types mirror etcd's etcdserverpb and mvccpb
// messages field for field (enum values included), minus the cluster fields
// of the header, which the server adds. A oneof becomes a set of pointers of
// which exactly one is set. Byte slices handed to Apply are retained (they
// end up in events), so the caller must not modify them afterwards.

// EventType is mvccpb.Event_EventType.
type EventType int32

// Event types.
const (
	EventPut    EventType = 0
	EventDelete EventType = 1
)

// KeyValue is mvccpb.KeyValue: a key at one of its versions.
// Encoded as a msgpack array (see codec.go).
type KeyValue struct {
	Key []byte
	// CreateRevision is the revision of the last creation of the key.
	CreateRevision int64
	// ModRevision is the revision of the last modification of the key.
	ModRevision int64
	// Version counts the puts since the last creation (1 after a create);
	// a delete resets it to 0.
	Version int64
	Value   []byte
	// Lease is the lease attached to the key, 0 for none.
	Lease int64
}

// Event is mvccpb.Event. A delete's Kv has only Key and ModRevision (the
// revision of the delete). PrevKv is the key before the change, nil for a
// creation; watchers get it only when they ask for it.
type Event struct {
	Type   EventType `msgpack:"type"`
	Kv     KeyValue  `msgpack:"kv"`
	PrevKv *KeyValue `msgpack:"prev_kv,omitempty"`

	// prevUnknown: the put had a previous version but Apply did not read it
	// (nobody needed it then). Only set on the Store's own live events.
	prevUnknown bool
}

// ResponseHeader carries the store revision a response was generated at.
type ResponseHeader struct {
	Revision int64 `msgpack:"revision"`
}

// SortOrder is RangeRequest_SortOrder.
type SortOrder int32

// Sort orders.
const (
	SortNone    SortOrder = 0
	SortAscend  SortOrder = 1
	SortDescend SortOrder = 2
)

// SortTarget is RangeRequest_SortTarget.
type SortTarget int32

// Sort targets.
const (
	SortByKey     SortTarget = 0
	SortByVersion SortTarget = 1
	SortByCreate  SortTarget = 2
	SortByMod     SortTarget = 3
	SortByValue   SortTarget = 4
)

// RangeRequest reads the keys in [Key, RangeEnd). An empty RangeEnd means
// Key alone, RangeEnd "\x00" means every key >= Key. Revision <= 0 reads
// the current revision.
type RangeRequest struct {
	Key               []byte     `msgpack:"key,omitempty"`
	RangeEnd          []byte     `msgpack:"range_end,omitempty"`
	Limit             int64      `msgpack:"limit,omitempty"`
	Revision          int64      `msgpack:"revision,omitempty"`
	SortOrder         SortOrder  `msgpack:"sort_order,omitempty"`
	SortTarget        SortTarget `msgpack:"sort_target,omitempty"`
	Serializable      bool       `msgpack:"serializable,omitempty"`
	KeysOnly          bool       `msgpack:"keys_only,omitempty"`
	CountOnly         bool       `msgpack:"count_only,omitempty"`
	MinModRevision    int64      `msgpack:"min_mod_revision,omitempty"`
	MaxModRevision    int64      `msgpack:"max_mod_revision,omitempty"`
	MinCreateRevision int64      `msgpack:"min_create_revision,omitempty"`
	MaxCreateRevision int64      `msgpack:"max_create_revision,omitempty"`
}

// RangeResponse lists the keys found, sorted by key unless asked otherwise.
// Count is the number of keys in the range (before limit and the min/max
// filters, as in etcd); More says that Limit cut the list.
type RangeResponse struct {
	Header ResponseHeader `msgpack:"header"`
	Kvs    []KeyValue     `msgpack:"kvs,omitempty"`
	More   bool           `msgpack:"more,omitempty"`
	Count  int64          `msgpack:"count"`
}

// PutRequest sets a key. Encoded as a msgpack array (see codec.go).
type PutRequest struct {
	Key   []byte
	Value []byte
	Lease int64
	// PrevKv asks for the key-value before the put.
	PrevKv bool
	// IgnoreValue keeps the current value (the key must exist).
	IgnoreValue bool
	// IgnoreLease keeps the current lease (the key must exist).
	IgnoreLease bool
}

// PutResponse answers a PutRequest.
type PutResponse struct {
	Header ResponseHeader `msgpack:"header"`
	PrevKv *KeyValue      `msgpack:"prev_kv,omitempty"`
}

// DeleteRangeRequest deletes the keys of a range (RangeEnd as in Range).
type DeleteRangeRequest struct {
	Key      []byte `msgpack:"key,omitempty"`
	RangeEnd []byte `msgpack:"range_end,omitempty"`
	PrevKv   bool   `msgpack:"prev_kv,omitempty"`
}

// DeleteRangeResponse answers a DeleteRangeRequest.
type DeleteRangeResponse struct {
	Header  ResponseHeader `msgpack:"header"`
	Deleted int64          `msgpack:"deleted"`
	PrevKvs []KeyValue     `msgpack:"prev_kvs,omitempty"`
}

// CompareResult is Compare_CompareResult.
type CompareResult int32

// Compare results.
const (
	CompareEqual    CompareResult = 0
	CompareGreater  CompareResult = 1
	CompareLess     CompareResult = 2
	CompareNotEqual CompareResult = 3
)

// CompareTarget is Compare_CompareTarget.
type CompareTarget int32

// Compare targets.
const (
	CompareVersion CompareTarget = 0
	CompareCreate  CompareTarget = 1
	CompareMod     CompareTarget = 2
	CompareValue   CompareTarget = 3
	CompareLease   CompareTarget = 4
)

// Compare is one condition of a Txn: "Target of Key Result operand", where
// the operand is the field named by Target (etcd's target_union). With a
// RangeEnd the condition must hold for every key of the range; a range with
// no key compares a zero KeyValue, except that a Value compare then fails.
type Compare struct {
	Result         CompareResult `msgpack:"result,omitempty"`
	Target         CompareTarget `msgpack:"target,omitempty"`
	Key            []byte        `msgpack:"key,omitempty"`
	RangeEnd       []byte        `msgpack:"range_end,omitempty"`
	Version        int64         `msgpack:"version,omitempty"`
	CreateRevision int64         `msgpack:"create_revision,omitempty"`
	ModRevision    int64         `msgpack:"mod_revision,omitempty"`
	Value          []byte        `msgpack:"value,omitempty"`
	Lease          int64         `msgpack:"lease,omitempty"`
}

// RequestOp is one operation of a Txn branch: exactly one field is set.
type RequestOp struct {
	Range       *RangeRequest       `msgpack:"range,omitempty"`
	Put         *PutRequest         `msgpack:"put,omitempty"`
	DeleteRange *DeleteRangeRequest `msgpack:"delete_range,omitempty"`
	Txn         *TxnRequest         `msgpack:"txn,omitempty"`
}

// ResponseOp answers a RequestOp: the field matching the request is set.
type ResponseOp struct {
	Range       *RangeResponse       `msgpack:"range,omitempty"`
	Put         *PutResponse         `msgpack:"put,omitempty"`
	DeleteRange *DeleteRangeResponse `msgpack:"delete_range,omitempty"`
	Txn         *TxnResponse         `msgpack:"txn,omitempty"`
}

// TxnRequest runs Success when every Compare holds, Failure otherwise. All
// compares, nested ones included, see the state before the Txn; the ops run
// in order and each sees the writes of the ops before it.
type TxnRequest struct {
	Compare []Compare   `msgpack:"compare,omitempty"`
	Success []RequestOp `msgpack:"success,omitempty"`
	Failure []RequestOp `msgpack:"failure,omitempty"`
}

// TxnResponse answers a TxnRequest: one ResponseOp per op of the branch run.
type TxnResponse struct {
	Header    ResponseHeader `msgpack:"header"`
	Succeeded bool           `msgpack:"succeeded,omitempty"`
	Responses []ResponseOp   `msgpack:"responses,omitempty"`
}

// CompactionRequest discards the history below Revision. Physical is
// accepted for etcd compatibility: compaction is always done in the batch.
type CompactionRequest struct {
	Revision int64 `msgpack:"revision"`
	Physical bool  `msgpack:"physical,omitempty"`
}

// CompactionResponse answers a CompactionRequest.
type CompactionResponse struct {
	Header ResponseHeader `msgpack:"header"`
}

// Request is what Apply applies: exactly one field is set. It is the Raft log
// payload (see codec.go for its encoding).
type Request struct {
	Range       *RangeRequest
	Put         *PutRequest
	DeleteRange *DeleteRangeRequest
	Txn         *TxnRequest
	Compaction  *CompactionRequest
	LeaseGrant  *LeaseGrantRequest
	LeaseRevoke *LeaseRevokeRequest
	LeaseRenew  *LeaseRenewRequest
}

// Response answers a Request: the field matching the request is set.
type Response struct {
	Range       *RangeResponse       `msgpack:"range,omitempty"`
	Put         *PutResponse         `msgpack:"put,omitempty"`
	DeleteRange *DeleteRangeResponse `msgpack:"delete_range,omitempty"`
	Txn         *TxnResponse         `msgpack:"txn,omitempty"`
	Compaction  *CompactionResponse  `msgpack:"compaction,omitempty"`
	LeaseGrant  *LeaseGrantResponse  `msgpack:"lease_grant,omitempty"`
	LeaseRevoke *LeaseRevokeResponse `msgpack:"lease_revoke,omitempty"`
	LeaseRenew  *LeaseRenewResponse  `msgpack:"lease_renew,omitempty"`
}

// Header returns the header of the response held.
func (r *Response) Header() ResponseHeader {
	switch {
	case r.Range != nil:
		return r.Range.Header
	case r.Put != nil:
		return r.Put.Header
	case r.DeleteRange != nil:
		return r.DeleteRange.Header
	case r.Txn != nil:
		return r.Txn.Header
	case r.Compaction != nil:
		return r.Compaction.Header
	case r.LeaseGrant != nil:
		return r.LeaseGrant.Header
	case r.LeaseRevoke != nil:
		return r.LeaseRevoke.Header
	case r.LeaseRenew != nil:
		return r.LeaseRenew.Header
	}
	return ResponseHeader{}
}
