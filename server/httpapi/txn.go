package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/natsraft/natsraft/kv"
)

// txnRequest is a transaction in JSON: when every compare holds, the
// success ops run, otherwise the failure ops.
type txnRequest struct {
	Compare []compare   `json:"compare"`
	Success []requestOp `json:"success"`
	Failure []requestOp `json:"failure"`
}

// compare is "target of key (or of every key of the range) result
// operand"; the operand is the field named like the target, 0 or "" when
// absent (so {"target":"version","result":"=","key":"k"} means "k does not
// exist").
type compare struct {
	Key            string  `json:"key"`
	RangeEnd       string  `json:"range_end"`
	Prefix         bool    `json:"prefix"`
	Target         string  `json:"target"`
	Result         string  `json:"result"`
	Value          *string `json:"value"`
	Version        *int64  `json:"version"`
	CreateRevision *int64  `json:"create_revision"`
	ModRevision    *int64  `json:"mod_revision"`
	Lease          *int64  `json:"lease"`
}

// requestOp is one op of a branch: exactly one field is set.
type requestOp struct {
	Range  *rangeOp    `json:"range"`
	Put    *putOp      `json:"put"`
	Delete *deleteOp   `json:"delete"`
	Txn    *txnRequest `json:"txn"`
}

type rangeOp struct {
	Key        string `json:"key"`
	RangeEnd   string `json:"range_end"`
	Prefix     bool   `json:"prefix"`
	Limit      int64  `json:"limit"`
	Revision   int64  `json:"revision"`
	KeysOnly   bool   `json:"keys_only"`
	CountOnly  bool   `json:"count_only"`
	SortOrder  string `json:"sort_order"`
	SortTarget string `json:"sort_target"`
}

type putOp struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Lease       int64  `json:"lease"`
	PrevKv      bool   `json:"prev_kv"`
	IgnoreValue bool   `json:"ignore_value"`
	IgnoreLease bool   `json:"ignore_lease"`
}

type deleteOp struct {
	Key      string `json:"key"`
	RangeEnd string `json:"range_end"`
	Prefix   bool   `json:"prefix"`
	PrevKv   bool   `json:"prev_kv"`
}

var compareTargets = map[string]kv.CompareTarget{
	"value": kv.CompareValue, "version": kv.CompareVersion, "create_revision": kv.CompareCreate,
	"mod_revision": kv.CompareMod, "lease": kv.CompareLease,
}

var compareResults = map[string]kv.CompareResult{
	"=": kv.CompareEqual, "==": kv.CompareEqual, "!=": kv.CompareNotEqual,
	"<": kv.CompareLess, ">": kv.CompareGreater,
}

// txn: POST /v1/txn.
func (a *api) txn(ctx context.Context, r *http.Request, q *query) (reply, error) {
	var in txnRequest
	if err := decodeJSON(r, &in); err != nil {
		return reply{}, err
	}
	c := converter{codec: q.codec}
	req := c.txn(&in)
	if c.err != nil {
		return reply{}, c.err
	}
	resp, err := write(ctx, a.n, &kv.Request{Txn: req}, func(r *kv.Response) *kv.TxnResponse { return r.Txn })
	if err != nil {
		return reply{}, err
	}
	return reply{revision: resp.Header.Revision, body: q.codec.txnResponse(resp)}, nil
}

// decodeJSON decodes the body, one JSON value, into v; unknown fields are
// refused so that a misspelt field is not silently ignored.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return jsonError(err)
		}
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty: want a JSON object")
	}
	return badRequest("invalid JSON body: %v", err)
}

// converter turns a JSON transaction into kv's, keeping the first error.
// kv.Node.Write validates the result (limits, nesting, duplicate keys).
type converter struct {
	firstError
	codec codec
}

func (c *converter) bytes(what, s string) []byte {
	b, err := c.codec.decode(s)
	if err != nil {
		c.fail(badRequest("%s: %v", what, err))
	}
	return b
}

func (c *converter) span(key, end string, prefix bool) span {
	k := c.bytes("key", key)
	if prefix {
		if end != "" {
			c.fail(badRequest("give prefix or range_end, not both"))
		}
		return prefixSpan(k)
	}
	return span{key: k, end: c.bytes("range_end", end)}
}

func (c *converter) txn(in *txnRequest) *kv.TxnRequest {
	out := &kv.TxnRequest{
		Compare: make([]kv.Compare, len(in.Compare)),
		Success: make([]kv.RequestOp, len(in.Success)),
		Failure: make([]kv.RequestOp, len(in.Failure)),
	}
	for i := range in.Compare {
		out.Compare[i] = c.compare(&in.Compare[i])
	}
	for i := range in.Success {
		out.Success[i] = c.op(&in.Success[i])
	}
	for i := range in.Failure {
		out.Failure[i] = c.op(&in.Failure[i])
	}
	return out
}

func (c *converter) compare(in *compare) kv.Compare {
	target := pick(&c.firstError, compareTargets, "compare target", in.Target)
	result := pick(&c.firstError, compareResults, "compare result", in.Result)
	s := c.span(in.Key, in.RangeEnd, in.Prefix)
	out := kv.Compare{Target: target, Result: result, Key: s.key, RangeEnd: s.end,
		Version: deref(in.Version), CreateRevision: deref(in.CreateRevision),
		ModRevision: deref(in.ModRevision), Lease: deref(in.Lease)}
	if in.Value != nil {
		out.Value = c.bytes("compare value", *in.Value)
	}
	operands := []struct {
		name string
		set  bool
	}{
		{"value", in.Value != nil}, {"version", in.Version != nil}, {"create_revision", in.CreateRevision != nil},
		{"mod_revision", in.ModRevision != nil}, {"lease", in.Lease != nil},
	}
	for _, o := range operands {
		if o.set && o.name != in.Target {
			c.fail(badRequest("a compare on %q takes its operand in %q, not in %q", in.Target, in.Target, o.name))
		}
	}
	return out
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func (c *converter) op(in *requestOp) kv.RequestOp {
	var set []string
	var out kv.RequestOp
	if in.Range != nil {
		set = append(set, "range")
		out.Range = c.rangeOp(in.Range)
	}
	if in.Put != nil {
		set = append(set, "put")
		out.Put = c.putOp(in.Put)
	}
	if in.Delete != nil {
		set = append(set, "delete")
		s := c.span(in.Delete.Key, in.Delete.RangeEnd, in.Delete.Prefix)
		out.DeleteRange = &kv.DeleteRangeRequest{Key: s.key, RangeEnd: s.end, PrevKv: in.Delete.PrevKv}
	}
	if in.Txn != nil {
		set = append(set, "txn")
		out.Txn = c.txn(in.Txn)
	}
	if len(set) != 1 {
		c.fail(badRequest("an op holds exactly one of range, put, delete and txn; this one holds [%s]",
			strings.Join(set, ", ")))
	}
	return out
}

func (c *converter) rangeOp(in *rangeOp) *kv.RangeRequest {
	s := c.span(in.Key, in.RangeEnd, in.Prefix)
	order := pick(&c.firstError, sortOrders, "sort_order", in.SortOrder)
	target := pick(&c.firstError, sortTargets, "sort_target", in.SortTarget)
	if in.Limit < 0 || in.Revision < 0 {
		c.fail(badRequest("limit and revision must not be negative"))
	}
	return &kv.RangeRequest{Key: s.key, RangeEnd: s.end, Limit: in.Limit, Revision: in.Revision,
		KeysOnly: in.KeysOnly, CountOnly: in.CountOnly, SortOrder: order, SortTarget: target}
}

func (c *converter) putOp(in *putOp) *kv.PutRequest {
	return &kv.PutRequest{Key: c.bytes("key", in.Key), Value: c.bytes("value", in.Value), Lease: in.Lease,
		PrevKv: in.PrevKv, IgnoreValue: in.IgnoreValue, IgnoreLease: in.IgnoreLease}
}
