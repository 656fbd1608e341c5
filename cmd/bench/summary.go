package main

import (
	"math"
	"time"
)

// Result is one workload's figures on one system: what bench prints and
// what -o json emits. Latencies are in microseconds; -1 means unknown.
type Result struct {
	System         string  `json:"system"`
	Workload       Kind    `json:"workload"`
	Label          string  `json:"label"`
	Ops            int64   `json:"ops"`
	Errors         int64   `json:"errors"`
	Timeouts       int64   `json:"timeouts"`
	FirstError     string  `json:"first_error,omitempty"`
	ClientsGaveUp  int     `json:"clients_gave_up,omitempty"`
	ElapsedSeconds float64 `json:"elapsed_s"`
	OpsPerSecond   float64 `json:"ops_per_s"`
	Latency        Latency `json:"latency_us"`
	// CPUMicrosPerOp is machine-wide busy CPU time (all processes and the
	// kernel) over the measured phase, per completed request.
	CPUMicrosPerOp float64 `json:"cpu_us_per_op"`
	// ClientCPUMicrosPerOp is the part of it spent in the bench process.
	ClientCPUMicrosPerOp float64 `json:"client_cpu_us_per_op"`
	// ProcessCPUMicrosPerOp is the CPU time of the system's own processes
	// (the nodes or servers bench started) plus the bench process, per
	// request: unlike the machine-wide figure, it leaves out other work
	// on the machine.
	ProcessCPUMicrosPerOp float64 `json:"process_cpu_us_per_op"`
	// CPUUtilPercent is how busy all cores were, on average.
	CPUUtilPercent float64 `json:"cpu_util_pct"`
	// FlushesPerOp is block-device cache flushes (about one per fsync,
	// machine-wide) per request.
	FlushesPerOp float64 `json:"flushes_per_op"`
	// Breakdown is where a commit's time went, from the leader's metrics.
	Breakdown []Stage `json:"breakdown,omitempty"`
	// Curve is the latency-percentile curve.
	Curve []CurvePoint `json:"percentile_curve"`
	// Throughput is completions per second in each interval of
	// IntervalSeconds since the start of the measured phase.
	IntervalSeconds float64   `json:"interval_s"`
	Throughput      []float64 `json:"throughput_per_s"`
}

// Latency summarises the latency histogram, in microseconds.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// CurvePoint is the latency at one percentile.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	Micros     float64 `json:"us"`
}

// summarize turns a measurement into a Result (without the CPU and
// breakdown figures, which the caller adds).
func summarize(system string, m *Measurement) Result {
	h := m.rec.hist
	r := Result{
		System: system, Workload: m.Spec.Kind, Label: m.Spec.label(),
		Ops: h.TotalCount(), Errors: m.rec.errors, Timeouts: m.rec.timeouts,
		ClientsGaveUp: m.GaveUp, ElapsedSeconds: m.Elapsed.Seconds(),
		CPUMicrosPerOp: -1, ClientCPUMicrosPerOp: -1, ProcessCPUMicrosPerOp: -1, CPUUtilPercent: -1, FlushesPerOp: -1,
		IntervalSeconds: timelineInterval.Seconds(),
	}
	if m.rec.firstErr != nil {
		r.FirstError = m.rec.firstErr.Error()
	}
	if m.Elapsed > 0 {
		r.OpsPerSecond = float64(r.Ops) / m.Elapsed.Seconds()
	}
	if r.Ops > 0 {
		r.Latency = Latency{
			Mean: h.Mean(), P50: float64(h.ValueAtQuantile(50)), P90: float64(h.ValueAtQuantile(90)),
			P99: float64(h.ValueAtQuantile(99)), P999: float64(h.ValueAtQuantile(99.9)), Max: float64(h.Max()),
		}
	}
	r.Curve = percentileCurve(m)
	r.Throughput = throughputSeries(m.rec.timeline, m.Elapsed)
	return r
}

// percentileCurve samples the histogram at percentiles evenly spaced on
// the "number of nines" scale (0, 90, 99, 99.9 ...), up to the resolution
// the sample count supports.
func percentileCurve(m *Measurement) []CurvePoint {
	h := m.rec.hist
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	limit := math.Log10(float64(n)) // beyond this, one sample per step
	var curve []CurvePoint
	for nines := 0.0; nines <= limit+1e-9; nines += 0.05 {
		p := 100 * (1 - math.Pow(10, -nines))
		curve = append(curve, CurvePoint{Percentile: p, Micros: float64(h.ValueAtQuantile(p))})
	}
	return append(curve, CurvePoint{Percentile: 100, Micros: float64(h.Max())})
}

// throughputSeries converts per-interval counts into rates, dropping a
// last partial interval shorter than half an interval (its rate would be
// noise).
func throughputSeries(counts []int64, elapsed time.Duration) []float64 {
	full := int(elapsed / timelineInterval)
	if elapsed%timelineInterval >= timelineInterval/2 {
		full++
	}
	out := make([]float64, 0, len(counts))
	for i, c := range counts {
		if i >= full && i > 0 {
			break
		}
		out = append(out, float64(c)/timelineInterval.Seconds())
	}
	return out
}
