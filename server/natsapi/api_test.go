package natsapi_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
	"github.com/natsraft/natsraft/server/natsapi/natsapitest"
)

// api sends requests by hand, as `nats req` does.
type api struct {
	t       *testing.T
	nc      *nats.Conn
	cluster string
}

// newAPI waits for a leader: requests by hand are not retried.
func newAPI(t *testing.T, c *natsapitest.Cluster) *api {
	c.Leader()
	return &api{t: t, nc: c.Conn(), cluster: c.Name()}
}

// raw sends body to endpoint with the given headers and returns the reply.
func (a *api) raw(endpoint string, body []byte, header nats.Header) *nats.Msg {
	a.t.Helper()
	m := nats.NewMsg(natsapi.Subject(a.cluster, endpoint))
	m.Data = body
	for k, v := range header {
		m.Header[k] = v
	}
	reply, err := a.nc.RequestMsg(m, 10*time.Second)
	if err != nil {
		a.t.Fatalf("%s %.80q: %v", endpoint, body, err)
	}
	return reply
}

// ok sends a JSON body, requires success, and decodes the reply into out.
func (a *api) ok(endpoint, body string, out any) int64 {
	a.t.Helper()
	reply := a.raw(endpoint, []byte(body), nil)
	if code := reply.Header.Get(natsapi.HeaderErrorCode); code != "" {
		a.t.Fatalf("%s %.80q: error %s: %s", endpoint, body, code, reply.Header.Get(natsapi.HeaderError))
	}
	if ct := reply.Header.Get(natsapi.HeaderContentType); ct != natsapi.ContentTypeJSON {
		a.t.Fatalf("%s: Content-Type %q, want JSON", endpoint, ct)
	}
	if out != nil {
		reflect.ValueOf(out).Elem().SetZero()
		if err := json.Unmarshal(reply.Data, out); err != nil {
			a.t.Fatalf("%s: reply %s: %v", endpoint, reply.Data, err)
		}
	}
	return revisionOf(a.t, reply)
}

// fail sends a JSON body and requires the error code want.
func (a *api) fail(endpoint, body, want string) *nats.Msg {
	a.t.Helper()
	return a.failRaw(endpoint, []byte(body), nil, want)
}

func (a *api) failRaw(endpoint string, body []byte, header nats.Header, want string) *nats.Msg {
	a.t.Helper()
	reply := a.raw(endpoint, body, header)
	code := reply.Header.Get(natsapi.HeaderErrorCode)
	if code != want {
		a.t.Fatalf("%s %.80q: code %q (%s), want %q", endpoint, body, code, reply.Header.Get(natsapi.HeaderError), want)
	}
	if reply.Header.Get(natsapi.HeaderError) == "" {
		a.t.Fatalf("%s: error %s without a description", endpoint, code)
	}
	var eb natsapi.ErrorBody
	if err := json.Unmarshal(reply.Data, &eb); err != nil || string(eb.Code) != want || eb.Message == "" {
		a.t.Fatalf("%s: error body %s (%v)", endpoint, reply.Data, err)
	}
	revisionOf(a.t, reply)
	return reply
}

func revisionOf(t *testing.T, reply *nats.Msg) int64 {
	t.Helper()
	rev, err := strconv.ParseInt(reply.Header.Get(natsapi.HeaderRevision), 10, 64)
	if err != nil || rev < 1 {
		t.Fatalf("reply without a valid %s header: %v", natsapi.HeaderRevision, reply.Header)
	}
	return rev
}

func TestServiceIsDiscoverable(t *testing.T) {
	c := natsapitest.Start(t, natsapi.Options{}, "n1", "n2", "n3")
	nc := c.Conn()
	subject, err := micro.ControlSubject(micro.InfoVerb, natsapi.ServiceName, "")
	if err != nil {
		t.Fatal(err)
	}
	replies, err := nc.SubscribeSync(nc.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest(subject, replies.Subject, nil); err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for len(nodes) < 3 {
		m, err := replies.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%d of 3 nodes answered micro INFO: %v", len(nodes), err)
		}
		var info micro.Info
		if err := json.Unmarshal(m.Data, &info); err != nil {
			t.Fatal(err)
		}
		nodes[info.Metadata["node"]] = true
		subjects := map[string]bool{}
		for _, e := range info.Endpoints {
			subjects[e.Subject] = e.QueueGroup == natsapi.QueueGroup
		}
		for _, e := range natsapi.Endpoints {
			if !subjects[natsapi.Subject(c.Name(), e)] {
				t.Errorf("node %s: endpoint %s missing or not in queue group %s: %+v",
					info.Metadata["node"], e, natsapi.QueueGroup, info.Endpoints)
			}
		}
	}
}

func TestJSONKeyValueEndpoints(t *testing.T) {
	c := natsapitest.Start(t, natsapi.Options{}, "n1", "n2", "n3")
	a := newAPI(t, c)

	var put natsapi.PutResponseJSON
	rev1 := a.ok("put", `{"key":"app/a","value":"1"}`, &put)
	if put.Header.Revision != rev1 {
		t.Fatalf("put: body revision %d, header %d", put.Header.Revision, rev1)
	}
	a.ok("put", `{"key":"app/b","value":"2"}`, nil)
	a.ok("put", `{"key":"other","value_b64":"AP8="}`, nil) // bytes 0x00 0xff
	rev := a.ok("put", `{"key":"app/a","value":"1b","prev_kv":true}`, &put)
	if put.PrevKv == nil || *put.PrevKv.Value != "1" || put.PrevKv.ModRevision != rev1 {
		t.Fatalf("put prev_kv: %+v", put.PrevKv)
	}

	var rng natsapi.RangeResponseJSON
	a.ok("range", `{"key":"app/a"}`, &rng)
	if len(rng.Kvs) != 1 || *rng.Kvs[0].Value != "1b" || rng.Kvs[0].Version != 2 || rng.Header.Revision != rev {
		t.Fatalf("range one key: %+v", rng)
	}
	a.ok("range", `{"key":"app/","prefix":true,"serializable":true}`, &rng)
	if rng.Count != 2 || rng.Kvs[0].Key != "app/a" || rng.Kvs[1].Key != "app/b" {
		t.Fatalf("range prefix: %+v", rng)
	}
	a.ok("range", `{"prefix":true,"limit":2}`, &rng)
	if rng.Count != 3 || len(rng.Kvs) != 2 || !rng.More {
		t.Fatalf("range all with limit: %+v", rng)
	}
	a.ok("range", `{"key":"other"}`, &rng)
	if len(rng.Kvs) != 1 || rng.Kvs[0].Value != nil || rng.Kvs[0].ValueB64 != "AP8=" {
		t.Fatalf("binary value not in value_b64: %+v", rng.Kvs)
	}
	a.ok("range", `{"key":"app/a","revision":`+strconv.FormatInt(rev1, 10)+`}`, &rng)
	if *rng.Kvs[0].Value != "1" {
		t.Fatalf("range at revision %d: %+v", rev1, rng.Kvs)
	}
	a.ok("range", `{"key":"app/","range_end":"app/b","keys_only":true}`, &rng)
	if len(rng.Kvs) != 1 || rng.Kvs[0].Key != "app/a" || *rng.Kvs[0].Value != "" {
		t.Fatalf("range [app/, app/b) keys only: %+v", rng.Kvs)
	}

	var txn natsapi.TxnResponseJSON
	a.ok("txn", fmt.Sprintf(`{"compare":[{"key":"app/a","mod_revision":%d}],
		"success":[{"put":{"key":"app/c","value":"3"}},{"range":{"key":"app/","prefix":true,"count_only":true}}],
		"failure":[{"range":{"key":"app/a"}}]}`, rev), &txn)
	if !txn.Succeeded || len(txn.Responses) != 2 || txn.Responses[1].Range.Count != 3 {
		t.Fatalf("txn on the current mod revision: %+v", txn)
	}
	a.ok("txn", `{"compare":[{"key":"app/a","target":"value","result":"!=","value":"1b"}],
		"success":[{"delete":{"key":"app/a"}}],"failure":[{"range":{"key":"app/a"}}]}`, &txn)
	if txn.Succeeded || *txn.Responses[0].Range.Kvs[0].Value != "1b" {
		t.Fatalf("txn with a false compare: %+v", txn)
	}

	var del natsapi.DeleteResponseJSON
	a.ok("delete", `{"key":"app/","prefix":true,"prev_kv":true}`, &del)
	if del.Deleted != 3 || len(del.PrevKvs) != 3 {
		t.Fatalf("delete prefix: %+v", del)
	}
	var cmp natsapi.CompactResponseJSON
	last := a.ok("compact", `{"revision":`+strconv.FormatInt(rev, 10)+`}`, &cmp)
	a.fail("range", `{"key":"app/a","revision":`+strconv.FormatInt(rev1, 10)+`}`, "compacted")
	a.fail("range", `{"key":"app/a","revision":`+strconv.FormatInt(last+100, 10)+`}`, "future_revision")
	a.fail("put", `{"key":"nope","ignore_value":true}`, "not_found")
}

func TestJSONStatusAndMembers(t *testing.T) {
	c := natsapitest.Start(t, natsapi.Options{}, "n1", "n2", "n3")
	a := newAPI(t, c)
	lead := c.Leader()
	var st struct {
		Name, Role, Leader string
		CommitIndex        uint64 `json:"commit_index"`
	}
	a.ok("status", ``, &st)
	if st.Leader != lead || st.CommitIndex == 0 || st.Name == "" {
		t.Fatalf("status: %+v (leader %s)", st, lead)
	}
	var ms natsapi.MembersResponse
	a.ok("members", ``, &ms)
	if len(ms.Members) != 3 {
		t.Fatalf("members: %+v", ms)
	}
	a.fail("members.remove", `{}`, "invalid_argument")
	a.fail("members.transfer-leader", `{"name":""}`, "invalid_argument")
}

// TestMembershipLifecycle adds a learner, starts it, promotes it, moves
// the leadership to it and back, and removes it.
func TestMembershipLifecycle(t *testing.T) {
	c := natsapitest.Start(t, natsapi.Options{}, "n1", "n2", "n3")
	a := newAPI(t, c)
	a.ok("members.add-learner", `{"name":"n4"}`, nil)
	c.WaitFor("n4 listed as a learner", func() bool { return memberIs(a, "n4", true) })
	n1 := c.Nodes["n1"]
	n4 := c.StartNode("n4", server.Config{Join: []string{"n1", "n2", "n3"}})
	// Polled: catching up is Raft traffic, with no event to wait on.
	c.WaitFor("n4 to catch up", func() bool { return n4.Status().AppliedIndex >= n1.Status().CommitIndex })
	a.ok("members.promote", `{"name":"n4"}`, nil)
	c.WaitFor("n4 listed as a voter", func() bool { return memberIs(a, "n4", false) })
	c.WaitFor("n4 to know it votes", func() bool { return n4.Status().Role == "follower" })
	transfer(c, a, "n4", func() bool { return n1.Status().Leader == "n4" })
	transfer(c, a, "n1", func() bool { return n1.Status().Role == "leader" })
	// A change forwarded to a leader that refuses it (the leader is new)
	// fails at the request's deadline: ask until it is done.
	repeat(c, "n4 removed", func() { a.raw("members.remove", []byte(`{"name":"n4"}`), nil) }, func() bool {
		var ms natsapi.MembersResponse
		a.ok("members", ``, &ms)
		return len(ms.Members) == 3
	})
}

// transfer asks for a leadership transfer until done: a transfer the
// leader could not complete within an election timeout is abandoned.
func transfer(c *natsapitest.Cluster, a *api, to string, done func() bool) {
	repeat(c, to+" to lead", func() { a.ok("members.transfer-leader", `{"name":"`+to+`"}`, nil) }, done)
}

// repeat does act every second until done holds (polled: the cluster
// completes these asynchronously, with no event to wait on).
func repeat(c *natsapitest.Cluster, what string, act func(), done func() bool) {
	last := time.Time{}
	c.WaitFor(what, func() bool {
		if time.Since(last) > time.Second {
			act()
			last = time.Now()
		}
		return done()
	})
}

func memberIs(a *api, name string, learner bool) bool {
	var ms natsapi.MembersResponse
	a.ok("members", ``, &ms)
	for _, m := range ms.Members {
		if m.Name == name {
			return m.IsLearner == learner
		}
	}
	return false
}

func TestBadRequestsGetErrors(t *testing.T) {
	c := natsapitest.Start(t, natsapi.Options{MaxRequestBytes: 64 << 10}, "n1", "n2", "n3")
	a := newAPI(t, c)
	mp := nats.Header{natsapi.HeaderContentType: {natsapi.ContentTypeMsgpack}}
	for _, tc := range []struct {
		endpoint string
		body     []byte
		header   nats.Header
		code     string
	}{
		{"put", []byte(`{"key":"a","value":`), nil, "invalid_argument"},
		{"put", []byte(`not json`), nil, "invalid_argument"},
		{"put", []byte(``), nil, "invalid_argument"},
		{"put", []byte(`{"key":"a","valeu":"typo"}`), nil, "invalid_argument"},
		{"put", []byte(`{"key":"a","value":"b"} {}`), nil, "invalid_argument"},
		{"put", []byte(`{"value":"b"}`), nil, "invalid_argument"},
		{"put", []byte(`{"key":"a","key_b64":"YQ=="}`), nil, "invalid_argument"},
		{"put", []byte(`{"key_b64":"%%%"}`), nil, "invalid_argument"},
		{"range", []byte(`{"key":"a","prefix":true,"range_end":"b"}`), nil, "invalid_argument"},
		{"range", []byte(`{"key":"a","sort_order":"sideways"}`), nil, "invalid_argument"},
		{"txn", []byte(`{"success":[{}]}`), nil, "invalid_argument"},
		{"txn", []byte(`{"compare":[{"key":"a"}]}`), nil, "invalid_argument"},
		{"txn", []byte(`{"compare":[{"key":"a","target":"mod"}]}`), nil, "invalid_argument"},
		{"txn", []byte(`{"success":[{"put":{"key":"a"}},{"put":{"key":"a"}}]}`), nil, "invalid_argument"},
		{"txn", tooManyOps(200), nil, "invalid_argument"},
		{"txn", nestedTxn(40), nil, "invalid_argument"},
		{"watch", []byte(`{"key":"a","inbox":"bad inbox"}`), nil, "invalid_argument"},
		{"watch", []byte(`{"key":"a","inbox":"x.>"}`), nil, "invalid_argument"},
		{"watch", []byte(`{"key":"a","inbox":"x","credits":-1}`), nil, "invalid_argument"},
		{"watch", []byte(`{"key":"a","inbox":"x","heartbeat_ms":1}`), nil, "invalid_argument"},
		{"put", []byte(`{"key":"` + strings.Repeat("k", 40<<10) + `"}`), nil, "too_large"},
		{"put", []byte(`{"key":"a","value":"` + strings.Repeat("v", 70<<10) + `"}`), nil, "too_large"},
		{"put", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, mp, "invalid_argument"}, // a 4G-element array
		{"put", []byte{0x94, 0xa1}, mp, "invalid_argument"},                   // truncated
		{"put", []byte{0xc1}, mp, "invalid_argument"},                         // never-used code
		{"range", []byte{0x81, 0xa3, 'k', 'e', 'y', 0xcc, 0x01}, mp, "invalid_argument"},
		{"txn", deepMsgpack(10000), mp, "invalid_argument"},
		{"put", []byte{0x93, 0x01, 0x02, 0x03, 0x04}, mp, "invalid_argument"}, // trailing byte
	} {
		a.failRaw(tc.endpoint, tc.body, tc.header, tc.code)
	}
	// The node still serves.
	a.ok("put", `{"key":"a","value":"b"}`, nil)
}

func tooManyOps(n int) []byte {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"put":{"key":"k%d","value":"v"}}`, i)
	}
	return []byte(`{"success":[` + strings.Join(ops, ",") + `]}`)
}

func nestedTxn(depth int) []byte {
	return []byte(strings.Repeat(`{"success":[{"txn":`, depth) + `{}` + strings.Repeat(`}]}`, depth))
}

// deepMsgpack nests single-element arrays depth deep.
func deepMsgpack(depth int) []byte {
	b := make([]byte, depth+1)
	for i := range depth {
		b[i] = 0x91
	}
	b[depth] = 0xc0
	return b
}

func TestResponseTooLargeIsAnError(t *testing.T) {
	c := natsapitest.Start(t, natsapi.Options{}, "n1", "n2", "n3")
	a := newAPI(t, c)
	// Values just under the request limit, until the range exceeds the
	// server's max payload.
	value := strings.Repeat("v", 1<<20)
	count := int(c.Connect("sizer").MaxPayload())/len(value) + 2
	for i := range count {
		a.ok("put", fmt.Sprintf(`{"key":"big/%02d","value":"%s"}`, i, value), nil)
	}
	a.fail("range", `{"key":"big/","prefix":true}`, "too_large")
	var rng natsapi.RangeResponseJSON
	a.ok("range", `{"key":"big/","prefix":true,"limit":5}`, &rng)
	if len(rng.Kvs) != 5 || !rng.More || rng.Count != int64(count) {
		t.Fatalf("range with limit: %d kvs, more %v, count %d", len(rng.Kvs), rng.More, rng.Count)
	}
}

// TestNoLeader stops two of three nodes: the last one refuses writes and
// linearizable reads with no_leader, and still serves serializable reads.
func TestNoLeader(t *testing.T) {
	c := natsapitest.Start(t, natsapi.Options{RequestTimeout: 2 * time.Second}, "n1", "n2", "n3")
	a := newAPI(t, c)
	a.ok("put", `{"key":"a","value":"b"}`, nil)
	lead := c.Leader()
	survivor := ""
	for _, name := range c.Names {
		if name != lead && survivor == "" {
			survivor = name
			continue
		}
		c.StopNode(name)
	}
	// Polled: the survivor's election timeout has no event to wait on.
	c.WaitFor("the survivor to know it has no leader", func() bool {
		return c.Nodes[survivor].Status().Leader == "none"
	})
	a.fail("put", `{"key":"a","value":"c"}`, "no_leader")
	a.fail("range", `{"key":"a"}`, "no_leader")
	var rng natsapi.RangeResponseJSON
	a.ok("range", `{"key":"a","serializable":true}`, &rng)
	if len(rng.Kvs) != 1 || *rng.Kvs[0].Value != "b" {
		t.Fatalf("serializable read on the survivor: %+v", rng)
	}
}
