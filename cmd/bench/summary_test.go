package main

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

// uniformMeasurement records latencies 1..n ms, one each, over elapsed.
func uniformMeasurement(kind Kind, n int, elapsed time.Duration) *Measurement {
	start := time.Unix(0, 0)
	m := &Measurement{Spec: tinySpec(kind), Start: start, Elapsed: elapsed, rec: newRecorder(start, nil)}
	for i := 1; i <= n; i++ {
		done := start.Add(time.Duration(i) * elapsed / time.Duration(n+1))
		m.rec.record(done.Add(-time.Duration(i)*time.Millisecond), done, nil)
	}
	return m
}

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance*want }

func TestSummarizePercentilesFromTheHistogram(t *testing.T) {
	m := uniformMeasurement(KindConc, 1000, 2*time.Second)
	m.rec.recordError(errFake)
	r := summarize("fake", m)
	l := r.Latency
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", l.P50, 500_000}, {"p90", l.P90, 900_000}, {"p99", l.P99, 990_000},
		{"p99.9", l.P999, 999_000}, {"max", l.Max, 1_000_000}, {"mean", l.Mean, 500_500},
		{"ops/s", r.OpsPerSecond, 500},
	} {
		if !near(c.got, c.want, 0.002) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if r.Ops != 1000 || r.Errors != 1 || r.FirstError == "" {
		t.Errorf("ops %d errors %d first %q", r.Ops, r.Errors, r.FirstError)
	}
	if r.CPUMicrosPerOp != -1 || r.FlushesPerOp != -1 {
		t.Errorf("unmeasured CPU/flushes should be -1 (unknown)")
	}
}

func TestPercentileCurveRisesToTheMax(t *testing.T) {
	r := summarize("fake", uniformMeasurement(KindConc, 1000, time.Second))
	c := r.Curve
	if len(c) < 20 {
		t.Fatalf("curve has %d points", len(c))
	}
	for i := 1; i < len(c); i++ {
		if c[i].Percentile <= c[i-1].Percentile || c[i].Micros < c[i-1].Micros {
			t.Fatalf("curve not increasing at %d: %v then %v", i, c[i-1], c[i])
		}
	}
	if last := c[len(c)-1]; last.Percentile != 100 || last.Micros != r.Latency.Max {
		t.Fatalf("curve ends at %v, want the max %v at 100%%", last, r.Latency.Max)
	}
	// 1000 samples resolve three nines, not more.
	if c[len(c)-2].Percentile > 99.91 {
		t.Fatalf("curve goes past the samples' resolution: %v", c[len(c)-2])
	}
}

func TestThroughputSeries(t *testing.T) {
	counts := []int64{10, 20, 30, 5}
	got := throughputSeries(counts, 320*time.Millisecond)
	want := []float64{100, 200, 300} // the last 20 ms are noise
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got := throughputSeries(counts, 360*time.Millisecond); len(got) != 4 {
		t.Fatalf("a last interval over half full is kept: got %v", got)
	}
}

func sampleReport() *Report {
	nr := summarize("natsraft", uniformMeasurement(KindSeq, 500, time.Second))
	nr.CPUMicrosPerOp = 100
	nr.Breakdown = []Stage{{Node: "leader", Name: "persist (per Ready)", Count: 400, PerOp: 0.8, MeanUs: 200, P50Us: 180, P99Us: 400}}
	js := summarize("jetstream sync=always", uniformMeasurement(KindSeq, 250, time.Second))
	js.CPUMicrosPerOp = 200
	rep := &Report{Started: time.Unix(1700000000, 0), Host: Host{Cores: 2, GoVersion: "go1.26", Kernel: "6.1"},
		Command: "bench local --compare jetstream", Spec: (benchOptions{spec: defaultSpec(), conns: 4}).specJSON([]Kind{KindSeq}),
		Systems: []SystemResults{{System: "natsraft", Results: []Result{nr}}, {System: "jetstream sync=always", Results: []Result{js}}}}
	rep.Comparison = compare(rep.Systems)
	return rep
}

func TestCompareRatios(t *testing.T) {
	rep := sampleReport()
	if len(rep.Comparison) != 1 {
		t.Fatalf("comparisons: %+v", rep.Comparison)
	}
	c := rep.Comparison[0]
	if c.Base != "natsraft" || c.Other != "jetstream sync=always" || !near(c.OpsPerS, 2, 0.01) || c.CPUPerOp != 0.5 {
		t.Fatalf("comparison %+v: want ops/s ratio 2, cpu ratio 0.5", c)
	}
}

func TestJSONOutputHasTheFigures(t *testing.T) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Systems []struct {
			System  string `json:"system"`
			Results []struct {
				Workload string             `json:"workload"`
				Ops      int64              `json:"ops"`
				OpsPerS  float64            `json:"ops_per_s"`
				Latency  map[string]float64 `json:"latency_us"`
				CPU      float64            `json:"cpu_us_per_op"`
				Curve    []CurvePoint       `json:"percentile_curve"`
				Series   []float64          `json:"throughput_per_s"`
			} `json:"results"`
		} `json:"systems"`
		Comparison []Comparison `json:"comparison"`
		Settings   specJSON     `json:"settings"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	r := got.Systems[0].Results[0]
	if got.Systems[0].System != "natsraft" || r.Workload != "seq" || r.Ops != 500 || r.CPU != 100 {
		t.Fatalf("decoded %+v", r)
	}
	for _, k := range []string{"p50", "p90", "p99", "p99_9", "max", "mean"} {
		if r.Latency[k] <= 0 {
			t.Errorf("latency %s missing: %v", k, r.Latency)
		}
	}
	if len(r.Curve) == 0 || len(r.Series) == 0 || len(got.Comparison) != 1 || got.Settings.KeySize != 16 {
		t.Fatalf("curve %d points, series %d, comparison %d, settings %+v", len(r.Curve), len(r.Series), len(got.Comparison), got.Settings)
	}
}

func TestTextOutput(t *testing.T) {
	var buf bytes.Buffer
	rep := sampleReport()
	printResult(&buf, rep.Systems[0].Results[0])
	printSummary(&buf, rep)
	out := buf.String()
	for _, want := range []string{"p99.9", "cpu µs/op 100", "persist (per Ready)", "side by side", "jetstream sync=always", "2.00x"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

func TestHTMLReportIsSelfContained(t *testing.T) {
	b, err := renderHTMLReport(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]`).FindString(page); m != "" {
		t.Errorf("report refers to %q: it must work offline", m)
	}
	for _, banned := range []string{"<script src", "<link", "<img", "@import", "url("} {
		if strings.Contains(strings.ToLower(page), banned) {
			t.Errorf("report contains %q", banned)
		}
	}
	if n := strings.Count(page, "<svg"); n != 2 {
		t.Errorf("%d charts, want 2 (percentiles and throughput)", n)
	}
	for _, want := range []string{"<polyline", "latency by percentile", "throughput over time", "99.9%", "natsraft", "jetstream sync=always", "persist (per Ready)"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestNinesAxis(t *testing.T) {
	for _, c := range []struct {
		p    float64
		want float64
	}{{0, 0}, {90, 1}, {99, 2}, {99.9, 3}, {100, maxNines}} {
		if got := nines(c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("nines(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	for n, want := range []string{"0%", "90%", "99%", "99.9%", "99.99%"} {
		if got := ninesLabel(float64(n)); got != want {
			t.Errorf("ninesLabel(%d) = %q, want %q", n, got, want)
		}
	}
}
