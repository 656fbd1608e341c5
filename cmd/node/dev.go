package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func newDevCommand() *cobra.Command {
	var dir, cluster, logLevel string
	var size, natsPort, routePort, httpPort, etcdPort int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster in one process, for trying natsraft out",
		Long: `Run a local cluster of --size members in this process. Each member embeds
a nats-server (client ports from --nats-port, joined by routes from
--route-port), serves HTTP from --http-port and the etcd v3 API from
--etcd-port (2379, 2380, ... for etcdctl). Data goes to --dir, or a
temporary directory removed on exit. Ctrl-C stops the cluster cleanly.`,
		PreRunE: func(cmd *cobra.Command, _ []string) error { return bindEnv(cmd) },
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), devSettings{dir, cluster, logLevel, size, natsPort, routePort, httpPort, etcdPort})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "data directory (default: a temporary one, removed on exit)")
	fl.StringVar(&cluster, "cluster", "dev", "cluster name")
	fl.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	fl.IntVar(&size, "size", 3, "number of members")
	fl.IntVar(&natsPort, "nats-port", 4222, "NATS client port of the first member; the others follow")
	fl.IntVar(&routePort, "route-port", 6222, "NATS route port of the first member; the others follow")
	fl.IntVar(&httpPort, "http-port", 8081, "HTTP port of the first member; the others follow")
	fl.IntVar(&etcdPort, "etcd-port", 2379, "etcd API port of the first member; the others follow (0: no etcd API)")
	return cmd
}

type devSettings struct {
	dir, cluster, logLevel              string
	size, natsPort, routePort, httpPort int
	etcdPort                            int // 0: no etcd API
}

func runDev(ctx context.Context, s devSettings) error {
	if s.size < 1 {
		return fmt.Errorf("--size must be at least 1")
	}
	logger, err := newLogger(s.logLevel)
	if err != nil {
		return err
	}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "natsraft-dev-"); err != nil {
			return err
		}
		defer os.RemoveAll(s.dir)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	names, routes := make([]string, s.size), make([]string, s.size)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", s.routePort+i)
	}
	var members []*member
	defer func() {
		for _, m := range members {
			m.close()
		}
	}()
	for i, name := range names {
		m, err := startMember(runFlags{
			id: name, cluster: s.cluster, peers: names, dataDir: filepath.Join(s.dir, name),
			natsListen:  fmt.Sprintf("127.0.0.1:%d", s.natsPort+i),
			routeListen: fmt.Sprintf("127.0.0.1:%d", s.routePort+i), natsRoutes: routes,
			httpAddr: fmt.Sprintf("127.0.0.1:%d", s.httpPort+i), tick: 100 * time.Millisecond,
			etcd: devEtcd(s, i),
		}, logger.With("member", name))
		if err != nil {
			return fmt.Errorf("starting %s: %w", name, err)
		}
		members = append(members, m)
	}
	printDevBanner(s, names)
	<-ctx.Done()
	fmt.Println("\nstopping the cluster")
	return nil
}

func printDevBanner(s devSettings, names []string) {
	fmt.Printf("natsraft dev cluster %q is running with %d members; data in %s\n", s.cluster, len(names), s.dir)
	for i, name := range names {
		fmt.Printf("  %s  nats://127.0.0.1:%d  http://127.0.0.1:%d\n", name, s.natsPort+i, s.httpPort+i)
	}
	fmt.Printf("\nTry:\n  curl -s http://127.0.0.1:%d/v1/status\n", s.httpPort)
	if s.etcdPort != 0 {
		fmt.Printf("  etcdctl --endpoints=127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d put hello world\n",
			s.etcdPort, s.etcdPort+1, s.etcdPort+2)
		fmt.Printf("  etcdctl --endpoints=127.0.0.1:%d endpoint status --cluster -w table\n", s.etcdPort)
	}
	fmt.Printf("\nCtrl-C stops the cluster.\n")
}

// devEtcd is member i's etcd API: port etcdPort+i, as etcd's 2379, 2380...
func devEtcd(s devSettings, i int) etcdFlags {
	if s.etcdPort == 0 {
		return etcdFlags{}
	}
	return etcdFlags{addr: fmt.Sprintf("127.0.0.1:%d", s.etcdPort+i)}
}
