package natsapi

import (
	"encoding/base64"
	"unicode/utf8"

	"github.com/natsraft/natsraft/kv"
)

// The JSON response bodies. A key or value that is valid UTF-8 is a string
// ("key", "value"); any other is base64 in "key_b64" / "value_b64" instead.

// HeaderJSON is the header of every response.
type HeaderJSON struct {
	Revision int64 `json:"revision"`
}

// KeyValueJSON is a key at one of its versions.
type KeyValueJSON struct {
	Key            string  `json:"key,omitempty"`
	KeyB64         string  `json:"key_b64,omitempty"`
	CreateRevision int64   `json:"create_revision,omitempty"`
	ModRevision    int64   `json:"mod_revision"`
	Version        int64   `json:"version,omitempty"`
	Value          *string `json:"value,omitempty"`
	ValueB64       string  `json:"value_b64,omitempty"`
	Lease          int64   `json:"lease,omitempty"`
}

// KeyValueToJSON converts a key-value.
func KeyValueToJSON(k *kv.KeyValue) KeyValueJSON {
	j := KeyValueJSON{CreateRevision: k.CreateRevision, ModRevision: k.ModRevision,
		Version: k.Version, Lease: k.Lease}
	j.Key, j.KeyB64 = textOrBase64(k.Key)
	value, valueB64 := textOrBase64(k.Value)
	if valueB64 != "" {
		j.ValueB64 = valueB64
	} else {
		j.Value = &value
	}
	return j
}

func keyValuesToJSON(kvs []kv.KeyValue) []KeyValueJSON {
	out := make([]KeyValueJSON, len(kvs))
	for i := range kvs {
		out[i] = KeyValueToJSON(&kvs[i])
	}
	return out
}

func optionalKeyValue(k *kv.KeyValue) *KeyValueJSON {
	if k == nil {
		return nil
	}
	j := KeyValueToJSON(k)
	return &j
}

func textOrBase64(b []byte) (text, b64 string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

// RangeResponseJSON answers a range.
type RangeResponseJSON struct {
	Header HeaderJSON     `json:"header"`
	Kvs    []KeyValueJSON `json:"kvs"`
	More   bool           `json:"more"`
	Count  int64          `json:"count"`
}

// RangeResponseToJSON converts a range response.
func RangeResponseToJSON(r *kv.RangeResponse) RangeResponseJSON {
	return RangeResponseJSON{Header: HeaderJSON(r.Header), Kvs: keyValuesToJSON(r.Kvs), More: r.More, Count: r.Count}
}

// PutResponseJSON answers a put.
type PutResponseJSON struct {
	Header HeaderJSON    `json:"header"`
	PrevKv *KeyValueJSON `json:"prev_kv,omitempty"`
}

// PutResponseToJSON converts a put response.
func PutResponseToJSON(r *kv.PutResponse) PutResponseJSON {
	return PutResponseJSON{Header: HeaderJSON(r.Header), PrevKv: optionalKeyValue(r.PrevKv)}
}

// DeleteResponseJSON answers a delete.
type DeleteResponseJSON struct {
	Header  HeaderJSON     `json:"header"`
	Deleted int64          `json:"deleted"`
	PrevKvs []KeyValueJSON `json:"prev_kvs,omitempty"`
}

// DeleteResponseToJSON converts a delete response.
func DeleteResponseToJSON(r *kv.DeleteRangeResponse) DeleteResponseJSON {
	j := DeleteResponseJSON{Header: HeaderJSON(r.Header), Deleted: r.Deleted}
	if len(r.PrevKvs) > 0 {
		j.PrevKvs = keyValuesToJSON(r.PrevKvs)
	}
	return j
}

// TxnResponseJSON answers a txn: one response per op of the branch run.
type TxnResponseJSON struct {
	Header    HeaderJSON       `json:"header"`
	Succeeded bool             `json:"succeeded"`
	Responses []ResponseOpJSON `json:"responses"`
}

// ResponseOpJSON answers one op; the field of the op's kind is set.
type ResponseOpJSON struct {
	Range  *RangeResponseJSON  `json:"range,omitempty"`
	Put    *PutResponseJSON    `json:"put,omitempty"`
	Delete *DeleteResponseJSON `json:"delete,omitempty"`
	Txn    *TxnResponseJSON    `json:"txn,omitempty"`
}

// TxnResponseToJSON converts a txn response.
func TxnResponseToJSON(r *kv.TxnResponse) TxnResponseJSON {
	j := TxnResponseJSON{Header: HeaderJSON(r.Header), Succeeded: r.Succeeded,
		Responses: make([]ResponseOpJSON, len(r.Responses))}
	for i, op := range r.Responses {
		switch {
		case op.Range != nil:
			v := RangeResponseToJSON(op.Range)
			j.Responses[i].Range = &v
		case op.Put != nil:
			v := PutResponseToJSON(op.Put)
			j.Responses[i].Put = &v
		case op.DeleteRange != nil:
			v := DeleteResponseToJSON(op.DeleteRange)
			j.Responses[i].Delete = &v
		case op.Txn != nil:
			v := TxnResponseToJSON(op.Txn)
			j.Responses[i].Txn = &v
		}
	}
	return j
}

// CompactResponseJSON answers a compaction.
type CompactResponseJSON struct {
	Header HeaderJSON `json:"header"`
}

// EventJSON is one change seen by a watch: type is "put" or "delete".
type EventJSON struct {
	Type   string        `json:"type"`
	Kv     KeyValueJSON  `json:"kv"`
	PrevKv *KeyValueJSON `json:"prev_kv,omitempty"`
}

// EventToJSON converts an event.
func EventToJSON(ev *kv.Event) EventJSON {
	typ := "put"
	if ev.Type == kv.EventDelete {
		typ = "delete"
	}
	return EventJSON{Type: typ, Kv: KeyValueToJSON(&ev.Kv), PrevKv: optionalKeyValue(ev.PrevKv)}
}

// WatchResponseJSON is the body of a watch message.
type WatchResponseJSON struct {
	Header          HeaderJSON  `json:"header"`
	Events          []EventJSON `json:"events,omitempty"`
	CompactRevision int64       `json:"compact_revision,omitempty"`
	Canceled        bool        `json:"canceled,omitempty"`
	CancelReason    string      `json:"cancel_reason,omitempty"`
}

// WatchResponseToJSON converts a watch response.
func WatchResponseToJSON(r *kv.WatchResponse) WatchResponseJSON {
	j := WatchResponseJSON{Header: HeaderJSON(r.Header), CompactRevision: r.CompactRevision,
		Canceled: r.Canceled, CancelReason: r.CancelReason}
	for i := range r.Events {
		j.Events = append(j.Events, EventToJSON(&r.Events[i]))
	}
	return j
}
