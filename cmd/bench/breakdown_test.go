package main

import (
	"math"
	"os"
	"strings"
	"testing"
)

const metricsBefore = `# HELP natsraft_fsync_seconds Duration of the synced write of one Ready.
# TYPE natsraft_fsync_seconds histogram
natsraft_fsync_seconds_bucket{le="0.0001"} 10
natsraft_fsync_seconds_bucket{le="0.0002"} 10
natsraft_fsync_seconds_bucket{le="0.0004"} 10
natsraft_fsync_seconds_bucket{le="+Inf"} 10
natsraft_fsync_seconds_sum 0.0005
natsraft_fsync_seconds_count 10
# TYPE natsraft_raft_term gauge
natsraft_raft_term 3
`

// After: 100 more fsyncs, 50 in (0.1, 0.2] ms and 50 in (0.2, 0.4] ms.
const metricsAfter = `# TYPE natsraft_fsync_seconds histogram
natsraft_fsync_seconds_bucket{le="0.0001"} 10
natsraft_fsync_seconds_bucket{le="0.0002"} 60
natsraft_fsync_seconds_bucket{le="0.0004"} 110
natsraft_fsync_seconds_bucket{le="+Inf"} 110
natsraft_fsync_seconds_sum 0.0255
natsraft_fsync_seconds_count 110
`

func TestBreakdownFromBucketDeltas(t *testing.T) {
	before, err := parseHistograms(strings.NewReader(metricsBefore))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseHistograms(strings.NewReader(metricsAfter))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := before["natsraft_raft_term"]; ok {
		t.Fatal("a gauge was taken for a histogram")
	}
	key := "leader/natsraft_fsync_seconds"
	stages := breakdown(metricSnapshot{key: before["natsraft_fsync_seconds"]}, metricSnapshot{key: after["natsraft_fsync_seconds"]}, 200)
	if len(stages) != 1 {
		t.Fatalf("stages %+v", stages)
	}
	s := stages[0]
	if s.Count != 100 || s.PerOp != 0.5 || math.Abs(s.MeanUs-250) > 1e-6 {
		t.Fatalf("stage %+v: want 100 fsyncs, 0.5 per op, mean 250 µs", s)
	}
	// The median is the top of the (0.1, 0.2] ms bucket; p99 is 98% into
	// the (0.2, 0.4] ms bucket.
	if math.Abs(s.P50Us-200) > 1e-6 || math.Abs(s.P99Us-396) > 1e-6 {
		t.Fatalf("p50 %v p99 %v, want 200 and 396", s.P50Us, s.P99Us)
	}
}

func TestQuantileInTheInfBucketIsTheHighestBound(t *testing.T) {
	h := histSnapshot{count: 10, buckets: []bucket{{0.001, 5}, {math.Inf(1), 10}}}
	if got := h.quantile(0.99); got != 0.001 {
		t.Fatalf("got %v", got)
	}
	if got := (histSnapshot{}).quantile(0.5); !math.IsNaN(got) {
		t.Fatalf("empty histogram quantile %v, want NaN", got)
	}
}

func TestFollowersAreSummed(t *testing.T) {
	h, err := parseHistograms(strings.NewReader(metricsAfter))
	if err != nil {
		t.Fatal(err)
	}
	f := h["natsraft_fsync_seconds"]
	sum := histSnapshot{}.add(f).add(f)
	if sum.count != 220 || sum.buckets[1].count != 120 {
		t.Fatalf("sum %+v", sum)
	}
}

func TestReadCPU(t *testing.T) {
	s, err := readCPU([]byte("cpu  100 5 50 1000 20 3 7 11 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.busy != 165 || s.total != 1196 {
		t.Fatalf("busy %d total %d, want 165 and 1196", s.busy, s.total)
	}
	if _, err := readCPU([]byte("intr 1 2 3")); err == nil {
		t.Fatal("accepted a line that is not cpu")
	}
}

func TestMeterFillsCPUPerOp(t *testing.T) {
	m := &meter{dataDir: t.TempDir()}
	m.Start()
	x := 0.0
	for i := range 20_000_000 { // some CPU for the meter to see
		x += math.Sqrt(float64(i))
	}
	m.Stop()
	r := Result{Ops: 1000, CPUMicrosPerOp: -1, ClientCPUMicrosPerOp: -1, FlushesPerOp: -1, CPUUtilPercent: -1}
	m.fill(&r)
	if x == 0 || r.ClientCPUMicrosPerOp <= 0 || r.CPUMicrosPerOp < 0 || r.CPUUtilPercent < 0 {
		t.Fatalf("meter figures %+v", r)
	}
}

func TestProcessTicks(t *testing.T) {
	// The command name holds a space and a parenthesis.
	stat := "4242 (node (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 27 0 0 20 0 9 0 100 1000 200\n"
	ticks, err := processTicks([]byte(stat))
	if err != nil || ticks != 177 {
		t.Fatalf("ticks %d, %v; want 150+27", ticks, err)
	}
	if _, err := processTicks([]byte("4242 (node) S 1")); err == nil {
		t.Fatal("accepted a short line")
	}
	self, ok := processesCPU([]int{os.Getpid()})
	if !ok || self < 0 {
		t.Fatalf("own CPU %v, %v", self, ok)
	}
	if _, ok := processesCPU([]int{-1}); ok {
		t.Fatal("read the CPU of no process")
	}
}
