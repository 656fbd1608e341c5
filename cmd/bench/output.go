package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Comparison sets one workload's figures on the first system (natsraft)
// against another system's. Each ratio is first ÷ other: below 1 is
// better for latency and CPU, above 1 is better for ops/s.
type Comparison struct {
	Workload Kind    `json:"workload"`
	Base     string  `json:"base"`
	Other    string  `json:"other"`
	P50      float64 `json:"p50_ratio"`
	P99      float64 `json:"p99_ratio"`
	OpsPerS  float64 `json:"ops_per_s_ratio"`
	CPUPerOp float64 `json:"cpu_us_per_op_ratio"`
	// ProcessCPUPerOp compares the CPU of the systems' own processes.
	ProcessCPUPerOp float64 `json:"process_cpu_us_per_op_ratio"`
}

// compare relates every later system's results to the first system's.
func compare(systems []SystemResults) []Comparison {
	if len(systems) < 2 {
		return nil
	}
	base := systems[0]
	var out []Comparison
	for _, other := range systems[1:] {
		for _, b := range base.Results {
			o, ok := findResult(other, b.Workload)
			if !ok {
				continue
			}
			out = append(out, Comparison{Workload: b.Workload, Base: base.System, Other: other.System,
				P50: ratio(b.Latency.P50, o.Latency.P50), P99: ratio(b.Latency.P99, o.Latency.P99),
				OpsPerS: ratio(b.OpsPerSecond, o.OpsPerSecond), CPUPerOp: ratio(b.CPUMicrosPerOp, o.CPUMicrosPerOp),
				ProcessCPUPerOp: ratio(b.ProcessCPUMicrosPerOp, o.ProcessCPUMicrosPerOp)})
		}
	}
	return out
}

func findResult(s SystemResults, k Kind) (Result, bool) {
	for _, r := range s.Results {
		if r.Workload == k {
			return r, true
		}
	}
	return Result{}, false
}

// ratio is a/b, or 0 when either is unknown.
func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

func writeJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// printResult prints one workload's figures as soon as they are known.
func printResult(w io.Writer, r Result) {
	fmt.Fprintf(w, "\n%s  %s\n", r.System, r.Label)
	fmt.Fprintf(w, "  ops %d  ops/s %.0f  errors %d  timeouts %d  elapsed %.2fs\n",
		r.Ops, r.OpsPerSecond, r.Errors, r.Timeouts, r.ElapsedSeconds)
	l := r.Latency
	fmt.Fprintf(w, "  latency µs  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
		num(l.P50), num(l.P90), num(l.P99), num(l.P999), num(l.Max), num(l.Mean))
	fmt.Fprintf(w, "  cpu µs/op %s machine-wide (%s%% busy), %s in the system's processes and bench (bench %s)  disk flushes/op %s\n",
		num(r.CPUMicrosPerOp), num(r.CPUUtilPercent), num(r.ProcessCPUMicrosPerOp), num(r.ClientCPUMicrosPerOp), dec(r.FlushesPerOp))
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error: %s\n", r.FirstError)
	}
	if r.ClientsGaveUp > 0 {
		fmt.Fprintf(w, "  %d clients gave up after %d errors in a row\n", r.ClientsGaveUp, maxConsecutiveErrors)
	}
	if len(r.Breakdown) > 0 {
		printBreakdown(w, r.Breakdown)
	}
}

// printBreakdown prints the commit stages from the node's histograms.
func printBreakdown(w io.Writer, stages []Stage) {
	fmt.Fprintln(w, "  commit breakdown (node /metrics over the measured phase; quantiles interpolated in buckets):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "    node\tstage\tcount\tper op\tmean µs\t~p50 µs\t~p99 µs\t")
	for _, s := range stages {
		fmt.Fprintf(tw, "    %s\t%s\t%.0f\t%s\t%s\t%s\t%s\t\n", s.Node, s.Name, s.Count, dec(s.PerOp), num(s.MeanUs), num(s.P50Us), num(s.P99Us))
	}
	tw.Flush()
}

// printSummary prints every system's results as one table, then the
// comparison when there is more than one system.
func printSummary(w io.Writer, rep *Report) {
	if len(rep.Systems) == 0 {
		return
	}
	fmt.Fprintf(w, "\nsummary (%d cores, load average %s at the start, %s; latency in µs)\n", rep.Host.Cores, rep.Host.LoadAverage, rep.Host.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tworkload\tops/s\tp50\tp90\tp99\tp99.9\tmax\terrors\ttimeouts\tcpu µs/op\tproc cpu µs/op\tflushes/op\t")
	for _, s := range rep.Systems {
		for _, r := range s.Results {
			l := r.Latency
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t\n", s.System, r.Workload, r.OpsPerSecond,
				num(l.P50), num(l.P90), num(l.P99), num(l.P999), num(l.Max), r.Errors, r.Timeouts,
				num(r.CPUMicrosPerOp), num(r.ProcessCPUMicrosPerOp), dec(r.FlushesPerOp))
		}
	}
	tw.Flush()
	if len(rep.Systems) > 1 {
		printComparison(w, rep)
	}
}

// printComparison prints the systems side by side, each later one with
// its ratio to the first (first ÷ other).
func printComparison(w io.Writer, rep *Report) {
	base := rep.Systems[0]
	fmt.Fprintf(w, "\nside by side (ratio = %s ÷ other: < 1 is better for latency and CPU, > 1 for ops/s)\n", base.System)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"workload", "figure", base.System}
	for _, o := range rep.Systems[1:] {
		head = append(head, o.System, "ratio")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, b := range base.Results {
		for _, f := range comparedFigures {
			row := []string{string(b.Workload), f.name, num(f.get(b))}
			for _, o := range rep.Systems[1:] {
				if r, ok := findResult(o, b.Workload); ok {
					row = append(row, num(f.get(r)), times(ratio(f.get(b), f.get(r))))
				} else {
					row = append(row, "-", "-")
				}
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
	}
	tw.Flush()
}

var comparedFigures = []struct {
	name string
	get  func(Result) float64
}{
	{"ops/s", func(r Result) float64 { return r.OpsPerSecond }},
	{"p50 µs", func(r Result) float64 { return r.Latency.P50 }},
	{"p99 µs", func(r Result) float64 { return r.Latency.P99 }},
	{"p99.9 µs", func(r Result) float64 { return r.Latency.P999 }},
	{"cpu µs/op", func(r Result) float64 { return r.CPUMicrosPerOp }},
	{"proc cpu µs/op", func(r Result) float64 { return r.ProcessCPUMicrosPerOp }},
}

// num formats a figure without decimals; a negative one is unknown.
func num(v float64) string {
	if v < 0 || math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", v)
}

// dec formats a small figure with two decimals; negative is unknown.
func dec(v float64) string {
	if v < 0 || math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

func times(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}
