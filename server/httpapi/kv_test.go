package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/httpapi"
)

func TestKeyValue(t *testing.T) {
	c := startCluster(t, httpapi.Options{}, "n1", "n2", "n3")
	t.Run("PutThenGetOnEveryNode", func(t *testing.T) { testPutGet(t, c) })
	t.Run("PrevKvAndOldRevision", func(t *testing.T) { testPrevKv(t, c) })
	t.Run("UnknownLease", func(t *testing.T) {
		// etcd: a put naming a lease that does not exist is NotFound.
		do(t, http.MethodPut, c.leaderURL()+"/v1/kv/leased?lease=7", "v").wantError(t, http.StatusNotFound, server.CodeNotFound)
	})
	t.Run("PathKeysAreExact", func(t *testing.T) { testPathKeys(t, c) })
	t.Run("RangeQueries", func(t *testing.T) { testRange(t, c) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, c) })
	t.Run("Base64", func(t *testing.T) { testBase64(t, c) })
	t.Run("Txn", func(t *testing.T) { testTxn(t, c) })
	t.Run("TxnErrors", func(t *testing.T) { testTxnErrors(t, c) })
	t.Run("Limits", func(t *testing.T) { testLimits(t, c) })
	t.Run("BadQueries", func(t *testing.T) { testBadQueries(t, c) })
	t.Run("Timeout", func(t *testing.T) { testTimeout(t, c) })
	t.Run("StatusEndpoints", func(t *testing.T) { testStatusEndpoints(t, c) })
	t.Run("Compaction", func(t *testing.T) { testCompaction(t, c) }) // last: it drops history
}

func testPutGet(t *testing.T, c *cluster) {
	p := put(t, c.followerURL(), "greeting", "hello") // forwarded to the leader
	if p.Header.Revision <= 0 || p.PrevKv != nil {
		t.Fatalf("put: %+v", p)
	}
	for name, u := range c.urls {
		r := get(t, u+"/v1/kv/greeting") // linearizable: sees the put at once
		want := kvJSON{Key: "greeting", Value: "hello", CreateRevision: p.Header.Revision,
			ModRevision: p.Header.Revision, Version: 1}
		if len(r.Kvs) != 1 || r.Kvs[0] != want || r.Count != 1 || r.Header.Revision < p.Header.Revision {
			t.Fatalf("%s: get %+v, want %+v", name, r, want)
		}
		// After a linearizable read, a serializable one on the same node
		// has the put applied too.
		if s := get(t, u+"/v1/kv/greeting?serializable=true"); len(s.Kvs) != 1 || s.Kvs[0] != want {
			t.Fatalf("%s: serializable get %+v", name, s)
		}
	}
	e := do(t, http.MethodGet, c.leaderURL()+"/v1/kv/no-such-key", "").wantError(t, http.StatusNotFound, server.CodeNotFound)
	if e.Header.Revision < p.Header.Revision {
		t.Fatalf("404 at revision %d, before the put at %d", e.Header.Revision, p.Header.Revision)
	}
	// An empty body is an empty value, not an error.
	put(t, c.leaderURL(), "empty", "")
	if r := get(t, c.leaderURL()+"/v1/kv/empty"); r.Kvs[0].Value != "" || r.Kvs[0].Version != 1 {
		t.Fatalf("empty value: %+v", r)
	}
}

func testPrevKv(t *testing.T, c *cluster) {
	u := c.leaderURL()
	first := put(t, u, "counter", "1")
	var second putJSON
	do(t, http.MethodPut, u+"/v1/kv/counter?prev_kv=true", "2").decode(t, http.StatusOK, &second)
	if second.PrevKv == nil || second.PrevKv.Value != "1" || second.PrevKv.ModRevision != first.Header.Revision {
		t.Fatalf("prev_kv: %+v", second.PrevKv)
	}
	now := get(t, u+"/v1/kv/counter")
	if kv := now.Kvs[0]; kv.Value != "2" || kv.Version != 2 || kv.CreateRevision != first.Header.Revision {
		t.Fatalf("after the second put: %+v", kv)
	}
	old := get(t, fmt.Sprintf("%s/v1/kv/counter?revision=%d", u, first.Header.Revision))
	if old.Kvs[0].Value != "1" || old.Header.Revision != now.Header.Revision {
		t.Fatalf("at revision %d: %+v", first.Header.Revision, old)
	}
}

// testPathKeys: the key is the rest of the path, percent-decoded, with
// no cleaning of "//", "." or "..".
func testPathKeys(t *testing.T, c *cluster) {
	u := c.leaderURL()
	for _, k := range []struct{ path, key string }{
		{"/registry/pods/a", "/registry/pods/a"},
		{"dots/../..", "dots/../.."},
		{"sp%20ace%2Fslash%3Fq%23h", "sp ace/slash?q#h"},
		{"trailing/", "trailing/"},
		{"%E2%9C%93", "✓"},
	} {
		put(t, u, k.path, "v:"+k.key)
		r := get(t, u+"/v1/kv?key="+url.QueryEscape(k.key))
		if len(r.Kvs) != 1 || r.Kvs[0].Key != k.key || r.Kvs[0].Value != "v:"+k.key {
			t.Fatalf("path %q: %+v, want key %q", k.path, r.Kvs, k.key)
		}
	}
	if r := get(t, u+"/v1/kv?prefix=/registry/"); keysOf(r.Kvs) != "/registry/pods/a" {
		t.Fatalf("prefix /registry/: %q", keysOf(r.Kvs))
	}
	do(t, http.MethodPut, u+"/v1/kv/", "x").wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
}

func testRange(t *testing.T, c *cluster) {
	u := c.leaderURL()
	for i := 1; i <= 5; i++ {
		put(t, u, fmt.Sprint("r/", i), fmt.Sprint("value-", i))
	}
	put(t, u, "r0", "outside") // "r/" < "r0"
	cases := []struct {
		query, keys string
		count       int64
		more        bool
	}{
		{"prefix=r/", "r/1,r/2,r/3,r/4,r/5", 5, false},
		{"prefix=r/&limit=2", "r/1,r/2", 5, true},
		{"key=r/2&range_end=r/4", "r/2,r/3", 2, false},
		{"key=r/4&range_end=%00&limit=3&count_only=false", "r/4,r/5,r0", -1, true}, // every key >= r/4
		{"prefix=r/&sort_order=descend&limit=1", "r/5", 5, true},
		{"prefix=r/&sort_target=value&sort_order=descend&limit=2", "r/5,r/4", 5, true},
		{"key=r/3", "r/3", 1, false},
		{"key=r/nothing", "", 0, false}, // a range may be empty: 200, not 404
	}
	for _, tc := range cases {
		r := get(t, u+"/v1/kv?"+tc.query)
		if keysOf(r.Kvs) != tc.keys || (tc.count >= 0 && r.Count != tc.count) || r.More != tc.more {
			t.Fatalf("%s: keys %q count %d more %t; want %q %d %t", tc.query, keysOf(r.Kvs), r.Count, r.More, tc.keys, tc.count, tc.more)
		}
	}
	if r := get(t, u+"/v1/kv/r/?prefix=true&keys_only=true&serializable"); keysOf(r.Kvs) != "r/1,r/2,r/3,r/4,r/5" || r.Kvs[0].Value != "" {
		t.Fatalf("keys_only on the path form: %+v", r)
	}
	if r := get(t, u+"/v1/kv/r/?prefix=true&count_only=true"); len(r.Kvs) != 0 || r.Count != 5 {
		t.Fatalf("count_only: %+v", r)
	}
	if r := get(t, u+"/v1/kv/r/2?range_end=r/5"); keysOf(r.Kvs) != "r/2,r/3,r/4" {
		t.Fatalf("range_end on the path form: %q", keysOf(r.Kvs))
	}
	if r := get(t, u+"/v1/kv?prefix="); r.Count < 6 {
		t.Fatalf("the empty prefix names every key: count %d", r.Count)
	}
	do(t, http.MethodGet, u+"/v1/kv", "").wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
}

func testDelete(t *testing.T, c *cluster) {
	u := c.followerURL()
	for i := 1; i <= 4; i++ {
		put(t, u, fmt.Sprint("d/", i), fmt.Sprint(i))
	}
	del := func(path string) deleteJSON {
		var d deleteJSON
		do(t, http.MethodDelete, u+path, "").decode(t, http.StatusOK, &d)
		return d
	}
	if d := del("/v1/kv/d/1?prev_kv=true"); d.Deleted != 1 || len(d.PrevKvs) != 1 || d.PrevKvs[0].Value != "1" {
		t.Fatalf("delete d/1: %+v", d)
	}
	if d := del("/v1/kv/d/1?prev_kv=true"); d.Deleted != 0 || d.PrevKvs != nil {
		t.Fatalf("deleting a missing key: %+v", d)
	}
	if d := del("/v1/kv/d/?prefix=true"); d.Deleted != 3 || d.PrevKvs != nil {
		t.Fatalf("delete prefix d/: %+v", d)
	}
	put(t, u, "d2/a", "a")
	put(t, u, "d2/b", "b")
	if d := del("/v1/kv?key=d2/a&range_end=d2/c&prev_kv"); d.Deleted != 2 || keysOf(d.PrevKvs) != "d2/a,d2/b" {
		t.Fatalf("delete range: %+v", d)
	}
	if r := get(t, u+"/v1/kv?key=d/&range_end=d3"); r.Count != 0 {
		t.Fatalf("left after deletes: %+v", r)
	}
	do(t, http.MethodDelete, u+"/v1/kv", "").wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
}

// testBase64: keys and values that are not text round-trip through
// ?encoding=base64, in the path, the query, the body and the response.
func testBase64(t *testing.T, c *cluster) {
	u := c.leaderURL()
	key := []byte{0xff, 0x00, 'b', 0x80, '/'}
	value := []byte{0x00, 0xc3, 0x28, 0xfe, '\n', 0xff}
	b64 := base64.StdEncoding.EncodeToString
	var p putJSON
	// The path key is base64 (URL-safe works too); the body is raw bytes.
	do(t, http.MethodPut, u+"/v1/kv/"+base64.RawURLEncoding.EncodeToString(key)+"?encoding=base64", string(value)).
		decode(t, http.StatusOK, &p)
	r := get(t, u+"/v1/kv?encoding=base64&key="+url.QueryEscape(b64(key)))
	if len(r.Kvs) != 1 || r.Kvs[0].Key != b64(key) || r.Kvs[0].Value != b64(value) {
		t.Fatalf("base64 get: %+v", r.Kvs)
	}
	// In text mode, a path key carries any byte percent-encoded.
	do(t, http.MethodPut, u+"/v1/kv/%FF%01b%80", string(value)).decode(t, http.StatusOK, &p)
	r = get(t, u+"/v1/kv?encoding=base64&key="+url.QueryEscape(b64([]byte{0xff, 1, 'b', 0x80})))
	if len(r.Kvs) != 1 || r.Kvs[0].Value != b64(value) {
		t.Fatalf("percent-encoded path: %+v", r.Kvs)
	}
	// A transaction in base64, and a prefix of bytes that end in 0xff.
	body := fmt.Sprintf(`{"compare":[{"key":%q,"target":"value","result":"=","value":%q}],
		"success":[{"put":{"key":%q,"value":%q,"prev_kv":true}},{"range":{"key":%q,"prefix":true}}]}`,
		b64(key), b64(value), b64(key), b64([]byte{1, 2, 3}), b64([]byte{0xff}))
	var txn txnJSON
	do(t, http.MethodPost, u+"/v1/txn?encoding=base64", body).decode(t, http.StatusOK, &txn)
	if !txn.Succeeded || txn.Responses[0].Put.PrevKv.Value != b64(value) ||
		keysOf(txn.Responses[1].Range.Kvs) != b64(key)+","+b64([]byte{0xff, 1, 'b', 0x80}) {
		t.Fatalf("base64 txn: %+v", txn)
	}
	do(t, http.MethodGet, u+"/v1/kv/not*base64?encoding=base64", "").wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
	do(t, http.MethodGet, u+"/v1/kv?encoding=hex&key=00", "").wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
}

func testTxn(t *testing.T, c *cluster) {
	u := c.followerURL()
	p := put(t, u, "acct", "100")
	casTxn := func(from, to string) txnJSON {
		var txn txnJSON
		body := fmt.Sprintf(`{"compare":[{"key":"acct","target":"value","result":"=","value":%q}],
			"success":[{"put":{"key":"acct","value":%q}}],
			"failure":[{"range":{"key":"acct"}}]}`, from, to)
		do(t, http.MethodPost, u+"/v1/txn", body).decode(t, http.StatusOK, &txn)
		return txn
	}
	if txn := casTxn("100", "90"); !txn.Succeeded || txn.Responses[0].Put == nil || txn.Header.Revision <= p.Header.Revision {
		t.Fatalf("CAS 100->90: %+v", txn)
	}
	if txn := casTxn("100", "80"); txn.Succeeded || txn.Responses[0].Range.Kvs[0].Value != "90" {
		t.Fatalf("stale CAS: %+v", txn)
	}
	now := get(t, u+"/v1/kv/acct").Kvs[0]
	compares := []struct {
		cmp  string
		want bool
	}{
		{fmt.Sprintf(`"target":"version","result":"=","version":%d`, now.Version), true},
		{`"target":"version","result":">","version":1`, true},
		{fmt.Sprintf(`"target":"create_revision","result":"=","create_revision":%d`, now.CreateRevision), true},
		{fmt.Sprintf(`"target":"mod_revision","result":"<","mod_revision":%d`, now.ModRevision), false},
		{fmt.Sprintf(`"target":"mod_revision","result":"!=","mod_revision":%d`, now.ModRevision), false},
		{`"target":"value","result":">","value":"8"`, true},
		{`"target":"value","result":"<","value":"8"`, false},
		{`"target":"lease","result":"==","lease":0`, true},
	}
	for _, tc := range compares {
		var txn txnJSON
		do(t, http.MethodPost, u+"/v1/txn", `{"compare":[{"key":"acct",`+tc.cmp+`}]}`).decode(t, http.StatusOK, &txn)
		if txn.Succeeded != tc.want {
			t.Fatalf("compare {%s}: succeeded %t", tc.cmp, txn.Succeeded)
		}
	}
	// "version = 0" (the operand left out) means "absent": create-if-absent.
	body := `{"compare":[{"key":"lock","target":"version","result":"="}],
		"success":[{"put":{"key":"lock","value":"me"}},{"delete":{"key":"acct","prev_kv":true}},
			{"txn":{"success":[{"range":{"key":"lock"}}]}}]}`
	var txn txnJSON
	do(t, http.MethodPost, u+"/v1/txn", body).decode(t, http.StatusOK, &txn)
	if !txn.Succeeded || txn.Responses[1].Delete.Deleted != 1 || txn.Responses[1].Delete.PrevKvs[0].Value != "90" ||
		txn.Responses[2].Txn.Responses[0].Range.Kvs[0].Value != "me" {
		t.Fatalf("create-if-absent txn: %s", mustJSON(txn))
	}
	do(t, http.MethodPost, u+"/v1/txn", body).decode(t, http.StatusOK, &txn)
	if txn.Succeeded {
		t.Fatal("the second create-if-absent succeeded")
	}
}

func testTxnErrors(t *testing.T, c *cluster) {
	u := c.leaderURL()
	bad := []struct {
		body   string
		status int
		code   server.ErrorCode
	}{
		{``, 400, server.CodeInvalidArgument},
		{`{`, 400, server.CodeInvalidArgument},
		{`[]`, 400, server.CodeInvalidArgument},
		{`{"sucess":[]}`, 400, server.CodeInvalidArgument}, // unknown field
		{`{} {}`, 400, server.CodeInvalidArgument},
		{`{"compare":[{"key":"k","target":"size","result":"="}]}`, 400, server.CodeInvalidArgument},
		{`{"compare":[{"key":"k","target":"value","result":"~"}]}`, 400, server.CodeInvalidArgument},
		{`{"compare":[{"key":"k","target":"version","result":"=","value":"x"}]}`, 400, server.CodeInvalidArgument},
		{`{"compare":[{"target":"version","result":"="}]}`, 400, server.CodeInvalidArgument}, // no key
		{`{"success":[{}]}`, 400, server.CodeInvalidArgument},
		{`{"success":[{"put":{"key":"a"},"delete":{"key":"a"}}]}`, 400, server.CodeInvalidArgument},
		{`{"success":[{"put":{"key":"a"}},{"put":{"key":"a"}}]}`, 400, server.CodeInvalidArgument}, // duplicate key
		{`{"success":[{"range":{"key":"a","prefix":true,"range_end":"b"}}]}`, 400, server.CodeInvalidArgument},
		{`{"success":[{"range":{"key":"a","limit":-1}}]}`, 400, server.CodeInvalidArgument},
		{`{"success":[{"range":{"key":"a","sort_order":"up"}}]}`, 400, server.CodeInvalidArgument},
		{`{"success":[{"put":{"key":"a","value":"v","ignore_value":true}}]}`, 400, server.CodeInvalidArgument},
		{`{"success":[{"put":{"key":"nope","ignore_value":true}}]}`, 404, server.CodeNotFound},
		{`{"success":[{"range":{"key":"a","revision":999999999}}]}`, 400, server.CodeFutureRevision},
		{`{"compare":[{"key":"k","target":"version","result":"=","version":"1"}]}`, 400, server.CodeInvalidArgument},
		{strings.Repeat(`{"success":[{"txn":`, 40) + `{}` + strings.Repeat(`}]}`, 40), 400, server.CodeInvalidArgument},
	}
	for _, tc := range bad {
		do(t, http.MethodPost, u+"/v1/txn", tc.body).wantError(t, tc.status, tc.code)
	}
	ops := make([]string, kv.DefaultMaxTxnOps+1)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"put":{"key":"many/%d"}}`, i)
	}
	do(t, http.MethodPost, u+"/v1/txn", `{"success":[`+strings.Join(ops, ",")+`]}`).
		wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
}

func testLimits(t *testing.T, c *cluster) {
	u := c.leaderURL()
	// A value at kv's limit passes the body limit and fails kv's.
	do(t, http.MethodPut, u+"/v1/kv/big", strings.Repeat("v", kv.DefaultMaxValueBytes+1)).
		wantError(t, http.StatusRequestEntityTooLarge, server.CodeTooLarge)
	// A body above MaxBodyBytes is cut off while it is read.
	do(t, http.MethodPut, u+"/v1/kv/bigger", strings.Repeat("v", httpapi.DefaultMaxBodyBytes+1)).
		wantError(t, http.StatusRequestEntityTooLarge, server.CodeTooLarge)
	do(t, http.MethodPost, u+"/v1/txn", `{"success":[{"put":{"key":"k","value":"`+strings.Repeat("v", httpapi.DefaultMaxBodyBytes)+`"}}]}`).
		wantError(t, http.StatusRequestEntityTooLarge, server.CodeTooLarge)
	do(t, http.MethodPut, u+"/v1/kv/"+strings.Repeat("k", kv.DefaultMaxKeyBytes+1), "v").
		wantError(t, http.StatusRequestEntityTooLarge, server.CodeTooLarge)
	put(t, u, "fair-size", strings.Repeat("v", 256<<10))
}

func testBadQueries(t *testing.T, c *cluster) {
	u := c.leaderURL()
	for _, path := range []string{
		"/v1/kv/k?prefx=true",         // unknown parameter
		"/v1/kv/k?limit=1&limit=2",    // repeated
		"/v1/kv/k?serializable=maybe", // not a bool
		"/v1/kv/k?limit=-1",           // negative
		"/v1/kv/k?revision=1e3",       // not an integer
		"/v1/kv/k?sort_target=size",   // not a choice
		"/v1/kv/k?prefix=true&range_end=z",
		"/v1/kv?prefix=a&key=b",
		"/v1/kv?key=a&%zz", // malformed query
		"/v1/members?verbose=true",
	} {
		do(t, http.MethodGet, u+path, "").wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
	}
	r := do(t, http.MethodPatch, u+"/v1/kv/k", "")
	r.wantError(t, http.StatusMethodNotAllowed, server.CodeInvalidArgument)
	if r.header.Get("Allow") != "DELETE, GET, PUT" {
		t.Fatalf("Allow: %q", r.header.Get("Allow"))
	}
	do(t, http.MethodGet, u+"/v1/nothing", "").wantError(t, http.StatusNotFound, server.CodeInvalidArgument)
	do(t, http.MethodGet, u+"/", "").wantError(t, http.StatusNotFound, server.CodeInvalidArgument)
}

// testTimeout: a request that cannot finish in RequestTimeout answers
// 504 rather than hang; a write whose caller gave up before it was
// proposed is not proposed at all.
func testTimeout(t *testing.T, c *cluster) {
	u := c.serve(c.Leader(), httpapi.Options{RequestTimeout: 1}) // 1ns: expired before the node answers
	do(t, http.MethodGet, u+"/v1/kv/greeting", "").wantError(t, http.StatusGatewayTimeout, server.CodeTimeout)
	do(t, http.MethodPut, u+"/v1/kv/timeout", "x").wantError(t, http.StatusGatewayTimeout, server.CodeTimeout)
	// Had the timed-out put been proposed, it would be applied before this
	// one answers; the read after both does not find it.
	var put map[string]any
	do(t, http.MethodPut, c.leaderURL()+"/v1/kv/after-timeout", "y").decode(t, http.StatusOK, &put)
	do(t, http.MethodGet, c.leaderURL()+"/v1/kv/timeout", "").wantError(t, http.StatusNotFound, server.CodeNotFound)
}

func testStatusEndpoints(t *testing.T, c *cluster) {
	for name, u := range c.urls {
		for _, path := range []string{"/healthz", "/readyz"} {
			if r := do(t, http.MethodGet, u+path, ""); r.status != http.StatusOK {
				t.Fatalf("%s %s: %d %s", name, path, r.status, r.body)
			}
		}
		var st server.Status
		if r := do(t, http.MethodGet, u+"/v1/status", ""); r.status != http.StatusOK || json.Unmarshal(r.body, &st) != nil ||
			st.Name != name || st.Revision != r.revision(t) {
			t.Fatalf("%s /v1/status: %d %s", name, r.status, r.body)
		}
	}
	var m membersJSON
	do(t, http.MethodGet, c.followerURL()+"/v1/members", "").decode(t, http.StatusOK, &m)
	if len(m.Members) != 3 || m.Members[0].Name != "n1" || m.Members[0].ID == "" || m.Leader != c.Leader() {
		t.Fatalf("members: %+v", m)
	}
}

func testCompaction(t *testing.T, c *cluster) {
	u := c.leaderURL()
	first := put(t, u, "history", "old")
	second := put(t, u, "history", "new")
	var resp struct {
		Header          headerJSON `json:"header"`
		CompactRevision int64      `json:"compact_revision"`
	}
	do(t, http.MethodPost, u+"/v1/compact", fmt.Sprintf(`{"revision":%d,"physical":true}`, second.Header.Revision)).
		decode(t, http.StatusOK, &resp)
	if resp.CompactRevision != second.Header.Revision {
		t.Fatalf("compact: %+v", resp)
	}
	old := fmt.Sprintf("%s/v1/kv/history?revision=%d", c.followerURL(), first.Header.Revision)
	do(t, http.MethodGet, old, "").wantError(t, http.StatusGone, server.CodeCompacted)
	do(t, http.MethodPost, u+"/v1/compact", fmt.Sprintf(`{"revision":%d}`, first.Header.Revision)).
		wantError(t, http.StatusGone, server.CodeCompacted)
	do(t, http.MethodPost, u+"/v1/compact", `{"revision":99999999}`).
		wantError(t, http.StatusBadRequest, server.CodeFutureRevision)
	do(t, http.MethodGet, u+"/v1/kv/history?revision=99999999", "").
		wantError(t, http.StatusBadRequest, server.CodeFutureRevision)
	for _, body := range []string{`{"revision":0}`, `{"revision":-3}`, `{"rev":5}`, `{"revision":"5"}`} {
		do(t, http.MethodPost, u+"/v1/compact", body).wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
	}
	e := do(t, http.MethodGet, fmt.Sprintf("%s/v1/watch?key=history&start_revision=%d", u, first.Header.Revision), "").
		wantError(t, http.StatusGone, server.CodeCompacted)
	if e.Error.CompactRevision != second.Header.Revision {
		t.Fatalf("watch below the compaction: compact_revision %d, want %d", e.Error.CompactRevision, second.Header.Revision)
	}
	if r := get(t, fmt.Sprintf("%s/v1/kv/history?revision=%d", u, second.Header.Revision)); r.Kvs[0].Value != "new" {
		t.Fatalf("at the compaction revision: %+v", r)
	}
}
