package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// benchOptions are the settings shared by `local` and `run`.
type benchOptions struct {
	workloads []string
	spec      Spec // base settings; Kind is set per workload
	conns     int  // client connections shared by the clients
	output    string
	report    string
	compare   []string
	progress  string
	tmpDir    string
	cpuProf   string // file for a CPU profile of bench itself (its clients)
	// stdout receives the results; stderr the progress and notes.
	stdout, stderr io.Writer
}

// systemStarter starts one system under test; the systems of a run are
// started one after the other, each stopped before the next starts, so
// that they never compete for the machine.
type systemStarter struct {
	name  string
	start func(ctx context.Context) (System, error)
}

// SystemResults are one system's results in workload order.
type SystemResults struct {
	System  string   `json:"system"`
	Results []Result `json:"results"`
}

// Report is the whole output of one bench invocation (-o json).
type Report struct {
	Started    time.Time       `json:"started"`
	Host       Host            `json:"host"`
	Command    string          `json:"command"`
	Spec       specJSON        `json:"settings"`
	Systems    []SystemResults `json:"systems"`
	Comparison []Comparison    `json:"comparison,omitempty"`
}

// Host describes the machine, since only figures measured together mean
// much on a noisy one.
type Host struct {
	Cores     int    `json:"cores"`
	GoVersion string `json:"go"`
	Kernel    string `json:"kernel"`
	// LoadAverage is /proc/loadavg's 1, 5 and 15 minute figures at the
	// start: a busy machine makes every figure worse.
	LoadAverage string `json:"load_average"`
}

type specJSON struct {
	Workloads     []Kind  `json:"workloads"`
	SeqOps        int     `json:"seq_ops"`
	Clients       int     `json:"clients"`
	Connections   int     `json:"connections"`
	DurationS     float64 `json:"duration_s"`
	WarmupS       float64 `json:"warmup_s"`
	Rate          float64 `json:"rate_per_s"`
	ReadRatio     float64 `json:"read_ratio"`
	KeySize       int     `json:"key_size"`
	ValueSize     int     `json:"value_size"`
	Keys          int     `json:"keys"`
	TimeoutS      float64 `json:"timeout_s"`
	MaxInFlightOL int     `json:"max_inflight"`
}

func hostInfo() Host {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	h := Host{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), Kernel: strings.TrimSpace(string(kernel))}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			h.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	return h
}

// busyWarning warns when the machine is already busy before the run.
func busyWarning(h Host) string {
	f := strings.Fields(h.LoadAverage)
	if len(f) == 0 {
		return ""
	}
	if load, err := strconv.ParseFloat(f[0], 64); err == nil && load > 0.5*float64(h.Cores) {
		return fmt.Sprintf("bench: warning: load average %s on %d cores before the run: other work competes for the machine\n", h.LoadAverage, h.Cores)
	}
	return ""
}

// runBench runs every workload on every system and writes the outputs.
func runBench(ctx context.Context, o benchOptions, systems []systemStarter) error {
	kinds, err := parseKinds(o.workloads)
	if err != nil {
		return err
	}
	if err := o.spec.validate(); err != nil {
		return err
	}
	if o.conns < 1 {
		return fmt.Errorf("--conns %d: want >= 1", o.conns)
	}
	rep := &Report{Started: time.Now(), Host: hostInfo(), Command: strings.Join(os.Args, " "), Spec: o.specJSON(kinds)}
	fmt.Fprint(o.stderr, busyWarning(rep.Host))
	stopProfile, err := startCPUProfile(o.cpuProf)
	if err != nil {
		return err
	}
	var runErr error
	for _, s := range systems {
		res, err := runOnSystem(ctx, o, s, kinds)
		if len(res.Results) > 0 {
			rep.Systems = append(rep.Systems, res)
		}
		if err != nil {
			runErr = fmt.Errorf("%s: %w", s.name, err)
			break
		}
	}
	rep.Comparison = compare(rep.Systems)
	return errors.Join(runErr, stopProfile(), writeOutputs(o, rep))
}

func (o benchOptions) specJSON(kinds []Kind) specJSON {
	s := o.spec
	return specJSON{Workloads: kinds, SeqOps: s.SeqOps, Clients: s.Clients, Connections: o.conns,
		DurationS: s.Duration.Seconds(), WarmupS: s.Warmup.Seconds(), Rate: s.Rate, ReadRatio: s.ReadRatio,
		KeySize: s.KeySize, ValueSize: s.ValueSize, Keys: s.Keys, TimeoutS: s.Timeout.Seconds(), MaxInFlightOL: s.MaxInFlight}
}

// runOnSystem starts one system, runs the workloads on it and stops it.
func runOnSystem(ctx context.Context, o benchOptions, s systemStarter, kinds []Kind) (res SystemResults, err error) {
	res.System = s.name
	fmt.Fprintf(o.stderr, "bench: starting %s\n", s.name)
	sys, err := s.start(ctx)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, sys.Close()) }()
	res.System = sys.Name()
	targets, err := connectAll(ctx, sys, o.conns)
	if err != nil {
		return res, err
	}
	defer closeAll(targets)
	if err := probe(ctx, o.spec, targets[0]); err != nil {
		return res, err
	}
	preloaded := false
	for _, k := range kinds {
		spec := o.spec
		spec.Kind = k
		if k.usesKeySpace() && !preloaded {
			fmt.Fprintf(o.stderr, "bench: %s: writing %d keys for the reads\n", sys.Name(), spec.keySpace())
			if err := preload(ctx, spec, targets); err != nil {
				return res, err
			}
			preloaded = true
		}
		r, err := measure(ctx, o, sys, spec, targets)
		if err != nil {
			return res, err
		}
		res.Results = append(res.Results, r)
		if o.output == "text" {
			printResult(o.stdout, r)
		}
		if r.Ops == 0 {
			return res, fmt.Errorf("%s: every request failed; first error: %s", k, r.FirstError)
		}
	}
	return res, nil
}

// probe writes once, so that a system that cannot take writes fails the
// run at once with its error rather than after a workload of timeouts.
func probe(ctx context.Context, spec Spec, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	if err := t.Put(ctx, []byte("bench-probe"), make([]byte, spec.ValueSize)); err != nil {
		return fmt.Errorf("first write: %w", err)
	}
	return nil
}

// measure runs one workload and collects its figures: latency and
// throughput, CPU and flushes, and the commit breakdown when the system
// exports one.
func measure(ctx context.Context, o benchOptions, sys System, spec Spec, targets []Target) (Result, error) {
	m := &meter{dataDir: o.tmpDir}
	if po, ok := sys.(processOwner); ok {
		m.pids = po.PIDs()
	}
	bs, hasBreakdown := sys.(breakdownSource)
	var before, after metricSnapshot
	var scrapeErr error
	live := &atomic.Int64{}
	showBar, err := progressWanted(o.progress, o.output)
	if err != nil {
		return Result{}, err
	}
	var bar *progress
	hooks := Hooks{Live: live}
	hooks.Start = func() {
		if hasBreakdown {
			before, scrapeErr = bs.ScrapeBreakdown(ctx)
		}
		if showBar {
			bar = startProgress(o.stderr, sys.Name()+" "+string(spec.Kind), spec, live)
		}
		m.Start()
	}
	hooks.End = func() {
		m.Stop()
		bar.finish()
		if hasBreakdown && scrapeErr == nil {
			after, scrapeErr = bs.ScrapeBreakdown(ctx)
		}
	}
	meas, err := runWorkload(ctx, spec, targets, realClock{}, hooks)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", spec.Kind, err)
	}
	r := summarize(sys.Name(), meas)
	m.fill(&r)
	if hasBreakdown && scrapeErr == nil {
		r.Breakdown = breakdown(before, after, r.Ops)
	} else if scrapeErr != nil {
		fmt.Fprintf(o.stderr, "bench: no commit breakdown: %v\n", scrapeErr)
	}
	return r, nil
}

// writeOutputs prints the summary (text or JSON) and writes the report.
func writeOutputs(o benchOptions, rep *Report) error {
	var err error
	switch o.output {
	case "json":
		err = writeJSON(o.stdout, rep)
	default:
		printSummary(o.stdout, rep)
	}
	if o.report != "" && len(rep.Systems) > 0 {
		err = errors.Join(err, writeHTMLReport(o.report, rep))
		if err == nil {
			fmt.Fprintf(o.stderr, "bench: report written to %s\n", o.report)
		}
	}
	return err
}

// startCPUProfile profiles bench's own process (the clients' side of
// every request) into path until the returned stop is called; with an
// empty path it does nothing.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(fmt.Errorf("--cpu-profile: %w", err), f.Close())
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
