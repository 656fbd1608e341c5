package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/internal/testcluster"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/httpapi"
)

// The wire format as docs/api.md states it, written out here rather than
// taken from the package, so that a change of the format fails the tests.

type headerJSON struct {
	Revision int64 `json:"revision"`
}

type kvJSON struct {
	Key            string `json:"key"`
	Value          string `json:"value"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
	Version        int64  `json:"version"`
	Lease          int64  `json:"lease"`
}

type rangeJSON struct {
	Header headerJSON `json:"header"`
	Kvs    []kvJSON   `json:"kvs"`
	Count  int64      `json:"count"`
	More   bool       `json:"more"`
}

type putJSON struct {
	Header headerJSON `json:"header"`
	PrevKv *kvJSON    `json:"prev_kv"`
}

type deleteJSON struct {
	Header  headerJSON `json:"header"`
	Deleted int64      `json:"deleted"`
	PrevKvs []kvJSON   `json:"prev_kvs"`
}

type txnJSON struct {
	Header    headerJSON `json:"header"`
	Succeeded bool       `json:"succeeded"`
	Responses []struct {
		Range  *rangeJSON  `json:"range"`
		Put    *putJSON    `json:"put"`
		Delete *deleteJSON `json:"delete"`
		Txn    *txnJSON    `json:"txn"`
	} `json:"responses"`
}

type errorJSON struct {
	Header headerJSON      `json:"header"`
	Error  errorDetailJSON `json:"error"`
}

type errorDetailJSON struct {
	Code            server.ErrorCode `json:"code"`
	Message         string           `json:"message"`
	Retryable       bool             `json:"retryable"`
	CompactRevision int64            `json:"compact_revision"`
}

type eventJSON struct {
	Type   string  `json:"type"`
	Kv     kvJSON  `json:"kv"`
	PrevKv *kvJSON `json:"prev_kv"`
}

type lineJSON struct {
	Header   headerJSON       `json:"header"`
	Created  bool             `json:"created"`
	Events   []eventJSON      `json:"events"`
	Progress bool             `json:"progress"`
	Canceled bool             `json:"canceled"`
	Error    *errorDetailJSON `json:"error"`
}

// cluster is an in-process cluster with an HTTP server per node.
type cluster struct {
	*testcluster.Cluster
	t    testing.TB
	opts httpapi.Options
	urls map[string]string
}

func startCluster(t testing.TB, opts httpapi.Options, names ...string) *cluster {
	t.Helper()
	c := &cluster{Cluster: testcluster.Start(t, names...), t: t, opts: opts, urls: map[string]string{}}
	for _, name := range names {
		c.urls[name] = c.serve(name, opts)
	}
	c.Leader()
	return c
}

// serve starts an HTTP server over node name's current Node and returns
// its URL.
func (c *cluster) serve(name string, opts httpapi.Options) string {
	srv := httptest.NewServer(httpapi.Handler(c.Nodes[name], opts))
	c.t.Cleanup(func() {
		srv.CloseClientConnections() // open watch streams
		srv.Close()
	})
	return srv.URL
}

// leaderURL and followerURL pick a node by role.
func (c *cluster) leaderURL() string { return c.urls[c.Leader()] }

func (c *cluster) followerURL() string {
	lead := c.Leader()
	for _, name := range c.Names {
		if _, running := c.Nodes[name]; running && name != lead {
			return c.urls[name]
		}
	}
	c.t.Fatal("no running follower")
	return ""
}

// result is one HTTP exchange.
type result struct {
	status int
	header http.Header
	body   []byte
}

var client = &http.Client{Timeout: 30 * time.Second}

// do sends a request as a client would: again, for up to 10 s, while
// the answer is a retryable 503 (a leader election under a loaded test
// machine), then returns the last answer.
func do(t testing.TB, method, url, body string, headers ...string) result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for attempt := 1; ; attempt++ {
		r := doOnce(t, method, url, body, headers...)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || time.Now().After(deadline) {
			return r
		}
		t.Logf("%s %s: %s; retrying", method, url, r.body)
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond) // back-off, as a client does
	}
}

// doOnce sends one request; every response must carry its revision in
// X-Natsraft-Revision, equal to the body's header.revision when it has one.
func doOnce(t testing.TB, method, url, body string, headers ...string) result {
	t.Helper()
	resp, err := client.Do(newRequest(t, method, url, body, headers...))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	r := result{status: resp.StatusCode, header: resp.Header, body: data}
	r.checkRevision(t, method+" "+url)
	return r
}

// newRequest builds a request; headers are name, value, name, value….
func newRequest(t testing.TB, method, url, body string, headers ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

func (r result) checkRevision(t testing.TB, what string) {
	t.Helper()
	rev, err := strconv.ParseInt(r.header.Get("X-Natsraft-Revision"), 10, 64)
	if err != nil {
		t.Fatalf("%s: X-Natsraft-Revision %q: %v", what, r.header.Get("X-Natsraft-Revision"), err)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		return
	}
	var h struct {
		Header *headerJSON `json:"header"`
	}
	if err := json.Unmarshal(r.body, &h); err == nil && h.Header != nil && h.Header.Revision != rev {
		t.Fatalf("%s: body revision %d, X-Natsraft-Revision %d", what, h.Header.Revision, rev)
	}
}

func (r result) revision(t testing.TB) int64 {
	rev, _ := strconv.ParseInt(r.header.Get("X-Natsraft-Revision"), 10, 64)
	return rev
}

// decode checks the status and decodes the body strictly: a field the
// test types do not know is a format change.
func (r result) decode(t testing.TB, wantStatus int, v any) {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("status %d, want %d; body %s", r.status, wantStatus, r.body)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// wantError checks an error response and returns it.
func (r result) wantError(t testing.TB, status int, code server.ErrorCode) errorJSON {
	t.Helper()
	var e errorJSON
	r.decode(t, status, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %s with a message", e.Error, code)
	}
	if got := r.header.Get("Retry-After") != ""; got != code.Retryable() || e.Error.Retryable != code.Retryable() {
		t.Fatalf("code %s: Retry-After %q, retryable %t", code, r.header.Get("Retry-After"), e.Error.Retryable)
	}
	return e
}

func put(t testing.TB, url, key, value string) putJSON {
	t.Helper()
	var p putJSON
	do(t, http.MethodPut, url+"/v1/kv/"+key, value).decode(t, http.StatusOK, &p)
	return p
}

func get(t testing.TB, url string) rangeJSON {
	t.Helper()
	var r rangeJSON
	do(t, http.MethodGet, url, "").decode(t, http.StatusOK, &r)
	return r
}

func keysOf(kvs []kvJSON) string {
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	return strings.Join(keys, ",")
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
