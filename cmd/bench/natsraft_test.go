package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
	"github.com/natsraft/natsraft/server/natsapi/natsapitest"
)

// startInProcessNatsraft is a 3-node in-process cluster serving the NATS
// API, each node's status and metrics on an httptest server, as a System.
func startInProcessNatsraft(t *testing.T) *natsraftSystem {
	t.Helper()
	names := []string{"n1", "n2", "n3"}
	c := natsapitest.Start(t, natsapi.Options{}, names...)
	var urls []string
	for _, name := range names {
		srv := httptest.NewServer(server.StatusHandler(c.Nodes[name]))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sys, err := connectNatsraft(ctx, c.NATS.ClientURL(), c.Name(), urls)
	if err != nil {
		t.Fatal(err)
	}
	return sys.(*natsraftSystem)
}

func TestNatsraftTargetPutsAndGets(t *testing.T) {
	sys := startInProcessNatsraft(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := sys.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if err := tg.Put(ctx, []byte("k1"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	for _, lin := range []bool{true, false} {
		v, err := tg.Get(ctx, []byte("k1"), lin)
		if err != nil || string(v) != "v1" {
			t.Fatalf("get (linearizable %v) = %q, %v", lin, v, err)
		}
	}
	if v, err := tg.Get(ctx, []byte("missing"), true); err != nil || v != nil {
		t.Fatalf("get of a missing key = %q, %v; want nil, nil", v, err)
	}
}

// The workloads through the Go client, with the commit breakdown from
// the leader's /metrics.
func TestNatsraftWorkloadsWithBreakdown(t *testing.T) {
	sys := startInProcessNatsraft(t)
	if sys.leader < 0 {
		t.Fatal("leader not found from /v1/status")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	o := benchOptions{workloads: []string{"seq", "conc", "rate", "read-lin", "read-ser", "mixed"}, spec: defaultSpec(), conns: 2,
		output: "json", progress: "off", tmpDir: t.TempDir(), stdout: &out, stderr: &errOut}
	o.spec.SeqOps, o.spec.Clients, o.spec.Duration, o.spec.Warmup, o.spec.Keys, o.spec.Rate = 40, 8, 200*time.Millisecond, 0, 100, 500
	kinds, err := parseKinds(o.workloads)
	if err != nil {
		t.Fatal(err)
	}
	res, err := runOnSystem(ctx, o, systemStarter{name: "natsraft", start: func(context.Context) (System, error) { return sys, nil }}, kinds)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, r := range res.Results {
		if r.Ops == 0 || r.Errors+r.Timeouts != 0 {
			t.Errorf("%s: ops %d errors %d timeouts %d (%s)", r.Workload, r.Ops, r.Errors, r.Timeouts, r.FirstError)
		}
	}
	seq := res.Results[0]
	for _, m := range []string{"natsraft_mailbox_wait_seconds", "natsraft_fsync_seconds", "natsraft_append_to_commit_seconds", "natsraft_apply_seconds", "natsraft_commit_latency_seconds"} {
		if !hasStage(seq, "leader", m) {
			t.Errorf("seq breakdown lacks the leader's %s: %+v", m, seq.Breakdown)
		}
	}
	if !hasStage(seq, "followers", "natsraft_fsync_seconds") {
		t.Errorf("seq breakdown lacks the followers' fsync: %+v", seq.Breakdown)
	}
	for _, s := range seq.Breakdown {
		// In process, all nodes share one NATS server, so the queue group
		// spreads the 40 writes over the nodes: the leader proposed some.
		if s.Node == "leader" && s.Metric == "natsraft_commit_latency_seconds" && (s.Count < 1 || s.Count > 40) {
			t.Errorf("leader proposed %v of 40 writes", s.Count)
		}
	}
	if _, err := sys.ScrapeBreakdown(ctx); err != nil {
		t.Fatal(err)
	}
	sys.leader = -1
	if _, err := sys.ScrapeBreakdown(ctx); err == nil {
		t.Fatal("scraped without knowing the leader")
	}
}

func TestFindLeaderNeedsAgreement(t *testing.T) {
	statuses := map[string]string{}
	mux := http.NewServeMux()
	mux.HandleFunc("/{node}/v1/status", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(statuses[r.PathValue("node")]))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	urls := []string{srv.URL + "/a", srv.URL + "/b"}
	ctx := context.Background()
	statuses["a"] = `{"name":"a","role":"leader","leader":"a"}`
	statuses["b"] = `{"name":"b","role":"follower","leader":"none"}`
	if i, err := findLeader(ctx, srv.Client(), urls); err != nil || i != -1 {
		t.Fatalf("disagreement: leader %d, %v", i, err)
	}
	statuses["b"] = `{"name":"b","role":"follower","leader":"a"}`
	if i, err := findLeader(ctx, srv.Client(), urls); err != nil || i != 0 {
		t.Fatalf("agreement: leader %d, %v; want 0", i, err)
	}
}
