package httpapi

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ prefix, end string }{
		{"a", "b"}, {"a/", "a0"}, {"a\xff", "b"}, {"a\xff\xff", "b"}, {"\xff", "\x00"}, {"\xff\xff", "\x00"},
	} {
		if got := prefixEnd([]byte(tc.prefix)); string(got) != tc.end {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.prefix, got, tc.end)
		}
	}
	if s := prefixSpan(nil); string(s.key) != "\x00" || string(s.end) != "\x00" {
		t.Errorf("the empty prefix: %q..%q", s.key, s.end)
	}
}

func TestDecodeBase64(t *testing.T) {
	want := []byte{0xfb, 0xff, 0xbf}
	for _, s := range []string{"+/+/", "-_-_", "+/+/"} {
		if got, err := decodeBase64(s); err != nil || !bytes.Equal(got, want) {
			t.Errorf("decodeBase64(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"QQ==", "QQ"} {
		if got, err := decodeBase64(s); err != nil || string(got) != "A" {
			t.Errorf("decodeBase64(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"*", "Q", "QQ=Q"} {
		if _, err := decodeBase64(s); err == nil {
			t.Errorf("decodeBase64(%q) succeeded", s)
		}
	}
}

// FuzzTxnBody: any body becomes a kv transaction or a 4xx error, never a
// panic. The seeds run with go test; go test -fuzz FuzzTxnBody explores.
func FuzzTxnBody(f *testing.F) {
	for _, seed := range []string{
		`{"compare":[{"key":"k","target":"value","result":"=","value":"v"}],"success":[{"put":{"key":"k","value":"w"}}]}`,
		`{"success":[{"range":{"key":"a","prefix":true,"limit":3}},{"delete":{"key":"a","range_end":"b"}}]}`,
		`{"failure":[{"txn":{"success":[{"txn":{}}]}}]}`,
		`{"compare":[{"key":"k","target":"version","result":"<","version":3,"value":"x"}]}`,
		`{"success":[{}]}`, `null`, `[]`, `{"compare":[null]}`, `{"success":[null]}`, ``,
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, body string, base64 bool) {
		r := httptest.NewRequest(http.MethodPost, "/v1/txn", bytes.NewReader([]byte(body)))
		var in txnRequest
		if err := decodeJSON(r, &in); err != nil {
			checkClientError(t, err)
			return
		}
		c := converter{codec: codec{base64: base64}}
		if req := c.txn(&in); c.err != nil {
			checkClientError(t, c.err)
		} else if req == nil {
			t.Fatal("no request and no error")
		}
	})
}

func checkClientError(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
		t.Fatalf("error %v is not a 400", err)
	}
	if status, d := describe(err); status != http.StatusBadRequest || d.Message == "" {
		t.Fatalf("describe(%v) = %d %+v", err, status, d)
	}
}
