package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/natsraft/natsraft/natstransport"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/etcdapi"
	"github.com/natsraft/natsraft/server/httpapi"
)

// runFlags are the settings of one member.
type runFlags struct {
	id          string
	cluster     string
	peers       []string
	join        []string
	dataDir     string
	natsURL     string
	natsListen  string
	natsRoutes  []string
	routeListen string
	httpAddr    string
	tick        time.Duration
	logLevel    string

	snapshotEntries uint64
	pprof           bool
	// Authentication of the node's own NATS connection.
	natsUser, natsPassword, natsToken string
	natsCreds, natsNkeySeed           string
	natsCA, natsCert, natsKey         string
	// natsAuthFile configures the embedded server's users.
	natsAuthFile string
	// etcd is the etcd v3 gRPC API (etcd.go); off unless --etcd-addr.
	etcd etcdFlags
}

func newRunCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run one member of a cluster",
		Long: `Run one member of a natsraft cluster.

A new cluster: start every initial member with the same --peers list.
A restart needs only --data-dir and the NATS settings: the member's
identity and the membership are in its data directory.

NATS: by default the node embeds a nats-server listening on --nats-listen;
--nats-routes joins the other members' embedded servers into one NATS
cluster. With --nats-url the node uses an existing NATS deployment instead.`,
		Example: `  node run --id n1 --peers n1,n2,n3 --data-dir /var/lib/natsraft \
    --nats-listen 0.0.0.0:4222 --route-listen 0.0.0.0:6222 \
    --nats-routes nats-route://host2:6222,nats-route://host3:6222 --http-addr :8080`,
		PreRunE: func(cmd *cobra.Command, _ []string) error { return bindEnv(cmd) },
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMember(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.id, "id", "", "member name, e.g. n1 (required)")
	fl.StringVar(&f.cluster, "cluster", "natsraft", "cluster name; scopes the NATS subjects")
	fl.StringSliceVar(&f.peers, "peers", nil, "initial voters of a new cluster, e.g. n1,n2,n3")
	fl.StringSliceVar(&f.join, "join", nil, "current members, when joining an existing cluster as a new member")
	fl.StringVar(&f.dataDir, "data-dir", "", "directory of the member's data (required)")
	fl.StringVar(&f.natsURL, "nats-url", "", "external NATS URL(s); when unset, a nats-server is embedded")
	fl.StringVar(&f.natsListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded nats-server")
	fl.StringVar(&f.routeListen, "route-listen", "", "route address of the embedded nats-server, e.g. 0.0.0.0:6222")
	fl.StringSliceVar(&f.natsRoutes, "nats-routes", nil, "route URLs of the other members' embedded servers")
	fl.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP address for /healthz, /readyz and /v1/status")
	fl.DurationVar(&f.tick, "tick", 100*time.Millisecond, "Raft tick: heartbeat interval; elections take 10-20 ticks")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.BoolVar(&f.pprof, "pprof", false, "serve Go's profiler on the HTTP address under /debug/pprof/ (for diagnosis; keep the address private)")
	fl.Uint64Var(&f.snapshotEntries, "snapshot-entries", 100000, "log entries kept for followers slightly behind: the log is compacted every half of this many applied entries (a follower further behind gets a snapshot of the store)")
	fl.StringVar(&f.natsUser, "nats-user", "", "user name of this node's NATS connection")
	fl.StringVar(&f.natsPassword, "nats-password", "", "password of this node's NATS connection")
	fl.StringVar(&f.natsToken, "nats-token", "", "token of this node's NATS connection")
	fl.StringVar(&f.natsCreds, "nats-creds", "", "creds file (JWT) of this node's NATS connection")
	fl.StringVar(&f.natsNkeySeed, "nats-nkey-seed", "", "nkey seed file of this node's NATS connection")
	fl.StringVar(&f.natsCA, "nats-ca", "", "CA file trusted for the NATS server's TLS certificate")
	fl.StringVar(&f.natsCert, "nats-cert", "", "client certificate for NATS TLS")
	fl.StringVar(&f.natsKey, "nats-key", "", "client key for NATS TLS")
	fl.StringVar(&f.natsAuthFile, "nats-auth-file", "", "JSON file of the embedded nats-server's users and roles (node, client); see docs")
	fl.StringVar(&f.etcd.addr, "etcd-addr", "", "address of the etcd v3 gRPC API, e.g. 127.0.0.1:2379 (default off); see docs/etcd-compat.md")
	fl.StringVar(&f.etcd.advertise, "etcd-advertise-url", "", "client URL of this member's etcd API as other members list it (default http(s)://<etcd-addr>)")
	fl.DurationVar(&f.etcd.progressInterval, "etcd-watch-progress-notify-interval", etcdapi.DefaultProgressNotifyInterval, "interval of etcd watch progress notifications")
	fl.StringVar(&f.etcd.certFile, "etcd-cert-file", "", "TLS certificate of the etcd API (with --etcd-key-file: clients use https:// URLs)")
	fl.StringVar(&f.etcd.keyFile, "etcd-key-file", "", "TLS key of the etcd API")
	fl.StringVar(&f.etcd.trustedCAFile, "etcd-trusted-ca-file", "", "CA file: the etcd API then requires client certificates signed by it")
	return cmd
}

// runMember runs one member until SIGINT/SIGTERM (a graceful stop) or a
// fatal error.
func runMember(ctx context.Context, f runFlags) error {
	if f.id == "" || f.dataDir == "" {
		return errors.New("--id and --data-dir are required")
	}
	logger, err := newLogger(f.logLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := startMember(f, logger)
	if err != nil {
		return err
	}
	defer m.close()
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		return nil
	case <-m.node.Done():
		return fmt.Errorf("node stopped: %w", m.node.Err())
	}
}

// member is a running node with its NATS connection, embedded server and
// HTTP listener.
type member struct {
	node      *server.Node
	nc        *nats.Conn
	closeNATS func()
	http      *http.Server
	stopEtcd  func() // the etcd API, when --etcd-addr is set
}

func startMember(f runFlags, logger *slog.Logger) (*member, error) {
	events := new(natstransport.ConnEvents)
	nc, closeNATS, err := connectNATS(f, events, logger)
	if err != nil {
		return nil, err
	}
	node, err := server.Start(server.Config{
		Name: f.id, Cluster: f.cluster, Peers: f.peers, Join: f.join,
		DataDir: f.dataDir, NATS: nc, NATSEvents: events, TickInterval: f.tick, Logger: logger,
		SnapshotEntries: f.snapshotEntries,
	})
	if err != nil {
		closeNATS()
		return nil, err
	}
	m := &member{node: node, nc: nc, closeNATS: closeNATS}
	startNATSAPI(node, nc, logger)
	// Closing shutdown ends open watch streams, which Shutdown would
	// otherwise wait for.
	shutdown := make(chan struct{})
	handler := httpapi.Handler(node, httpapi.Options{Shutdown: shutdown})
	if f.pprof {
		handler = withPprof(handler)
	}
	m.http = &http.Server{Addr: f.httpAddr, Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	m.http.RegisterOnShutdown(func() { close(shutdown) })
	go func() {
		if err := m.http.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server failed", "addr", f.httpAddr, "err", err)
		}
	}()
	if f.etcd.addr != "" {
		if m.stopEtcd, err = startEtcdAPI(node, f.etcd, logger); err != nil {
			m.close()
			return nil, err
		}
	}
	logger.Info("member started", "id", f.id, "cluster", f.cluster, "data_dir", f.dataDir, "http", f.httpAddr)
	return m, nil
}

func (m *member) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = m.http.Shutdown(ctx)
	if m.stopEtcd != nil {
		m.stopEtcd()
	}
	_ = m.node.Stop(ctx)
	m.closeNATS()
}

// connectNATS connects to --nats-url, or starts the embedded server (with
// the users of --nats-auth-file) and connects to it with the node's
// credentials.
func connectNATS(f runFlags, events *natstransport.ConnEvents, logger *slog.Logger) (*nats.Conn, func(), error) {
	copts := natstransport.ConnectOptions{
		URL: f.natsURL, Name: "natsraft-" + f.id, Events: events,
		User: f.natsUser, Password: f.natsPassword, Token: f.natsToken,
		CredsFile: f.natsCreds, NkeySeedFile: f.natsNkeySeed,
		TLSCAFile: f.natsCA, TLSCertFile: f.natsCert, TLSKeyFile: f.natsKey,
	}
	if f.natsURL != "" {
		nc, err := natstransport.Connect(copts)
		if err != nil {
			return nil, nil, err
		}
		return nc, nc.Close, nil
	}
	ns, err := startEmbeddedNATS(f, logger)
	if err != nil {
		return nil, nil, err
	}
	copts.InProcess = ns
	nc, err := natstransport.Connect(copts)
	if err != nil {
		ns.Shutdown()
		return nil, nil, err
	}
	return nc, func() { nc.Close(); ns.Shutdown() }, nil
}

// embeddedMaxPayloadBytes lets the embedded server carry etcd-sized
// requests (1.5 MiB) in one Raft entry; NATS's default is 1 MiB.
const embeddedMaxPayloadBytes = 8 << 20

func startEmbeddedNATS(f runFlags, logger *slog.Logger) (*natsserver.Server, error) {
	host, port, err := splitHostPort(f.natsListen)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen: %w", err)
	}
	opts := natstransport.ServerOptions{Name: f.id, Host: host, Port: port, Routes: f.natsRoutes,
		ClusterName: f.cluster, MaxPayload: embeddedMaxPayloadBytes, Logger: logger.With("component", "nats-server")}
	if f.routeListen != "" {
		if opts.ClusterHost, opts.ClusterPort, err = splitHostPort(f.routeListen); err != nil {
			return nil, fmt.Errorf("--route-listen: %w", err)
		}
	}
	if f.natsAuthFile != "" {
		if opts.Users, err = loadAuthFile(f.natsAuthFile, f.cluster); err != nil {
			return nil, fmt.Errorf("--nats-auth-file: %w", err)
		}
	}
	return natstransport.StartServer(opts)
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
