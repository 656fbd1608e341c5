package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/natstransport"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
)

// startNATSAPI registers the NATS API (the natsraft micro service) of a
// member on its connection; it stops when the connection closes.
func startNATSAPI(node *server.Node, nc *nats.Conn, logger *slog.Logger) {
	if _, err := natsapi.Register(nc, node, natsapi.Options{Logger: logger}); err != nil {
		logger.Error("the NATS API is not served", "err", err)
	}
}

// clientFlags connect a command to a cluster through its NATS API.
type clientFlags struct {
	natsURL, cluster, output       string
	creds, nkeySeed, ca, cert, key string
	timeout                        time.Duration
}

func (f *clientFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS URL(s) of the cluster (node dev's first member by default)")
	fl.StringVar(&f.cluster, "cluster", "dev", "cluster name (node dev's by default)")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "give up after this long (a write that times out may still be applied)")
	fl.StringVar(&f.creds, "nats-creds", "", "creds file (JWT) for the NATS connection")
	fl.StringVar(&f.nkeySeed, "nats-nkey-seed", "", "nkey seed file for the NATS connection")
	fl.StringVar(&f.ca, "nats-ca", "", "CA file trusted for the NATS server's TLS certificate")
	fl.StringVar(&f.cert, "nats-cert", "", "client certificate for NATS TLS")
	fl.StringVar(&f.key, "nats-key", "", "client key for NATS TLS")
}

// clientCommand runs do with a connected client and a context bounded by
// --timeout (none when timeout is false: watches run until interrupted).
func (f *clientFlags) run(cmd *cobra.Command, timeout bool, do func(context.Context, *client.Client) error) error {
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output %q: text or json", f.output)
	}
	nc, err := natstransport.Connect(natstransport.ConnectOptions{
		URL: f.natsURL, Name: "natsraft-cli", CredsFile: f.creds, NkeySeedFile: f.nkeySeed,
		TLSCAFile: f.ca, TLSCertFile: f.cert, TLSKeyFile: f.key,
	})
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", f.natsURL, err)
	}
	defer nc.Close()
	cl, err := client.New(nc, f.cluster, client.Options{Timeout: f.timeout})
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	return do(ctx, cl)
}

// print writes v as indented JSON with -o json, or calls text.
func (f *clientFlags) print(w io.Writer, v any, text func(io.Writer)) error {
	if f.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(w)
	return nil
}

// clientCommand is a command of the cluster's client with its flags.
func clientCommand(f *clientFlags, cmd *cobra.Command) *cobra.Command {
	f.register(cmd.PersistentFlags())
	return cmd
}

func newStatusCommand() *cobra.Command {
	f := &clientFlags{}
	return clientCommand(f, &cobra.Command{
		Use:   "status",
		Short: "Show the status of a cluster member (whichever answers)",
		Example: `  node status
  node status -o json --nats-url nats://10.0.0.1:4222 --cluster prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, true, func(ctx context.Context, cl *client.Client) error {
				st, err := cl.Status(ctx)
				if err != nil {
					return err
				}
				return f.print(cmd.OutOrStdout(), st, func(w io.Writer) { printStatus(w, st) })
			})
		},
	})
}

func printStatus(w io.Writer, st *server.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "member\t%s (cluster %s)\n", st.Name, st.Cluster)
	fmt.Fprintf(tw, "role\t%s\n", st.Role)
	fmt.Fprintf(tw, "leader\t%s\n", st.Leader)
	fmt.Fprintf(tw, "term\t%d\n", st.Term)
	fmt.Fprintf(tw, "commit / applied index\t%d / %d\n", st.CommitIndex, st.AppliedIndex)
	fmt.Fprintf(tw, "revision\t%d\n", st.Revision)
	names := make([]string, len(st.Members))
	for i, m := range st.Members {
		names[i] = memberLabel(m)
	}
	fmt.Fprintf(tw, "members\t%s\n", strings.Join(names, ", "))
	_ = tw.Flush()
}

func memberLabel(m server.Member) string {
	if m.IsLearner {
		return m.Name + " (learner)"
	}
	return m.Name
}

func newMembersCommand() *cobra.Command {
	f := &clientFlags{}
	cmd := clientCommand(f, &cobra.Command{
		Use:   "members",
		Short: "List and change the members of a cluster",
		Long: `List and change the members of a cluster.

Adding a member: add it as a learner, start its node with --join (listing
the current members), wait until it caught up (node status), promote it.`,
		Example: `  node members list
  node members add-learner n4
  node members promote n4
  node members transfer-leader n2
  node members remove n4`,
	})
	list := &cobra.Command{
		Use:   "list",
		Short: "List the members",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, true, func(ctx context.Context, cl *client.Client) error {
				members, err := cl.Members(ctx)
				if err != nil {
					return err
				}
				return f.print(cmd.OutOrStdout(), natsapi.MembersResponse{Members: members}, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tID\tVOTER")
					for _, m := range members {
						fmt.Fprintf(tw, "%s\t%x\t%v\n", m.Name, m.ID, !m.IsLearner)
					}
					_ = tw.Flush()
				})
			})
		},
	}
	cmd.AddCommand(list,
		memberChange(f, "add-learner", "Add a non-voting member", (*client.Client).AddLearner),
		memberChange(f, "promote", "Make a learner a voter", (*client.Client).PromoteMember),
		memberChange(f, "remove", "Remove a member", (*client.Client).RemoveMember),
		memberChange(f, "transfer-leader", "Hand the leadership to a voter", (*client.Client).TransferLeadership))
	return cmd
}

func memberChange(f *clientFlags, use, short string, change func(*client.Client, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, true, func(ctx context.Context, cl *client.Client) error {
				if err := change(cl, ctx, args[0]); err != nil {
					return err
				}
				return f.print(cmd.OutOrStdout(), natsapi.OKResponse{OK: true}, func(w io.Writer) {
					fmt.Fprintf(w, "%s %s: accepted\n", use, args[0])
				})
			})
		},
	}
}

// printable shows bytes as text when they are, quoted otherwise.
func printable(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return fmt.Sprintf("%q", b)
}
