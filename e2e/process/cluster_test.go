package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/e2e/internal/artifacts"
	"github.com/natsraft/natsraft/e2e/internal/nodebin"
	"github.com/natsraft/natsraft/e2e/internal/probe"
)

// Timeouts of the waits, generous for a loaded 2-core CI machine.
const (
	electionTimeout = 20 * time.Second
	catchUpTimeout  = 30 * time.Second
	stopTimeout     = 15 * time.Second
)

// clusterName scopes the NATS subjects of every test cluster.
const clusterName = "e2e"

// cluster is a set of node processes on loopback, each with its own embedded
// nats-server, joined by routes, as in a real deployment.
type cluster struct {
	t     *testing.T
	bin   string
	dir   string // artifacts: one data directory and one log per node
	opts  options
	mu    sync.Mutex
	nodes map[string]*node
	names []string     // in start order
	ports map[int]bool // handed out, so that no two nodes share one
}

type options struct {
	// snapshotEntries is passed as --snapshot-entries when not zero.
	snapshotEntries int
}

// node is one member: its addresses stay the same across restarts.
type node struct {
	name                          string
	dataDir, logPath              string
	natsPort, routePort, httpPort int
	extra                         []string // flags of the first start only (--peers or --join)

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the running process ended
	expected bool          // the test stopped it
	exitErr  error
}

// startCluster starts names as a new cluster and waits for a leader.
func startCluster(t *testing.T, opts options, names ...string) *cluster {
	t.Helper()
	bin, err := nodebin.Path()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, bin: bin, dir: artifacts.Dir(t), opts: opts, nodes: map[string]*node{}, ports: map[int]bool{}}
	t.Cleanup(c.close)
	for _, name := range names {
		c.newNode(name, "--peers", strings.Join(names, ","))
	}
	for _, name := range names {
		c.start(name)
	}
	if _, _, err := probe.Leader(context.Background(), c.probes(names...), electionTimeout); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) newNode(name string, extra ...string) *node {
	n := &node{
		name: name, dataDir: filepath.Join(c.dir, name), logPath: filepath.Join(c.dir, name+".log"),
		natsPort: c.freePort(), routePort: c.freePort(), httpPort: c.freePort(), extra: extra,
	}
	c.mu.Lock()
	c.nodes[name] = n
	c.names = append(c.names, name)
	c.mu.Unlock()
	return n
}

func (c *cluster) node(name string) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	if !ok {
		c.t.Fatalf("no node %s", name)
	}
	return n
}

// routes lists every node's route URL; a server skips its own.
func (c *cluster) routes() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var urls []string
	for _, name := range c.names {
		urls = append(urls, fmt.Sprintf("nats-route://127.0.0.1:%d", c.nodes[name].routePort))
	}
	return strings.Join(urls, ",")
}

// start starts (or restarts) the node's process. A restart is given only
// its data directory and addresses, as the README promises.
func (c *cluster) start(name string) {
	c.t.Helper()
	n := c.node(name)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		c.t.Fatalf("%s is already running", name)
	}
	args := []string{"run", "--id", name, "--cluster", clusterName, "--data-dir", n.dataDir,
		"--nats-listen", fmt.Sprintf("127.0.0.1:%d", n.natsPort),
		"--route-listen", fmt.Sprintf("127.0.0.1:%d", n.routePort),
		"--nats-routes", c.routes(),
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", n.httpPort), "--log-level", "info"}
	if c.opts.snapshotEntries > 0 {
		args = append(args, "--snapshot-entries", strconv.Itoa(c.opts.snapshotEntries))
	}
	if _, err := os.Stat(n.dataDir); errors.Is(err, os.ErrNotExist) {
		args = append(args, n.extra...)
	}
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	fmt.Fprintf(logFile, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), c.bin, strings.Join(args, " "))
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		c.t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	n.cmd, n.exited, n.expected, n.exitErr = cmd, exited, false, nil
	go func() {
		err := cmd.Wait()
		logFile.Close()
		n.mu.Lock()
		n.exitErr = err
		n.mu.Unlock()
		close(exited)
	}()
}

// kill sends SIGKILL to the nodes at once and waits for them to end.
func (c *cluster) kill(names ...string) { c.signal(syscall.SIGKILL, names...) }

// freeze stops the node's process (SIGSTOP) without closing anything, as
// docker pause or a hung host would; thaw resumes it (SIGCONT).
func (c *cluster) freeze(name string) { c.pauseSignal(name, syscall.SIGSTOP) }
func (c *cluster) thaw(name string)   { c.pauseSignal(name, syscall.SIGCONT) }

func (c *cluster) pauseSignal(name string, sig syscall.Signal) {
	c.t.Helper()
	n := c.node(name)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		c.t.Fatalf("%s is not running", name)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("%v to %s: %v", sig, name, err)
	}
}

// stop sends SIGTERM (a graceful stop) and waits for the process to end.
func (c *cluster) stop(name string) { c.signal(syscall.SIGTERM, name) }

func (c *cluster) signal(sig syscall.Signal, names ...string) {
	c.t.Helper()
	var nodes []*node
	for _, name := range names {
		n := c.node(name)
		n.mu.Lock()
		cmd := n.cmd
		n.expected = true
		n.mu.Unlock()
		if cmd == nil {
			c.t.Fatalf("%s is not running", name)
		}
		_ = cmd.Process.Signal(sig)
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		n.mu.Lock()
		cmd, exited := n.cmd, n.exited
		n.mu.Unlock()
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
			c.t.Errorf("%s did not stop within %v of %v", n.name, stopTimeout, sig)
		}
		n.mu.Lock()
		n.cmd = nil
		n.mu.Unlock()
	}
}

// close kills what still runs and reports nodes that died on their own.
func (c *cluster) close() {
	c.mu.Lock()
	nodes := make([]*node, 0, len(c.names))
	for _, name := range c.names {
		nodes = append(nodes, c.nodes[name])
	}
	c.mu.Unlock()
	for _, n := range nodes {
		n.mu.Lock()
		cmd, exited, expected := n.cmd, n.exited, n.expected
		n.mu.Unlock()
		if cmd == nil {
			continue
		}
		select {
		case <-exited:
			if !expected {
				c.t.Errorf("%s exited on its own: %v (log: %s)", n.name, n.exitErr, n.logPath)
			}
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	if c.t.Failed() {
		for _, n := range nodes {
			c.t.Logf("last lines of %s:\n%s", n.logPath, tail(n.logPath, 10))
		}
	}
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// probes returns how to reach the named nodes (all when none are named).
func (c *cluster) probes(names ...string) []probe.Node {
	if len(names) == 0 {
		c.mu.Lock()
		names = append(names, c.names...)
		c.mu.Unlock()
	}
	out := make([]probe.Node, len(names))
	for i, name := range names {
		out[i] = probe.Node{Name: name, HTTP: fmt.Sprintf("http://127.0.0.1:%d", c.node(name).httpPort)}
	}
	return out
}

// client connects a Go client to the named nodes' NATS servers (the first
// one first; the others on reconnect), closed when the test ends.
func (c *cluster) client(names ...string) *client.Client {
	c.t.Helper()
	var urls []string
	for _, name := range names {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", c.node(name).natsPort))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true), nats.Name("e2e-client"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	cl, err := client.New(nc, clusterName, client.Options{AttemptTimeout: time.Second, Timeout: 5 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// leader waits for a leader among the named nodes (all when none).
func (c *cluster) leader(names ...string) (string, uint64) {
	c.t.Helper()
	leader, term, err := probe.Leader(context.Background(), c.probes(names...), electionTimeout)
	if err != nil {
		c.t.Fatal(err)
	}
	return leader, term
}

// freePort returns a loopback port nothing listens on now and that no other
// node of the cluster was given.
func (c *cluster) freePort() int {
	c.t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			c.t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		c.mu.Lock()
		taken := c.ports[port]
		c.ports[port] = true
		c.mu.Unlock()
		if !taken {
			return port
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	nodebin.Cleanup()
	os.Exit(code)
}
