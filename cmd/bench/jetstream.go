package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// jsBucket is the key-value bucket the comparison writes to.
const jsBucket = "bench"

// jsServerConfig is one clustered nats-server with JetStream on disk.
type jsServerConfig struct {
	name        string
	port        int // client port; -1 for any
	clusterPort int // route port; -1 for any
	routes      []string
	storeDir    string
	syncAlways  bool // fsync every write (`sync_interval: always`)
	quiet       bool // no server log (tests)
}

// newJSServer starts the server and waits until it accepts clients.
func newJSServer(c jsServerConfig) (*natsserver.Server, error) {
	opts := &natsserver.Options{
		ServerName: c.name, Host: "127.0.0.1", Port: c.port,
		JetStream: true, StoreDir: c.storeDir, SyncAlways: c.syncAlways,
		Cluster: natsserver.ClusterOpts{Name: "bench-js", Host: "127.0.0.1", Port: c.clusterPort},
		Routes:  natsserver.RoutesFromStr(strings.Join(c.routes, ",")),
		NoSigs:  true,
		NoLog:   c.quiet,
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, err
	}
	if !c.quiet {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats-server %s not ready", c.name)
	}
	return s, nil
}

// newJSMemberCommand is the hidden `bench js-member` that runs one
// nats-server of the comparison cluster in its own process.
func newJSMemberCommand() *cobra.Command {
	var c jsServerConfig
	cmd := &cobra.Command{
		Use: "js-member", Hidden: true, Args: cobra.NoArgs,
		Short: "run one clustered nats-server with JetStream (started by --compare jetstream)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := newJSServer(c)
			if err != nil {
				return err
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
			<-sig
			s.Shutdown()
			s.WaitForShutdown()
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.name, "name", "", "server name")
	fl.IntVar(&c.port, "port", -1, "client port")
	fl.IntVar(&c.clusterPort, "cluster-port", -1, "route port")
	fl.StringSliceVar(&c.routes, "routes", nil, "route URLs")
	fl.StringVar(&c.storeDir, "store-dir", "", "JetStream store directory")
	fl.BoolVar(&c.syncAlways, "sync-always", false, "fsync every write")
	return cmd
}

// jsCluster is three nats-server processes with JetStream, clustered by
// routes, their stores in dir.
type jsCluster struct {
	dir      string
	children []*child
	urls     map[string]string // server name -> client URL
}

// startJSCluster starts the members as copies of this binary.
func startJSCluster(ctx context.Context, tmpDir string, syncAlways bool) (*jsCluster, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tmpDir, "natsraft-bench-js-")
	if err != nil {
		return nil, err
	}
	c := &jsCluster{dir: dir, urls: map[string]string{}}
	if err := c.start(ctx, exe, syncAlways); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *jsCluster) start(ctx context.Context, exe string, syncAlways bool) error {
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	names := []string{"js1", "js2", "js3"}
	routes := make([]string, len(names))
	for i := range names {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[2*i+1])
	}
	for i, name := range names {
		c.urls[name] = fmt.Sprintf("nats://127.0.0.1:%d", ports[2*i])
		ch, err := startChild(name, filepath.Join(c.dir, name+".log"), exe, "js-member",
			"--name", name, "--port", strconv.Itoa(ports[2*i]), "--cluster-port", strconv.Itoa(ports[2*i+1]),
			"--routes", strings.Join(otherRoutes(routes, i), ","), "--store-dir", filepath.Join(c.dir, name),
			"--sync-always="+strconv.FormatBool(syncAlways))
		if err != nil {
			return err
		}
		c.children = append(c.children, ch)
	}
	return nil
}

func (c *jsCluster) exited() error {
	for _, ch := range c.children {
		if err := ch.exited(); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the servers and removes their stores.
func (c *jsCluster) Close() error {
	return errors.Join(stopChildren(c.children), os.RemoveAll(c.dir))
}

// jetstreamSystem is an R3 file-backed KV bucket; clients connect to the
// server that leads the bucket's stream, as natsraft's connect to the
// Raft leader's node.
type jetstreamSystem struct {
	name      string
	leaderURL string
	closer    closerFunc
	pids      []int // the servers' processes, when bench started them
}

// newJetStreamSystem creates the bucket on the cluster whose servers are
// urls (name -> client URL) and waits until its stream has a leader and
// current followers. closer, if set, is called by Close.
func newJetStreamSystem(ctx context.Context, name string, urls map[string]string, exited func() error, closer func() error) (*jetstreamSystem, error) {
	var all []string
	for _, u := range urls {
		all = append(all, u)
	}
	nc, err := nats.Connect(strings.Join(all, ","), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	leader, err := createBucket(ctx, js, exited)
	if err != nil {
		return nil, err
	}
	u, ok := urls[leader]
	if !ok {
		return nil, fmt.Errorf("stream leader %q is not one of the servers", leader)
	}
	return &jetstreamSystem{name: name, leaderURL: u, closer: closer}, nil
}

// createBucket creates the bucket (retrying while JetStream's meta group
// forms) and returns the name of its stream's leader once both followers
// are current.
func createBucket(ctx context.Context, js jetstream.JetStream, exited func() error) (string, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		if exited != nil {
			if err := exited(); err != nil {
				return "", err
			}
		}
		leader, err := bucketLeader(ctx, js)
		if err == nil && leader != "" {
			return leader, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("JetStream bucket not ready: %v", lastErr)
		case <-tick.C:
		}
	}
}

func bucketLeader(ctx context.Context, js jetstream.JetStream) (string, error) {
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := js.CreateKeyValue(callCtx, jetstream.KeyValueConfig{Bucket: jsBucket, Replicas: 3, Storage: jetstream.FileStorage})
	if err != nil {
		return "", err
	}
	st, err := js.Stream(callCtx, "KV_"+jsBucket)
	if err != nil {
		return "", err
	}
	info, err := st.Info(callCtx)
	if err != nil {
		return "", err
	}
	cl := info.Cluster
	if cl == nil || cl.Leader == "" || len(cl.Replicas) != 2 || !cl.Replicas[0].Current || !cl.Replicas[1].Current {
		return "", nil
	}
	return cl.Leader, nil
}

func (s *jetstreamSystem) Name() string { return s.name }

func (s *jetstreamSystem) PIDs() []int { return s.pids }

func (s *jetstreamSystem) Connect(ctx context.Context) (Target, error) {
	nc, err := nats.Connect(s.leaderURL)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	kv, err := js.KeyValue(ctx, jsBucket)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &jetstreamTarget{nc: nc, kv: kv}, nil
}

func (s *jetstreamSystem) Close() error { return s.closer.Close() }

// jetstreamTarget writes with KeyValue.Put (acknowledged once the stream's
// quorum stored it) and reads with KeyValue.Get (a direct get, served by
// the connected server: JetStream KV has no linearizable read, so both
// read kinds are the same request).
type jetstreamTarget struct {
	nc *nats.Conn
	kv jetstream.KeyValue
}

func (t *jetstreamTarget) Put(ctx context.Context, key, value []byte) error {
	_, err := t.kv.Put(ctx, string(key), value)
	return err
}

func (t *jetstreamTarget) Get(ctx context.Context, key []byte, _ bool) ([]byte, error) {
	e, err := t.kv.Get(ctx, string(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.Value(), nil
}

func (t *jetstreamTarget) Close() error {
	t.nc.Close()
	return nil
}

// startJetStream starts one comparison cluster in its own processes and
// returns it as a System (closing it stops the processes).
func startJetStream(ctx context.Context, tmpDir string, syncAlways bool) (System, error) {
	c, err := startJSCluster(ctx, tmpDir, syncAlways)
	if err != nil {
		return nil, err
	}
	sys, err := newJetStreamSystem(ctx, jsSystemName(syncAlways), c.urls, c.exited, c.Close)
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	sys.pids = childPIDs(c.children)
	return sys, nil
}

func jsSystemName(syncAlways bool) string {
	if syncAlways {
		return "jetstream sync=always"
	}
	return "jetstream default"
}
