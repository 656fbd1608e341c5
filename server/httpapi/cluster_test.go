package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/httpapi"
)

type membersJSON struct {
	Header  headerJSON `json:"header"`
	Leader  string     `json:"leader"`
	Members []struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Learner bool   `json:"learner"`
	} `json:"members"`
}

// learner reports whether name is a member of u's view, and a learner.
func memberState(t *testing.T, u, name string) (member, learner bool) {
	var m membersJSON
	do(t, http.MethodGet, u+"/v1/members", "").decode(t, http.StatusOK, &m)
	for _, mm := range m.Members {
		if mm.Name == name {
			return true, mm.Learner
		}
	}
	return false, false
}

func changeMember(t *testing.T, u, action, name string) result {
	return do(t, http.MethodPost, u+"/v1/members", fmt.Sprintf(`{"action":%q,"name":%q}`, action, name))
}

func TestMembers(t *testing.T) {
	c := startCluster(t, httpapi.Options{}, "n1", "n2", "n3")
	u := c.followerURL() // forwarded to the leader
	accepted := func(action, name string) {
		t.Helper()
		var resp struct {
			Header headerJSON `json:"header"`
			Action string     `json:"action"`
			Name   string     `json:"name"`
		}
		changeMember(t, u, action, name).decode(t, http.StatusAccepted, &resp)
		if resp.Action != action || resp.Name != name {
			t.Fatalf("%s %s: %+v", action, name, resp)
		}
	}
	accepted("add-learner", "n4")
	c.WaitFor("n4 as a learner", func() bool { m, l := memberState(t, u, "n4"); return m && l })
	changeMember(t, u, "add-learner", "n4").wantError(t, http.StatusConflict, server.CodeMembership)
	// Only a running, caught-up learner is promoted: start n4.
	n4 := c.StartNode("n4", server.Config{Join: []string{"n1", "n2", "n3"}})
	c.WaitFor("n4 to catch up", func() bool { return n4.Status().AppliedIndex >= c.Nodes[c.Leader()].Status().CommitIndex })
	accepted("promote", "n4")
	c.WaitFor("n4 as a voter", func() bool { m, l := memberState(t, u, "n4"); return m && !l })
	changeMember(t, u, "promote", "n4").wantError(t, http.StatusConflict, server.CodeMembership)
	accepted("remove", "n4")
	c.WaitFor("n4 removed", func() bool { m, _ := memberState(t, u, "n4"); return !m })
	changeMember(t, u, "remove", "n4").wantError(t, http.StatusConflict, server.CodeMembership)
	changeMember(t, u, "transfer-leader", "n9").wantError(t, http.StatusConflict, server.CodeMembership)

	// The transfer is asked of the third node, neither the leader nor the
	// target: the request must travel to the leader.
	lead := c.Leader()
	var others []string
	for _, name := range c.Names {
		if name != lead {
			others = append(others, name)
		}
	}
	target, via := others[0], others[1]
	var resp struct {
		Header       headerJSON `json:"header"`
		Action, Name string
	}
	changeMember(t, c.urls[via], "transfer-leader", target).decode(t, http.StatusAccepted, &resp)
	c.WaitFor("the transfer to "+target+" asked of "+via, func() bool { return c.Nodes[lead].Status().Leader == target })

	for _, body := range []string{
		`{"action":"evict","name":"n2"}`,
		`{"action":"remove","name":""}`,
		`{"action":"remove","name":"n 2"}`,
		`{"action":"remove","name":"n2","force":true}`,
		`{"action":"remove"}`,
		`not json`,
	} {
		do(t, http.MethodPost, u+"/v1/members", body).wantError(t, http.StatusBadRequest, server.CodeInvalidArgument)
	}
}

// TestNoLeader: with two of three nodes down, requests that need a leader
// get 503 with Retry-After (or 504 while the node still believes in the
// old leader) within RequestTimeout; serializable reads still work.
func TestNoLeader(t *testing.T) {
	const timeout = 500 * time.Millisecond
	c := startCluster(t, httpapi.Options{RequestTimeout: timeout}, "n1", "n2", "n3")
	survivor := c.followerURL()
	p := put(t, survivor, "before", "x")
	get(t, survivor+"/v1/kv/before") // applied on the survivor
	var survivorName string
	for name, u := range c.urls {
		if u == survivor {
			survivorName = name
		} else {
			c.StopNode(name)
		}
	}
	// Until its election timeout the survivor may forward to the dead
	// leader: then the request times out (504), it never hangs.
	start := time.Now()
	if r := doOnce(t, http.MethodPut, survivor+"/v1/kv/during", "x"); r.status != http.StatusServiceUnavailable && r.status != http.StatusGatewayTimeout {
		t.Fatalf("put right after the loss: %d %s", r.status, r.body)
	}
	if elapsed := time.Since(start); elapsed > timeout+2*time.Second {
		t.Fatalf("the put took %v with a %v timeout", elapsed, timeout)
	}
	c.WaitFor("the survivor to know it has no leader", func() bool {
		return c.Nodes[survivorName].Status().Leader == "none"
	})
	doOnce(t, http.MethodPut, survivor+"/v1/kv/after", "x").wantError(t, http.StatusServiceUnavailable, server.CodeNoLeader)
	doOnce(t, http.MethodGet, survivor+"/v1/kv/before", "").wantError(t, http.StatusServiceUnavailable, server.CodeNoLeader)
	doOnce(t, http.MethodPost, survivor+"/v1/txn", `{}`).wantError(t, http.StatusServiceUnavailable, server.CodeNoLeader)
	if r := get(t, survivor+"/v1/kv/before?serializable=true"); r.Kvs[0].ModRevision != p.Header.Revision {
		t.Fatalf("serializable read without a leader: %+v", r)
	}
	if r := doOnce(t, http.MethodGet, survivor+"/readyz", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz without a leader: %d", r.status)
	}
}

// TestValueAtTheLimitLeavesTheClusterWritable: a value just below kv's
// request limit is either stored (200) or refused (413), and the cluster
// takes writes afterwards. A write the node accepts but the transport
// cannot carry would stay at the head of the log and wedge every later
// write.
func TestValueAtTheLimitLeavesTheClusterWritable(t *testing.T) {
	c := startCluster(t, httpapi.Options{}, "n1", "n2", "n3")
	u := c.leaderURL()
	r := do(t, http.MethodPut, u+"/v1/kv/almost-big", strings.Repeat("v", kv.DefaultMaxRequestBytes-1024))
	if r.status != http.StatusOK && r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a value at the limit: %d %s", r.status, r.body)
	}
	put(t, c.followerURL(), "after", "ok")
}
