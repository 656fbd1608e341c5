package natsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/natsraft/natsraft/kv"
)

// The JSON request bodies. Keys, range ends and values are strings; a byte
// string that is not text goes base64-encoded (standard alphabet, padded;
// unpadded and URL-safe are accepted too) in the sibling field with the
// suffix _b64 ("key_b64", "value_b64",
// "range_end_b64"); giving both forms of a field is an error. Unknown fields
// are an error, so a typo does not silently change a request.

// RangeRequestJSON is the body of a range request.
//
//	{"key":"a"}                         one key
//	{"key":"a","range_end":"c"}         keys in [a, c)
//	{"key":"app/","prefix":true}        keys starting with app/
//	{"prefix":true}                     every key
//	{"key":"a","from_key":true}         keys >= a
//
// sort_order is none, ascend or descend; sort_target is key, version,
// create, mod or value.
type RangeRequestJSON struct {
	Key               string `json:"key,omitempty"`
	KeyB64            string `json:"key_b64,omitempty"`
	RangeEnd          string `json:"range_end,omitempty"`
	RangeEndB64       string `json:"range_end_b64,omitempty"`
	Prefix            bool   `json:"prefix,omitempty"`
	FromKey           bool   `json:"from_key,omitempty"`
	Limit             int64  `json:"limit,omitempty"`
	Revision          int64  `json:"revision,omitempty"`
	Serializable      bool   `json:"serializable,omitempty"`
	KeysOnly          bool   `json:"keys_only,omitempty"`
	CountOnly         bool   `json:"count_only,omitempty"`
	SortOrder         string `json:"sort_order,omitempty"`
	SortTarget        string `json:"sort_target,omitempty"`
	MinModRevision    int64  `json:"min_mod_revision,omitempty"`
	MaxModRevision    int64  `json:"max_mod_revision,omitempty"`
	MinCreateRevision int64  `json:"min_create_revision,omitempty"`
	MaxCreateRevision int64  `json:"max_create_revision,omitempty"`
}

// ToKV converts the request (Serializable included).
func (j *RangeRequestJSON) ToKV() (*kv.RangeRequest, error) {
	key, end, err := keyRange(j.Key, j.KeyB64, j.RangeEnd, j.RangeEndB64, j.Prefix, j.FromKey)
	if err != nil {
		return nil, err
	}
	r := &kv.RangeRequest{Key: key, RangeEnd: end, Limit: j.Limit, Revision: j.Revision,
		Serializable: j.Serializable, KeysOnly: j.KeysOnly, CountOnly: j.CountOnly,
		MinModRevision: j.MinModRevision, MaxModRevision: j.MaxModRevision,
		MinCreateRevision: j.MinCreateRevision, MaxCreateRevision: j.MaxCreateRevision}
	if r.SortOrder, err = parseEnum(j.SortOrder, "sort_order", sortOrders); err != nil {
		return nil, err
	}
	if r.SortTarget, err = parseEnum(j.SortTarget, "sort_target", sortTargets); err != nil {
		return nil, err
	}
	return r, nil
}

// PutRequestJSON is the body of a put request: {"key":"a","value":"b"}.
type PutRequestJSON struct {
	Key         string `json:"key,omitempty"`
	KeyB64      string `json:"key_b64,omitempty"`
	Value       string `json:"value,omitempty"`
	ValueB64    string `json:"value_b64,omitempty"`
	Lease       int64  `json:"lease,omitempty"`
	PrevKv      bool   `json:"prev_kv,omitempty"`
	IgnoreValue bool   `json:"ignore_value,omitempty"`
	IgnoreLease bool   `json:"ignore_lease,omitempty"`
}

// ToKV converts the request.
func (j *PutRequestJSON) ToKV() (*kv.PutRequest, error) {
	key, err := jsonBytes("key", j.Key, j.KeyB64)
	if err != nil {
		return nil, err
	}
	value, err := jsonBytes("value", j.Value, j.ValueB64)
	if err != nil {
		return nil, err
	}
	return &kv.PutRequest{Key: key, Value: value, Lease: j.Lease, PrevKv: j.PrevKv,
		IgnoreValue: j.IgnoreValue, IgnoreLease: j.IgnoreLease}, nil
}

// DeleteRequestJSON is the body of a delete request; the range is given as
// in RangeRequestJSON.
type DeleteRequestJSON struct {
	Key         string `json:"key,omitempty"`
	KeyB64      string `json:"key_b64,omitempty"`
	RangeEnd    string `json:"range_end,omitempty"`
	RangeEndB64 string `json:"range_end_b64,omitempty"`
	Prefix      bool   `json:"prefix,omitempty"`
	FromKey     bool   `json:"from_key,omitempty"`
	PrevKv      bool   `json:"prev_kv,omitempty"`
}

// ToKV converts the request.
func (j *DeleteRequestJSON) ToKV() (*kv.DeleteRangeRequest, error) {
	key, end, err := keyRange(j.Key, j.KeyB64, j.RangeEnd, j.RangeEndB64, j.Prefix, j.FromKey)
	if err != nil {
		return nil, err
	}
	return &kv.DeleteRangeRequest{Key: key, RangeEnd: end, PrevKv: j.PrevKv}, nil
}

// CompactRequestJSON is the body of a compact request: {"revision":42}.
type CompactRequestJSON struct {
	Revision int64 `json:"revision"`
	Physical bool  `json:"physical,omitempty"`
}

// ToKV converts the request.
func (j *CompactRequestJSON) ToKV() (*kv.CompactionRequest, error) {
	return &kv.CompactionRequest{Revision: j.Revision, Physical: j.Physical}, nil
}

// TxnRequestJSON is the body of a txn request:
//
//	{"compare":[{"key":"k","target":"mod","result":"=","mod_revision":7}],
//	 "success":[{"put":{"key":"k","value":"v2"}}],
//	 "failure":[{"range":{"key":"k"}}]}
//
// A compare's target is value, version, create, mod or lease (it may be left
// out when exactly one operand field is given); its result is =, !=, < or >
// (default =). An op holds exactly one of range, put, delete or txn.
type TxnRequestJSON struct {
	Compare []CompareJSON   `json:"compare,omitempty"`
	Success []RequestOpJSON `json:"success,omitempty"`
	Failure []RequestOpJSON `json:"failure,omitempty"`
}

// CompareJSON is one condition of a transaction.
type CompareJSON struct {
	Key            string  `json:"key,omitempty"`
	KeyB64         string  `json:"key_b64,omitempty"`
	RangeEnd       string  `json:"range_end,omitempty"`
	RangeEndB64    string  `json:"range_end_b64,omitempty"`
	Prefix         bool    `json:"prefix,omitempty"`
	Target         string  `json:"target,omitempty"`
	Result         string  `json:"result,omitempty"`
	Value          *string `json:"value,omitempty"`
	ValueB64       *string `json:"value_b64,omitempty"`
	Version        *int64  `json:"version,omitempty"`
	CreateRevision *int64  `json:"create_revision,omitempty"`
	ModRevision    *int64  `json:"mod_revision,omitempty"`
	Lease          *int64  `json:"lease,omitempty"`
}

// RequestOpJSON is one operation of a transaction branch.
type RequestOpJSON struct {
	Range       *RangeRequestJSON  `json:"range,omitempty"`
	Put         *PutRequestJSON    `json:"put,omitempty"`
	Delete      *DeleteRequestJSON `json:"delete,omitempty"`
	DeleteRange *DeleteRequestJSON `json:"delete_range,omitempty"` // alias of delete
	Txn         *TxnRequestJSON    `json:"txn,omitempty"`
}

// ParseTxnJSON decodes a JSON transaction strictly (unknown fields are an
// error) and converts it.
func ParseTxnJSON(data []byte) (*kv.TxnRequest, error) {
	var j TxnRequestJSON
	if err := DecodeJSON(data, &j); err != nil {
		return nil, err
	}
	return j.ToKV()
}

// ToKV converts the transaction.
func (j *TxnRequestJSON) ToKV() (*kv.TxnRequest, error) {
	t := &kv.TxnRequest{}
	for i := range j.Compare {
		c, err := j.Compare[i].toKV()
		if err != nil {
			return nil, fmt.Errorf("compare %d: %w", i, err)
		}
		t.Compare = append(t.Compare, c)
	}
	var err error
	if t.Success, err = opsToKV("success", j.Success); err != nil {
		return nil, err
	}
	if t.Failure, err = opsToKV("failure", j.Failure); err != nil {
		return nil, err
	}
	return t, nil
}

func opsToKV(branch string, ops []RequestOpJSON) ([]kv.RequestOp, error) {
	var out []kv.RequestOp
	for i := range ops {
		op, err := ops[i].toKV()
		if err != nil {
			return nil, fmt.Errorf("%s op %d: %w", branch, i, err)
		}
		out = append(out, op)
	}
	return out, nil
}

func (j *RequestOpJSON) toKV() (op kv.RequestOp, err error) {
	del := j.Delete
	n := countTrue(j.Range != nil, j.Put != nil, j.Delete != nil, j.DeleteRange != nil, j.Txn != nil)
	if n != 1 {
		return op, invalidf("an op holds exactly one of range, put, delete or txn")
	}
	if del == nil {
		del = j.DeleteRange
	}
	switch {
	case j.Range != nil:
		op.Range, err = j.Range.ToKV()
	case j.Put != nil:
		op.Put, err = j.Put.ToKV()
	case del != nil:
		op.DeleteRange, err = del.ToKV()
	default:
		op.Txn, err = j.Txn.ToKV()
	}
	return op, err
}

func (j *CompareJSON) toKV() (kv.Compare, error) {
	var c kv.Compare
	var err error
	if c.Key, c.RangeEnd, err = keyRange(j.Key, j.KeyB64, j.RangeEnd, j.RangeEndB64, j.Prefix, false); err != nil {
		return c, err
	}
	if c.Result, err = parseEnum(j.Result, "result", compareResults); err != nil {
		return c, err
	}
	target := j.Target
	if target == "" {
		if target, err = j.inferTarget(); err != nil {
			return c, err
		}
	}
	if c.Target, err = parseEnum(target, "target", compareTargets); err != nil {
		return c, err
	}
	return c, j.setOperand(&c)
}

// inferTarget names the target from the one operand given.
func (j *CompareJSON) inferTarget() (string, error) {
	var names []string
	for name, set := range map[string]bool{
		"value": j.Value != nil || j.ValueB64 != nil, "version": j.Version != nil,
		"create": j.CreateRevision != nil, "mod": j.ModRevision != nil, "lease": j.Lease != nil,
	} {
		if set {
			names = append(names, name)
		}
	}
	if len(names) != 1 {
		return "", invalidf("a compare needs a target (value, version, create, mod or lease) or exactly one operand")
	}
	return names[0], nil
}

// setOperand copies the operand of c's target, which must be given.
func (j *CompareJSON) setOperand(c *kv.Compare) error {
	missing := false
	switch c.Target {
	case kv.CompareValue:
		if j.Value == nil && j.ValueB64 == nil {
			return invalidf("a value compare needs value or value_b64")
		}
		v, err := jsonBytes("value", deref(j.Value), deref(j.ValueB64))
		c.Value = v
		return err
	case kv.CompareVersion:
		c.Version, missing = derefInt(j.Version)
	case kv.CompareCreate:
		c.CreateRevision, missing = derefInt(j.CreateRevision)
	case kv.CompareMod:
		c.ModRevision, missing = derefInt(j.ModRevision)
	case kv.CompareLease:
		c.Lease, missing = derefInt(j.Lease)
	}
	if missing {
		return invalidf("the compare's operand for its target is missing")
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(n *int64) (int64, bool) {
	if n == nil {
		return 0, true
	}
	return *n, false
}

// WatchCreateJSON is the body of a watch request: the range as in
// RangeRequestJSON, plus the watch's settings (see the package doc).
type WatchCreateJSON struct {
	Key             string `json:"key,omitempty"`
	KeyB64          string `json:"key_b64,omitempty"`
	RangeEnd        string `json:"range_end,omitempty"`
	RangeEndB64     string `json:"range_end_b64,omitempty"`
	Prefix          bool   `json:"prefix,omitempty"`
	FromKey         bool   `json:"from_key,omitempty"`
	StartRevision   int64  `json:"start_revision,omitempty"`
	PrevKv          bool   `json:"prev_kv,omitempty"`
	NoPut           bool   `json:"no_put,omitempty"`
	NoDelete        bool   `json:"no_delete,omitempty"`
	Inbox           string `json:"inbox"`
	Credits         int    `json:"credits,omitempty"`
	HeartbeatMillis int    `json:"heartbeat_ms,omitempty"`
}

// ToWatchCreate converts the request.
func (j *WatchCreateJSON) ToWatchCreate() (*WatchCreate, error) {
	key, end, err := keyRange(j.Key, j.KeyB64, j.RangeEnd, j.RangeEndB64, j.Prefix, j.FromKey)
	if err != nil {
		return nil, err
	}
	return &WatchCreate{
		Watch: kv.WatchRequest{Key: key, RangeEnd: end, StartRevision: j.StartRevision,
			PrevKv: j.PrevKv, NoPut: j.NoPut, NoDelete: j.NoDelete},
		Inbox: j.Inbox, Credits: j.Credits, HeartbeatMillis: j.HeartbeatMillis,
	}, nil
}

// DecodeJSON decodes one JSON value strictly: unknown fields and trailing
// data are errors (invalid_argument).
func DecodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidf("malformed JSON body: %v", err)
	}
	if dec.More() {
		return invalidf("malformed JSON body: data after the JSON value")
	}
	return nil
}

// keyRange resolves the JSON form of a range to kv's Key and RangeEnd.
func keyRange(key, keyB64, end, endB64 string, prefix, fromKey bool) ([]byte, []byte, error) {
	k, err := jsonBytes("key", key, keyB64)
	if err != nil {
		return nil, nil, err
	}
	e, err := jsonBytes("range_end", end, endB64)
	if err != nil {
		return nil, nil, err
	}
	if countTrue(len(e) > 0, prefix, fromKey) > 1 {
		return nil, nil, invalidf("give at most one of range_end, prefix and from_key")
	}
	switch {
	case prefix && len(k) == 0, fromKey && len(k) == 0:
		return []byte{0}, []byte{0}, nil // every key
	case prefix:
		return k, PrefixEnd(k), nil
	case fromKey:
		return k, []byte{0}, nil
	}
	return k, e, nil
}

// PrefixEnd is the range end of the keys starting with prefix (etcd's
// GetPrefixRangeEnd): prefix with its last byte below 0xff incremented,
// or "\x00" (every key from prefix on) when every byte is 0xff.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

func jsonBytes(field, text, b64 string) ([]byte, error) {
	if b64 == "" {
		return []byte(text), nil
	}
	if text != "" {
		return nil, invalidf("give %s or %s_b64, not both", field, field)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(b64); err == nil {
			return b, nil
		}
	}
	return nil, invalidf("%s_b64 is not base64", field)
}

var (
	sortOrders = map[string]kv.SortOrder{"": kv.SortNone, "none": kv.SortNone,
		"ascend": kv.SortAscend, "descend": kv.SortDescend}
	sortTargets = map[string]kv.SortTarget{"": kv.SortByKey, "key": kv.SortByKey,
		"version": kv.SortByVersion, "create": kv.SortByCreate, "mod": kv.SortByMod, "value": kv.SortByValue}
	compareResults = map[string]kv.CompareResult{"": kv.CompareEqual, "=": kv.CompareEqual,
		"==": kv.CompareEqual, "!=": kv.CompareNotEqual, "<": kv.CompareLess, ">": kv.CompareGreater}
	compareTargets = map[string]kv.CompareTarget{"value": kv.CompareValue, "version": kv.CompareVersion,
		"create": kv.CompareCreate, "create_revision": kv.CompareCreate,
		"mod": kv.CompareMod, "mod_revision": kv.CompareMod, "lease": kv.CompareLease}
)

func parseEnum[T any](s, field string, names map[string]T) (T, error) {
	v, ok := names[strings.ToLower(s)]
	if !ok {
		return v, invalidf("unknown %s %q", field, s)
	}
	return v, nil
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", kv.ErrInvalidRequest, fmt.Sprintf(format, args...))
}
