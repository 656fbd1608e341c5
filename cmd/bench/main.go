// Command bench measures natsraft's commit latency and throughput, and
// sets them beside NATS JetStream KV's on the same workload.
//
//	bench local                               # 3 node processes, seq and conc
//	bench local --compare jetstream --report bench.html
//	bench run --nats-url nats://host:4222 --cluster prod -w seq,read-lin
//
// See docs/benchmarks.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "bench",
		Short: "Measure natsraft's commit latency and throughput",
		Long: `bench runs write and read workloads against natsraft and prints latency
percentiles (from an HDR histogram), throughput, errors, and the machine's CPU
time per request. "local" starts a cluster of node processes for the run;
"run" uses an existing cluster. --compare jetstream runs the same workloads,
in the same invocation, against a NATS JetStream KV bucket with 3 replicas,
with per-write fsync and with the server's default.`,
		SilenceUsage: true,
	}
	root.AddCommand(newLocalCommand(), newRunCommand(), newJSMemberCommand())
	return root
}

// addBenchFlags registers the workload and output flags shared by local
// and run.
func addBenchFlags(fl *pflag.FlagSet, o *benchOptions) {
	o.spec = defaultSpec()
	fl.StringSliceVarP(&o.workloads, "workload", "w", []string{"seq", "conc"},
		"workloads, in order: seq, conc, rate, read-lin, read-ser, mixed")
	fl.IntVar(&o.spec.SeqOps, "seq-ops", o.spec.SeqOps, "writes measured by seq (one client, back to back)")
	fl.IntVarP(&o.spec.Clients, "clients", "c", o.spec.Clients, "concurrent clients of conc, reads and mixed")
	fl.IntVar(&o.conns, "conns", 4, "NATS connections the clients share")
	fl.DurationVarP(&o.spec.Duration, "duration", "d", o.spec.Duration, "measured time of conc, rate, reads and mixed")
	fl.DurationVar(&o.spec.Warmup, "warmup", o.spec.Warmup, "unmeasured run of each workload before it")
	fl.Float64Var(&o.spec.Rate, "rate", o.spec.Rate, "requests per second of rate (open loop)")
	fl.IntVar(&o.spec.MaxInFlight, "max-inflight", o.spec.MaxInFlight, "bound on outstanding requests of rate")
	fl.Float64Var(&o.spec.ReadRatio, "read-ratio", o.spec.ReadRatio, "share of (linearizable) reads in mixed")
	fl.IntVar(&o.spec.KeySize, "key-size", o.spec.KeySize, "key size in bytes")
	fl.IntVar(&o.spec.ValueSize, "value-size", o.spec.ValueSize, "value size in bytes")
	fl.IntVar(&o.spec.Keys, "keys", o.spec.Keys, fmt.Sprintf("key space; 0: every write a fresh key, reads use %d keys", readKeysDefault))
	fl.DurationVar(&o.spec.Timeout, "timeout", o.spec.Timeout, "per-request timeout")
	fl.StringVarP(&o.output, "output", "o", "text", "text or json")
	fl.StringVar(&o.report, "report", "", "write a self-contained HTML report to this file")
	fl.StringSliceVar(&o.compare, "compare", nil, "also run the workloads on: jetstream")
	fl.StringVar(&o.progress, "progress", "auto", "progress bar: auto (on a terminal), on, off")
	fl.StringVar(&o.cpuProf, "cpu-profile", "", "write a CPU profile of bench's own process (its clients) to this file")
	fl.StringVar(&o.tmpDir, "tmp-dir", os.TempDir(), "where the clusters' data directories go (its disk is the one measured)")
}

// prepare checks the shared flags and fills the output writers.
func (o *benchOptions) prepare(cmd *cobra.Command) error {
	o.stdout, o.stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("-o %q: want text or json", o.output)
	}
	for _, c := range o.compare {
		if c != "jetstream" {
			return fmt.Errorf("--compare %q: only jetstream is supported", c)
		}
	}
	return nil
}

// comparisons are the systems --compare adds after natsraft: JetStream
// with per-write fsync, then with its default (fsync every 2 minutes).
func (o *benchOptions) comparisons() []systemStarter {
	if !slices.Contains(o.compare, "jetstream") {
		return nil
	}
	var out []systemStarter
	for _, always := range []bool{true, false} {
		out = append(out, systemStarter{name: jsSystemName(always), start: func(ctx context.Context) (System, error) {
			return startJetStream(ctx, o.tmpDir, always)
		}})
	}
	return out
}

func newLocalCommand() *cobra.Command {
	var o benchOptions
	lo := localOptions{}
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Start a local cluster of node processes, run the workloads, clean up",
		Long: `local builds the node binary (or takes --node-bin), starts --nodes node
processes on 127.0.0.1, each with its embedded nats-server and its data in a
temporary directory (fsync on), waits for a leader, runs the workloads with
the clients connected to the leader's node, prints the results with the
commit breakdown from the leader's /metrics, and stops the nodes.`,
		Example: `  go run ./cmd/bench local
  go run ./cmd/bench local --compare jetstream --report bench.html
  go run ./cmd/bench local -w seq,conc,read-lin,read-ser,mixed -d 5s -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.prepare(cmd); err != nil {
				return err
			}
			lo.tmpDir = o.tmpDir
			systems := append([]systemStarter{{name: "natsraft", start: func(ctx context.Context) (System, error) {
				return startLocalNatsraft(ctx, lo)
			}}}, o.comparisons()...)
			return runBench(cmd.Context(), o, systems)
		},
	}
	addBenchFlags(cmd.Flags(), &o)
	fl := cmd.Flags()
	fl.IntVar(&lo.nodes, "nodes", 3, "number of node processes")
	fl.StringVar(&lo.nodeBin, "node-bin", "", "node binary (default: go build ./cmd/node)")
	fl.StringVar(&lo.cluster, "cluster", "bench", "cluster name")
	fl.BoolVar(&lo.keep, "keep", false, "keep the data directory and node logs")
	fl.StringVar(&lo.logLevel, "log-level", "warn", "the nodes' log level")
	return cmd
}

func newRunCommand() *cobra.Command {
	var o benchOptions
	var natsURL, cluster string
	var httpURLs []string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the workloads against an existing cluster",
		Long: `run connects to an existing natsraft cluster over NATS. For a fair
latency figure, point --nats-url at the leader's NATS server. With --http
(every node's HTTP address) it also prints the commit breakdown from the
leader's /metrics.`,
		Example: `  bench run --nats-url nats://127.0.0.1:4222 --cluster dev --http 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.prepare(cmd); err != nil {
				return err
			}
			urls := make([]string, len(httpURLs))
			for i, u := range httpURLs {
				urls[i] = strings.TrimSuffix(u, "/")
				if !strings.Contains(urls[i], "://") {
					urls[i] = "http://" + urls[i]
				}
			}
			systems := append([]systemStarter{{name: "natsraft", start: func(ctx context.Context) (System, error) {
				return connectNatsraft(ctx, natsURL, cluster, urls)
			}}}, o.comparisons()...)
			return runBench(cmd.Context(), o, systems)
		},
	}
	addBenchFlags(cmd.Flags(), &o)
	fl := cmd.Flags()
	fl.StringVar(&natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS URL of the cluster")
	fl.StringVar(&cluster, "cluster", "natsraft", "cluster name")
	fl.StringSliceVar(&httpURLs, "http", nil, "HTTP addresses of the nodes, for the leader's /metrics")
	return cmd
}
