package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// startInProcessJS starts three clustered JetStream servers in this
// process and returns their client URLs by name.
func startInProcessJS(t *testing.T, syncAlways bool) map[string]string {
	t.Helper()
	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	dir := t.TempDir()
	urls := map[string]string{}
	for i := range 3 {
		name := fmt.Sprintf("js%d", i+1)
		s, err := newJSServer(jsServerConfig{name: name, port: -1, clusterPort: ports[i],
			routes: otherRoutes(routes, i), storeDir: filepath.Join(dir, name), syncAlways: syncAlways, quiet: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		urls[name] = s.ClientURL()
	}
	return urls
}

func TestJetStreamTargetRunsTheWorkloads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server JetStream cluster")
	}
	urls := startInProcessJS(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sys, err := newJetStreamSystem(ctx, jsSystemName(true), urls, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	var out, errOut bytes.Buffer
	o := benchOptions{workloads: []string{"seq", "conc", "read-ser", "mixed"}, spec: defaultSpec(), conns: 2,
		output: "json", progress: "off", tmpDir: t.TempDir(), stdout: &out, stderr: &errOut}
	o.spec.SeqOps, o.spec.Clients, o.spec.Duration, o.spec.Warmup, o.spec.Keys = 50, 4, 300*time.Millisecond, 0, 100
	kinds, err := parseKinds(o.workloads)
	if err != nil {
		t.Fatal(err)
	}
	res, err := runOnSystem(ctx, o, systemStarter{name: sys.Name(), start: func(context.Context) (System, error) { return sys, nil }}, kinds)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if res.System != "jetstream sync=always" || len(res.Results) != 4 {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res.Results {
		if r.Ops == 0 || r.Errors != 0 || r.Timeouts != 0 || r.Latency.P50 <= 0 {
			t.Errorf("%s: ops %d errors %d timeouts %d p50 %v (first error %q)", r.Workload, r.Ops, r.Errors, r.Timeouts, r.Latency.P50, r.FirstError)
		}
	}
	if seq := res.Results[0]; seq.Ops != 50 {
		t.Errorf("seq measured %d writes, want 50", seq.Ops)
	}
	// The values written are there: read one back.
	tg, err := sys.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	v, err := tg.Get(ctx, appendKey(nil, 'k', 7, o.spec.KeySize), true)
	if err != nil || len(v) != o.spec.ValueSize {
		t.Fatalf("get after preload: %q, %v", v, err)
	}
	if v, err := tg.Get(ctx, []byte("missing"), true); err != nil || v != nil {
		t.Fatalf("get of a missing key: %q, %v; want nil, nil", v, err)
	}
}

func TestJSServerSyncSetting(t *testing.T) {
	for _, always := range []bool{true, false} {
		s, err := newJSServer(jsServerConfig{name: "solo", port: -1, clusterPort: -1, storeDir: t.TempDir(), syncAlways: always, quiet: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.JetStreamConfig()
		s.Shutdown()
		s.WaitForShutdown()
		if cfg == nil {
			t.Fatal("JetStream not enabled")
		}
		if cfg.SyncAlways != always {
			t.Errorf("SyncAlways = %v, want %v", cfg.SyncAlways, always)
		}
	}
}

// The whole --compare path: a (fake) natsraft, then JetStream with and
// without per-write fsync, each as three child processes; the outputs
// set them side by side.
func TestCompareJetStreamInChildProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two 3-process JetStream clusters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	o := benchOptions{workloads: []string{"seq", "conc"}, spec: defaultSpec(), conns: 2, output: "json",
		report: filepath.Join(dir, "report.html"), compare: []string{"jetstream"}, progress: "off",
		tmpDir: dir, stdout: &out, stderr: &errOut}
	o.spec.SeqOps, o.spec.Clients, o.spec.Duration, o.spec.Warmup = 30, 4, 200*time.Millisecond, 0
	fake := &fakeSystem{name: "natsraft", target: newFakeTarget()}
	systems := append([]systemStarter{{name: "natsraft", start: func(context.Context) (System, error) { return fake, nil }}}, o.comparisons()...)
	if err := runBench(ctx, o, systems); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rep.Systems {
		names = append(names, s.System)
		for _, r := range s.Results {
			if r.Ops == 0 || r.Errors+r.Timeouts != 0 {
				t.Errorf("%s %s: ops %d errors %d timeouts %d (%s)", s.System, r.Workload, r.Ops, r.Errors, r.Timeouts, r.FirstError)
			}
			if s.System != "natsraft" && r.ProcessCPUMicrosPerOp <= 0 {
				t.Errorf("%s %s: the servers' CPU was not measured", s.System, r.Workload)
			}
		}
	}
	if fmt.Sprint(names) != "[natsraft jetstream sync=always jetstream default]" || len(rep.Comparison) != 4 || !fake.closed {
		t.Fatalf("systems %v, %d comparisons, fake closed %v", names, len(rep.Comparison), fake.closed)
	}
	if _, err := os.Stat(o.report); err != nil {
		t.Fatal(err)
	}
	// The JetStream stores were removed with their clusters.
	left, _ := filepath.Glob(filepath.Join(dir, "natsraft-bench-js-*"))
	if len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}
