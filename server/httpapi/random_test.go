package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/httpapi"
)

var (
	randomSeed     = flag.Uint64("httpapi.seed", 0, "seed of TestRandomRequests (0: a new one)")
	randomRequests = flag.Int("httpapi.requests", 300, "number of requests of TestRandomRequests")
)

// knownCodes are the codes an error may carry.
var knownCodes = map[server.ErrorCode]bool{
	server.CodeNoLeader: true, server.CodeBusy: true, server.CodeStopped: true, server.CodeLeaderChanged: true,
	server.CodeTimeout: true, server.CodeCompacted: true, server.CodeFutureRevision: true,
	server.CodeInvalidArgument: true, server.CodeTooLarge: true, server.CodeNotFound: true, server.CodeMembership: true,
}

// TestRandomRequests sends random and malformed requests: each gets a
// JSON answer (an error with a known code unless it succeeded), never a
// 500, and the nodes keep running and taking writes. A failure prints
// the seed; -httpapi.seed replays it.
func TestRandomRequests(t *testing.T) {
	seed := *randomSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: go test -run TestRandomRequests ./server/httpapi/ -httpapi.seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const maxWatches = 4
	c := startCluster(t, httpapi.Options{RequestTimeout: 2 * time.Second, MaxWatches: maxWatches,
		WatchProgressInterval: time.Minute}, "n1", "n2", "n3")
	statuses := map[int]int{}
	for i := range *randomRequests {
		name := c.Names[rng.IntN(len(c.Names))]
		req := randomRequest(rng, c.urls[name])
		if req == nil {
			continue
		}
		status, err := checkRandomResponse(req)
		if err != nil {
			t.Fatalf("seed %d, request %d (%s %s): %v", seed, i, req.Method, req.URL, err)
		}
		statuses[status]++
	}
	t.Logf("statuses: %v", statuses)
	for name, u := range c.urls {
		// Every stream ended with its client: a stream that outlived it
		// would hold its slot until its next write (a minute away).
		c.WaitFor("free watch slots on "+name, func() bool {
			for range maxWatches {
				ws, _ := tryWatch(t, u+"/v1/watch?key=w")
				if ws == nil {
					return false
				}
				defer ws.close()
			}
			return true
		})
	}
	for name, n := range c.Nodes {
		select {
		case <-n.Done():
			t.Fatalf("seed %d: node %s stopped: %v", seed, name, n.Err())
		default:
		}
	}
	put(t, c.followerURL(), "still-writable", "yes")
}

// checkRandomResponse sends req and checks the answer.
func checkRandomResponse(req *http.Request) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := streamClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, checkRandomAnswer(req, resp)
}

func checkRandomAnswer(req *http.Request, resp *http.Response) error {
	if resp.Header.Get("X-Natsraft-Revision") == "" {
		return fmt.Errorf("status %d without X-Natsraft-Revision", resp.StatusCode)
	}
	if resp.StatusCode == http.StatusInternalServerError {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("internal error: %s", body)
	}
	switch {
	case req.Method == http.MethodHead:
		return nil
	case !strings.HasPrefix(req.URL.Path, "/v1/") || req.URL.Path == "/v1/status":
		return nil // server.StatusHandler's own answers
	case resp.StatusCode == http.StatusOK && req.URL.Path == "/v1/watch":
		return checkCreatedLine(resp)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("status %d with Content-Type %q: %s", resp.StatusCode, ct, body)
	}
	return checkJSONLine(body, resp.StatusCode)
}

// checkCreatedLine reads the first line of a watch stream.
func checkCreatedLine(resp *http.Response) error {
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("watch: %v", err)
		}
		if resp.Header.Get("Content-Type") != "text/event-stream" {
			return checkJSONLine(line, resp.StatusCode)
		}
		if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			return checkJSONLine(data, resp.StatusCode)
		}
	}
}

func checkJSONLine(body []byte, status int) error {
	var e struct {
		Header *headerJSON      `json:"header"`
		Error  *errorDetailJSON `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return fmt.Errorf("status %d, body not JSON (%v): %q", status, err, body)
	}
	switch {
	case e.Header == nil:
		return fmt.Errorf("status %d without a header: %s", status, body)
	case status >= 400 && (e.Error == nil || !knownCodes[e.Error.Code] || e.Error.Message == ""):
		return fmt.Errorf("status %d without a known error: %s", status, body)
	}
	return nil
}

// randomEndpoints are the endpoints with the parameters they take; most
// random requests aim at one, so that they get past routing.
var randomEndpoints = []struct {
	method, path string
	params       []string
}{
	{"GET", "/v1/kv/", []string{"prefix", "range_end", "revision", "limit", "keys_only", "count_only", "serializable", "sort_order", "sort_target"}},
	{"PUT", "/v1/kv/", []string{"prev_kv", "lease"}},
	{"DELETE", "/v1/kv/", []string{"prefix", "range_end", "prev_kv"}},
	{"GET", "/v1/kv", []string{"key", "prefix", "range_end", "revision", "limit", "count_only", "serializable", "sort_target"}},
	{"DELETE", "/v1/kv", []string{"key", "prefix", "range_end", "prev_kv"}},
	{"POST", "/v1/txn", nil},
	{"POST", "/v1/compact", nil},
	{"GET", "/v1/watch", []string{"key", "prefix", "range_end", "start_revision", "prev_kv", "no_put", "no_delete"}},
	{"GET", "/v1/members", nil},
	{"POST", "/v1/members", nil},
}

var (
	randomMethods = []string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"}
	randomPaths   = []string{"/v1/status", "/healthz", "/readyz", "/v1/", "/v1/kv/%FF%00/..", "/v1/kv//a//b",
		"/v2/kv/a", "/v1/txn/x", "/"}
	randomParams = []string{"key", "prefix", "range_end", "revision", "limit", "start_revision", "bogus"}
	randomValues = []string{"", "", "true", "false", "0", "1", "-1", "7", "99999999999999999999", "base64",
		"descend", "value", "k", "a/", "\x00", "\xff\xfe", "QUJD", "=", "&", "1.5", " "}
	randomKeys = []string{"k", "a/1", "a/2", "w", "a/"}
)

// randomRequest builds a request to base, or nil if Go refuses to.
func randomRequest(rng *rand.Rand, base string) *http.Request {
	ep := randomEndpoints[rng.IntN(len(randomEndpoints))]
	method, path, params := ep.method, ep.path, ep.params
	if rng.IntN(5) == 0 {
		method, params = randomMethods[rng.IntN(len(randomMethods))], randomParams
		if rng.IntN(2) == 0 {
			path = randomPaths[rng.IntN(len(randomPaths))]
		}
	}
	if path == "/v1/kv/" {
		path += randomKey(rng)
	}
	q := url.Values{}
	if rng.IntN(3) == 0 {
		q.Set("encoding", "base64")
	}
	for range rng.IntN(4) {
		if len(params) > 0 {
			q.Set(params[rng.IntN(len(params))], randomValues[rng.IntN(len(randomValues))])
		}
	}
	if path == "/v1/watch" && !q.Has("key") && !q.Has("prefix") {
		q.Set("key", "w") // often a valid watch
	}
	query := q.Encode()
	if rng.IntN(10) == 0 {
		query += "&%zz=1" // malformed
	}
	req, err := http.NewRequest(method, base+path+"?"+query, strings.NewReader(randomBody(rng, path)))
	if err != nil {
		return nil
	}
	if rng.IntN(4) == 0 {
		req.Header.Set("Accept", "text/event-stream")
	}
	if rng.IntN(8) == 0 {
		ids := []string{"3", "-1", "abc", "99999999999999999999", "1.5"}
		req.Header.Set("Last-Event-ID", ids[rng.IntN(len(ids))])
	}
	return req
}

func randomKey(rng *rand.Rand) string {
	if rng.IntN(2) == 0 {
		return randomKeys[rng.IntN(len(randomKeys))]
	}
	b := make([]byte, rng.IntN(12))
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return url.PathEscape(string(b))
}

// randomBody is a body for path: often a plausible JSON document with
// random values in random places, sometimes garbage, rarely huge.
func randomBody(rng *rand.Rand, path string) string {
	switch rng.IntN(10) {
	case 0:
		return ""
	case 1:
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	case 2:
		if rng.IntN(10) == 0 {
			return strings.Repeat("x", httpapi.DefaultMaxBodyBytes+1)
		}
	}
	switch path {
	case "/v1/kv/", "/v1/kv", "/v1/watch":
		return randomKeys[rng.IntN(len(randomKeys))]
	case "/v1/compact":
		return fmt.Sprintf(`{"revision":%s,"physical":%s}`, randomJSONValue(rng), randomJSONValue(rng))
	case "/v1/members":
		// Never a real member, and no promotion of the learners added: the
		// cluster must keep its quorum (they do not run).
		actions := []string{"add-learner", "remove", "evict", "", "promote", "transfer-leader"}
		action := actions[rng.IntN(len(actions))]
		prefix := "x"
		if action == "promote" || action == "transfer-leader" {
			prefix = "y"
		}
		return fmt.Sprintf(`{"action":%q,"name":"%s%d"}`, action, prefix, rng.IntN(3))
	}
	return randomTxn(rng, 0)
}

func randomTxn(rng *rand.Rand, depth int) string {
	targets := []string{"value", "version", "create_revision", "mod_revision", "lease", "size"}
	results := []string{"=", "!=", "<", ">", "=="}
	var cmps, ops []string
	for range rng.IntN(3) {
		target := targets[rng.IntN(len(targets))]
		cmps = append(cmps, fmt.Sprintf(`{"key":%s,"target":%q,"result":%q,%q:%s}`, randomJSONValue(rng),
			target, results[rng.IntN(len(results))], targets[rng.IntN(len(targets))], randomJSONValue(rng)))
	}
	for range rng.IntN(4) {
		switch rng.IntN(5) {
		case 0:
			ops = append(ops, fmt.Sprintf(`{"put":{"key":%s,"value":%s,"prev_kv":%s}}`,
				randomJSONValue(rng), randomJSONValue(rng), randomJSONValue(rng)))
		case 1:
			ops = append(ops, fmt.Sprintf(`{"range":{"key":%s,"prefix":%s,"limit":%s,"revision":%s}}`,
				randomJSONValue(rng), randomJSONValue(rng), randomJSONValue(rng), randomJSONValue(rng)))
		case 2:
			ops = append(ops, fmt.Sprintf(`{"delete":{"key":%s,"range_end":%s}}`, randomJSONValue(rng), randomJSONValue(rng)))
		case 3:
			if depth < 3 {
				ops = append(ops, `{"txn":`+randomTxn(rng, depth+1)+`}`)
			}
		case 4:
			ops = append(ops, `{}`)
		}
	}
	return fmt.Sprintf(`{"compare":[%s],"success":[%s],"failure":[]}`, strings.Join(cmps, ","), strings.Join(ops, ","))
}

func randomJSONValue(rng *rand.Rand) string {
	values := []string{`"k"`, `"a/"`, `""`, `"QUJD"`, `"\u0000"`, `0`, `1`, `-1`, `7`, `1e3`, `true`, `null`,
		`[]`, `{}`, `"x"`, `99999999999999999999`}
	return values[rng.IntN(len(values))]
}
