package natsapi

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/kv"
)

func TestCheckMsgpackAcceptsWhatTheClientSends(t *testing.T) {
	nested := &kv.TxnRequest{Success: []kv.RequestOp{{Put: &kv.PutRequest{Key: []byte("k")}}}}
	for range 30 {
		nested = &kv.TxnRequest{Success: []kv.RequestOp{{Txn: nested}}}
	}
	for _, v := range []any{
		&kv.PutRequest{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 70000), Lease: -5, PrevKv: true},
		&kv.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Limit: 1 << 40, Revision: 3, Serializable: true},
		&kv.TxnRequest{Compare: make([]kv.Compare, 128), Success: make([]kv.RequestOp, 128)},
		nested,
		&WatchCreate{Watch: kv.WatchRequest{Key: []byte("a")}, Inbox: "_INBOX.x", Credits: 64},
		&WatchControl{Credits: 3},
		map[string]any{"f": 1.5, "g": float32(2), "n": nil, "b": true, "s": strings.Repeat("x", 70000)},
	} {
		data, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkMsgpack(data); err != nil {
			t.Errorf("%T: %v", v, err)
		}
	}
}

func TestCheckMsgpackRefuses(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":              {},
		"array32 of 4G":      {0xdd, 0xff, 0xff, 0xff, 0xff},
		"map32 of 4G":        {0xdf, 0xff, 0xff, 0xff, 0xff},
		"array16 too long":   append([]byte{0xdc, 0x08, 0x00}, make([]byte, 2048)...),
		"bin32 past the end": {0xc6, 0x00, 0x10, 0x00, 0x00, 'a'},
		"str8 past the end":  {0xd9, 0x05, 'a'},
		"never-used code":    {0xc1},
		"trailing bytes":     {0x01, 0x02},
		"truncated int64":    {0xd3, 0x01},
		"too deep":           append(bytes.Repeat([]byte{0x91}, msgpackDepthMax+1), 0xc0),
		"too many elements":  manyElements(),
		"ext32 past the end": {0xc9, 0x00, 0x00, 0x10, 0x00, 0x01},
		"fixext16 truncated": {0xd8, 0x01, 0x02},
		"map16 of 100":       append([]byte{0xde, 0x00, 100}, make([]byte, 200)...),
	} {
		if err := checkMsgpack(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// manyElements is a 1000-element array of 1000-element arrays.
func manyElements() []byte {
	inner := append([]byte{0xdc, 0x03, 0xe8}, make([]byte, 1000)...)
	out := []byte{0xdc, 0x03, 0xe8}
	for range 1000 {
		out = append(out, inner...)
	}
	return out
}

// FuzzDecodeRequest feeds arbitrary bytes to every decoder of a request
// body: it must return an error or a value, never panic or blow up.
func FuzzDecodeRequest(f *testing.F) {
	for _, v := range []any{
		&kv.PutRequest{Key: []byte("k"), Value: []byte("v")},
		&kv.TxnRequest{Compare: []kv.Compare{{Key: []byte("k")}}, Success: []kv.RequestOp{{Range: &kv.RangeRequest{Key: []byte("k")}}}},
		&WatchCreate{Watch: kv.WatchRequest{Key: []byte("a")}, Inbox: "i"},
	} {
		data, _ := msgpack.Marshal(v)
		f.Add(data)
	}
	f.Add([]byte(`{"compare":[{"key":"a","mod_revision":1}],"success":[{"put":{"key":"a","value_b64":"AA=="}}]}`))
	f.Add([]byte(`{"key":"a","prefix":true,"sort_order":"descend","sort_target":"mod"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []any{new(kv.PutRequest), new(kv.RangeRequest), new(kv.DeleteRangeRequest),
			new(kv.TxnRequest), new(kv.CompactionRequest), new(WatchCreate), new(WatchControl), new(MemberRequest)} {
			_ = DecodeMsgpack(data, v)
		}
		var r RangeRequestJSON
		if DecodeJSON(data, &r) == nil {
			_, _ = r.ToKV()
		}
		var tx TxnRequestJSON
		if DecodeJSON(data, &tx) == nil {
			_, _ = tx.ToKV()
		}
		var w WatchCreateJSON
		if DecodeJSON(data, &w) == nil {
			_, _ = w.ToWatchCreate()
		}
	})
}

func TestJSONRangeForms(t *testing.T) {
	for _, tc := range []struct {
		body     string
		key, end string
	}{
		{`{"key":"a"}`, "a", ""},
		{`{"key":"a","range_end":"c"}`, "a", "c"},
		{`{"key":"ab","prefix":true}`, "ab", "ac"},
		{`{"key_b64":"/w==","prefix":true}`, "\xff", "\x00"},
		{`{"prefix":true}`, "\x00", "\x00"},
		{`{"key":"a","from_key":true}`, "a", "\x00"},
	} {
		var j RangeRequestJSON
		if err := DecodeJSON([]byte(tc.body), &j); err != nil {
			t.Fatal(err)
		}
		r, err := j.ToKV()
		if err != nil || string(r.Key) != tc.key || string(r.RangeEnd) != tc.end {
			t.Errorf("%s: [%q, %q) %v, want [%q, %q)", tc.body, r.Key, r.RangeEnd, err, tc.key, tc.end)
		}
	}
}

func TestJSONCompareForms(t *testing.T) {
	txn, err := ParseTxnJSON([]byte(`{"compare":[
		{"key":"a","version":0},
		{"key":"a","target":"create_revision","result":">","create_revision":3},
		{"key":"a","target":"value","result":"!=","value_b64":"AA=="},
		{"key":"a","result":"<","lease":9}],
		"success":[{"delete_range":{"key":"a"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := txn.Compare
	if c[0].Target != kv.CompareVersion || c[0].Result != kv.CompareEqual ||
		c[1].Target != kv.CompareCreate || c[1].Result != kv.CompareGreater || c[1].CreateRevision != 3 ||
		c[2].Target != kv.CompareValue || !bytes.Equal(c[2].Value, []byte{0}) || c[2].Result != kv.CompareNotEqual ||
		c[3].Target != kv.CompareLease || c[3].Lease != 9 || c[3].Result != kv.CompareLess ||
		txn.Success[0].DeleteRange == nil {
		t.Fatalf("%+v", txn)
	}
	for _, bad := range []string{
		`{"compare":[{"key":"a","version":1,"mod_revision":2}]}`,
		`{"compare":[{"key":"a","target":"nope","version":1}]}`,
		`{"compare":[{"key":"a","result":"~","version":1}]}`,
		`{"success":[{"put":{"key":"a"},"delete":{"key":"b"}}]}`,
	} {
		if _, err := ParseTxnJSON([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
