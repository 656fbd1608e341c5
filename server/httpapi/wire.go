package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/natsraft/natsraft/kv"
)

// revisionHeader carries the revision of every response.
const revisionHeader = "X-Natsraft-Revision"

func formatRevision(rev int64) string { return strconv.FormatInt(rev, 10) }

// writeJSON writes one JSON response.
func writeJSON(w http.ResponseWriter, status int, rev int64, body any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(revisionHeader, formatRevision(rev))
	w.WriteHeader(status)
	_ = newEncoder(w).Encode(body)
}

func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// header is the "header" of every response: the store revision it was
// generated at (for an error, the node's revision when it answered).
type header struct {
	Revision int64 `json:"revision"`
}

// withHeader gives a top-level response its header; responses nested in a
// transaction leave it out.
type withHeader struct {
	Header *header `json:"header,omitempty"`
}

func (h *withHeader) setRevision(rev int64) { h.Header = &header{Revision: rev} }

// headed is a top-level response body.
type headed interface{ setRevision(rev int64) }

// keyValue is kv.KeyValue in JSON; key and value follow the codec.
type keyValue struct {
	Key            string `json:"key"`
	Value          string `json:"value"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
	Version        int64  `json:"version"`
	Lease          int64  `json:"lease,omitempty"`
}

func (c codec) keyValue(k *kv.KeyValue) keyValue {
	return keyValue{
		Key: c.encode(k.Key), Value: c.encode(k.Value),
		CreateRevision: k.CreateRevision, ModRevision: k.ModRevision, Version: k.Version, Lease: k.Lease,
	}
}

// keyValues never returns nil: an empty list is [] in JSON.
func (c codec) keyValues(list []kv.KeyValue) []keyValue {
	out := make([]keyValue, len(list))
	for i := range list {
		out[i] = c.keyValue(&list[i])
	}
	return out
}

func (c codec) optionalKeyValue(k *kv.KeyValue) *keyValue {
	if k == nil {
		return nil
	}
	kv := c.keyValue(k)
	return &kv
}

type rangeResponse struct {
	withHeader
	Kvs   []keyValue `json:"kvs"`
	Count int64      `json:"count"`
	More  bool       `json:"more"`
}

func (c codec) rangeResponse(r *kv.RangeResponse) *rangeResponse {
	return &rangeResponse{Kvs: c.keyValues(r.Kvs), Count: r.Count, More: r.More}
}

type putResponse struct {
	withHeader
	PrevKv *keyValue `json:"prev_kv,omitempty"`
}

func (c codec) putResponse(r *kv.PutResponse) *putResponse {
	return &putResponse{PrevKv: c.optionalKeyValue(r.PrevKv)}
}

type deleteResponse struct {
	withHeader
	Deleted int64      `json:"deleted"`
	PrevKvs []keyValue `json:"prev_kvs,omitempty"`
}

func (c codec) deleteResponse(r *kv.DeleteRangeResponse) *deleteResponse {
	out := &deleteResponse{Deleted: r.Deleted}
	if len(r.PrevKvs) > 0 {
		out.PrevKvs = c.keyValues(r.PrevKvs)
	}
	return out
}

type txnResponse struct {
	withHeader
	Succeeded bool         `json:"succeeded"`
	Responses []opResponse `json:"responses"`
}

// opResponse answers one op of a transaction: one field is set.
type opResponse struct {
	Range  *rangeResponse  `json:"range,omitempty"`
	Put    *putResponse    `json:"put,omitempty"`
	Delete *deleteResponse `json:"delete,omitempty"`
	Txn    *txnResponse    `json:"txn,omitempty"`
}

func (c codec) txnResponse(r *kv.TxnResponse) *txnResponse {
	out := &txnResponse{Succeeded: r.Succeeded, Responses: make([]opResponse, len(r.Responses))}
	for i, op := range r.Responses {
		switch {
		case op.Range != nil:
			out.Responses[i].Range = c.rangeResponse(op.Range)
		case op.Put != nil:
			out.Responses[i].Put = c.putResponse(op.Put)
		case op.DeleteRange != nil:
			out.Responses[i].Delete = c.deleteResponse(op.DeleteRange)
		case op.Txn != nil:
			out.Responses[i].Txn = c.txnResponse(op.Txn)
		}
	}
	return out
}

// event is kv.Event in JSON. A delete's kv has only key and mod_revision
// (the revision of the delete).
type event struct {
	Type   string    `json:"type"` // "put" or "delete"
	Kv     keyValue  `json:"kv"`
	PrevKv *keyValue `json:"prev_kv,omitempty"`
}

func (c codec) events(list []kv.Event) []event {
	out := make([]event, len(list))
	for i := range list {
		ev := &list[i]
		out[i] = event{Type: "put", Kv: c.keyValue(&ev.Kv), PrevKv: c.optionalKeyValue(ev.PrevKv)}
		if ev.Type == kv.EventDelete {
			out[i].Type = "delete"
		}
	}
	return out
}
