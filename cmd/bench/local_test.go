package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// buildNodeForTest builds the node binary for the local tests, unless
// BENCH_NODE_BIN names one.
func buildNodeForTest(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("BENCH_NODE_BIN"); bin != "" {
		return bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := buildNode(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestLocalEndToEnd is `bench local` with a tiny workload: three node
// processes, a leader found, writes and reads through the Go client, the
// commit breakdown from the leader's /metrics, and nothing left behind.
func TestLocalEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the node and starts 3 processes")
	}
	bin := buildNodeForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	o := benchOptions{workloads: []string{"seq", "conc", "read-lin", "read-ser"}, spec: defaultSpec(), conns: 2,
		output: "json", progress: "off", tmpDir: dir, report: filepath.Join(dir, "r.html"), stdout: &out, stderr: &errOut}
	o.spec.SeqOps, o.spec.Clients, o.spec.Duration, o.spec.Warmup, o.spec.Keys, o.spec.Timeout = 50, 8, 300*time.Millisecond, 0, 200, 5*time.Second
	lo := localOptions{nodes: 3, nodeBin: bin, tmpDir: dir, cluster: "benchtest", logLevel: "warn"}
	systems := []systemStarter{{name: "natsraft", start: func(ctx context.Context) (System, error) { return startLocalNatsraft(ctx, lo) }}}
	if err := runBench(ctx, o, systems); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Systems) != 1 || len(rep.Systems[0].Results) != 4 {
		t.Fatalf("report %+v", rep.Systems)
	}
	for _, r := range rep.Systems[0].Results {
		if r.Ops == 0 || r.Errors+r.Timeouts != 0 {
			t.Errorf("%s: ops %d errors %d timeouts %d (%s)", r.Workload, r.Ops, r.Errors, r.Timeouts, r.FirstError)
		}
		if r.ProcessCPUMicrosPerOp < r.ClientCPUMicrosPerOp || r.ClientCPUMicrosPerOp <= 0 {
			t.Errorf("%s: process CPU %v µs/op, client %v: the nodes' CPU was not measured", r.Workload, r.ProcessCPUMicrosPerOp, r.ClientCPUMicrosPerOp)
		}
	}
	seq := rep.Systems[0].Results[0]
	if seq.Ops != 50 || !hasStage(seq, "leader", "natsraft_fsync_seconds") || !hasStage(seq, "leader", "natsraft_commit_latency_seconds") {
		t.Errorf("seq: %d ops, breakdown %+v", seq.Ops, seq.Breakdown)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "natsraft-bench-*"))
	if len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	if _, err := os.Stat(o.report); err != nil {
		t.Fatal(err)
	}
}

func hasStage(r Result, node, metric string) bool {
	for _, s := range r.Breakdown {
		if s.Node == node && s.Metric == metric && s.Count > 0 {
			return true
		}
	}
	return false
}

func TestLocalClusterStopsAndCleansUpWhenANodeCannotStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// /bin/false exits at once: waiting for a leader must fail fast with
	// the node's exit, and the cluster's directory must go.
	_, err := startLocalNatsraft(ctx, localOptions{nodes: 3, nodeBin: "/bin/false", tmpDir: dir, cluster: "x", logLevel: "warn"})
	if err == nil {
		t.Fatal("a cluster of dead nodes was accepted")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "natsraft-bench-*"))
	if len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}
