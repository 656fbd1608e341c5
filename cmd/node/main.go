// Command node runs a natsraft member, or a local development cluster.
//
//	node dev                      # a 3-node cluster on embedded NATS, in a temp dir
//	node run --id n1 --peers n1,n2,n3 --data-dir /var/lib/natsraft ...
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	setGCPercent()
	root := &cobra.Command{
		Use:   "node",
		Short: "natsraft: a Raft-replicated key-value store over NATS",
		Long: `natsraft replicates an etcd-style key-value store with Raft. Raft messages
travel over NATS; the log and the data live in Pebble.

Every flag can also be set from the environment: --data-dir is NATSRAFT_DATA_DIR.
The garbage collector runs with GOGC=200 unless GOGC is set.`,
		SilenceUsage: true,
	}
	root.AddCommand(newRunCommand(), newDevCommand(), newHealthCommand())
	root.AddCommand(newKVCommand(), newStatusCommand(), newMembersCommand())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}

// bindEnv lets every flag of cmd default to NATSRAFT_<FLAG_NAME>, so
// containers and systemd units configure the node without arguments.
func bindEnv(cmd *cobra.Command) error {
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		env := "NATSRAFT_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !f.Changed {
			if err := f.Value.Set(v); err != nil && firstErr == nil {
				firstErr = fmt.Errorf("%s=%q: %w", env, v, err)
			}
		}
	})
	return firstErr
}
