package docker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
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

// What docker-compose.yml and deploy/nats-auth.json configure.
const (
	clusterName    = "natsraft"
	raftGroup      = "kv" // the Raft group of the key-value store (server.Node)
	clientUser     = "app"
	clientPassword = "app-change-me"
)

var nodeNames = []string{"n1", "n2", "n3"}

// nodePassword is the password of node user name in deploy/nats-auth.json.
func nodePassword(name string) string { return name + "-change-me" }

// Timeouts, generous for a loaded 2-core machine.
const (
	readyTimeout    = 90 * time.Second
	electionTimeout = 30 * time.Second
	convergeTimeout = 60 * time.Second
	commandTimeout  = 3 * time.Minute
)

var ctx = context.Background()

// requireDocker skips the test when no Docker engine answers, except under
// CI=true, where a missing Docker is a failure.
func requireDocker(t *testing.T) {
	t.Helper()
	out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		_, err = composeCommand()
	}
	if err == nil {
		return
	}
	msg := fmt.Sprintf("Docker Engine with Compose is needed: %v %s", err, out)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// composeCommand is "docker compose" (v2) or "docker-compose" (v1).
func composeCommand() ([]string, error) {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}, nil
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}, nil
	}
	return nil, fmt.Errorf("neither docker compose nor docker-compose is installed")
}

// composeCluster is the root docker-compose.yml brought up under a project
// name of its own, with the test's override (testdata/compose.e2e.yml).
type composeCluster struct {
	t       *testing.T
	root    string // the repository: compose's project directory
	dir     string // artifacts: logs and histories
	project string
	image   string
	compose []string
	env     []string
	mu      sync.Mutex
	ids     map[string]string // node name -> container ID
	ctlIPs  map[string]string // node name -> address on its ctl network
}

// startCompose builds the image with scripts/build-image.sh, brings the
// cluster up and waits until it has a leader and every node is ready.
// Containers, networks, volumes and the image go when the test ends, also
// when it fails (after the logs are saved).
func startCompose(t *testing.T) *composeCluster {
	t.Helper()
	requireDocker(t)
	bin, err := nodebin.Path()
	if err != nil {
		t.Fatal(err)
	}
	root, err := nodebin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	compose, _ := composeCommand()
	suffix := fmt.Sprintf("%d-%04x", os.Getpid(), rand.IntN(1<<16))
	c := &composeCluster{
		t: t, root: root, dir: artifacts.Dir(t), compose: compose,
		project: "natsraft-e2e-" + suffix, image: "natsraft-e2e:" + suffix,
		ids: map[string]string{}, ctlIPs: map[string]string{},
	}
	c.env = append(os.Environ(), "NATSRAFT_IMAGE="+c.image)
	for _, n := range nodeNames {
		// Ephemeral host ports: runs never collide on the host.
		up := strings.ToUpper(n)
		c.env = append(c.env, "NATSRAFT_"+up+"_HTTP=127.0.0.1:", "NATSRAFT_"+up+"_NATS=127.0.0.1:", "NATSRAFT_"+up+"_ETCD=127.0.0.1:")
	}
	c.removeStale()
	t.Cleanup(c.cleanup)
	start := time.Now()
	must(t)(c.run([]string{"NATSRAFT_NODE_BINARY=" + bin}, "scripts/build-image.sh", c.image))
	must(t)(c.composeRun("up", "-d"))
	for _, n := range nodeNames {
		id := strings.TrimSpace(must(t)(c.composeRun("ps", "-q", n)))
		if id == "" {
			t.Fatalf("no container for %s", n)
		}
		c.ids[n] = id
		if err := c.refreshIP(n); err != nil {
			t.Fatal(err)
		}
	}
	c.waitHealthy(t)
	t.Logf("image %s built and cluster %s up in %v", c.image, c.project, time.Since(start).Round(time.Millisecond))
	return c
}

// run runs a command in the repository, with env added to the cluster's
// environment.
func (c *composeCluster) run(env []string, args ...string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, args[0], args[1:]...)
	cmd.Dir = c.root
	cmd.Env = append(c.env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *composeCluster) composeRun(args ...string) (string, error) {
	return c.composeProject(c.project, args...)
}

func (c *composeCluster) composeProject(project string, args ...string) (string, error) {
	base := append(append([]string{}, c.compose...), "-p", project,
		"-f", "docker-compose.yml", "-f", filepath.Join("e2e", "docker", "testdata", "compose.e2e.yml"))
	return c.run(nil, append(base, args...)...)
}

func (c *composeCluster) docker(args ...string) (string, error) {
	return c.run(nil, append([]string{"docker"}, args...)...)
}

// must returns a function that fails t on an error, else returns the
// output: must(t)(c.docker(...)).
func must(t *testing.T) func(out string, err error) string {
	return func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func (c *composeCluster) id(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids[name]
}

// network is the compose network's full name (raft, ctl1...).
func (c *composeCluster) network(short string) string {
	return c.project + "_" + short
}

// refreshIP reads the node's address on its ctl network (it may change when
// the container starts again).
func (c *composeCluster) refreshIP(name string) error {
	format := fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, c.network("ctl"+name[1:]))
	out, err := c.docker("inspect", "-f", format, c.id(name))
	ip := strings.TrimSpace(out)
	if err == nil && ip == "" {
		err = fmt.Errorf("%s has no address on its ctl network", name)
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.ctlIPs[name] = ip
	c.mu.Unlock()
	return nil
}

func (c *composeCluster) ip(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctlIPs[name]
}

// probes returns how to reach the named nodes (all when none are named).
func (c *composeCluster) probes(names ...string) []probe.Node {
	if len(names) == 0 {
		names = nodeNames
	}
	out := make([]probe.Node, len(names))
	for i, n := range names {
		out[i] = probe.Node{Name: n, HTTP: "http://" + c.ip(n) + ":8080"}
	}
	return out
}

// connect opens a NATS connection as user to the named nodes' servers, in
// that order. With only set, the client never moves to a server it was not
// given (the minority partition's client).
func (c *composeCluster) connect(t *testing.T, user, password string, only bool, names []string, extra ...nats.Option) *nats.Conn {
	t.Helper()
	var urls []string
	for _, n := range names {
		urls = append(urls, "nats://"+c.ip(n)+":4222")
	}
	opts := []nats.Option{nats.UserInfo(user, password), nats.DontRandomize(), nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond), nats.Timeout(time.Second), nats.RetryOnFailedConnect(true),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(2), nats.Name("e2e-" + user)}
	if only {
		opts = append(opts, nats.IgnoreDiscoveredServers())
	}
	nc, err := nats.Connect(strings.Join(urls, ","), append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// client is a Go client as the client user, on the named nodes' servers.
func (c *composeCluster) client(t *testing.T, names ...string) *client.Client {
	t.Helper()
	return c.clientOn(t, c.connect(t, clientUser, clientPassword, false, names))
}

func (c *composeCluster) clientOn(t *testing.T, nc *nats.Conn) *client.Client {
	t.Helper()
	cl, err := client.New(nc, clusterName, client.Options{AttemptTimeout: time.Second, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// leader waits for a leader among the named nodes (all when none).
func (c *composeCluster) leader(t *testing.T, names ...string) (string, uint64) {
	t.Helper()
	leader, term, err := probe.Leader(ctx, c.probes(names...), electionTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return leader, term
}

// waitHealthy waits for one leader, every node ready, and the same data on
// every node.
func (c *composeCluster) waitHealthy(t *testing.T) {
	t.Helper()
	if err := c.healthy(); err != nil {
		t.Fatal(err)
	}
}

func (c *composeCluster) healthy() error {
	if _, _, err := probe.Leader(ctx, c.probes(), readyTimeout); err != nil {
		return err
	}
	err := probe.Until(ctx, readyTimeout, "every node ready", func(ctx context.Context) (bool, string, error) {
		for _, n := range c.probes() {
			if !probe.Ready(ctx, n) {
				return false, n.Name + " not ready", nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	_, err = probe.SameState(ctx, c.probes(), convergeTimeout)
	return err
}

// Faults. Each returns once docker has carried it out.

func (c *composeCluster) kill(name string) error {
	_, err := c.docker("kill", "--signal", "KILL", c.id(name))
	return err
}

func (c *composeCluster) start(name string) error {
	if _, err := c.docker("start", c.id(name)); err != nil {
		return err
	}
	return c.refreshIP(name)
}

func (c *composeCluster) pause(name string) error {
	_, err := c.docker("pause", c.id(name))
	return err
}

func (c *composeCluster) unpause(name string) error {
	_, err := c.docker("unpause", c.id(name))
	return err
}

// disconnect cuts the node off the shared network: it keeps only its ctl
// network, which no other node is on.
func (c *composeCluster) disconnect(name string) error {
	_, err := c.docker("network", "disconnect", c.network("raft"), c.id(name))
	return err
}

// reconnect puts the node back on the shared network under its service
// name, which the other nodes' routes resolve.
func (c *composeCluster) reconnect(name string) error {
	_, err := c.docker("network", "connect", "--alias", name, c.network("raft"), c.id(name))
	return err
}

// restart restarts the named containers concurrently (SIGTERM, then start).
func (c *composeCluster) restart(t *testing.T, names ...string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.docker("restart", "--time", "10", c.id(n))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		if err := c.refreshIP(n); err != nil {
			t.Fatal(err)
		}
	}
}

// restartCounts is how often docker restarted each container by its
// restart policy: a node that crashed (fail-stop) shows up here.
func (c *composeCluster) restartCounts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range nodeNames {
		out[n] = strings.TrimSpace(must(t)(c.docker("inspect", "-f", "{{.RestartCount}}", c.id(n))))
	}
	return out
}

// cleanup saves the logs and data directories when the test failed, then
// removes containers, networks, volumes and the image.
func (c *composeCluster) cleanup() {
	for _, n := range nodeNames { // a paused container can be neither copied nor removed
		if id := c.id(n); id != "" {
			_, _ = c.docker("unpause", id)
		}
	}
	if c.t.Failed() {
		for _, n := range nodeNames {
			if id := c.id(n); id != "" {
				out, _ := c.docker("logs", "--timestamps", id)
				_ = os.WriteFile(filepath.Join(c.dir, n+".log"), []byte(out), 0o644)
				if out, err := c.docker("cp", id+":/data", filepath.Join(c.dir, n+"-data")); err != nil {
					c.t.Logf("copying the data of %s: %v\n%s", n, err, out)
				}
			}
		}
		out, _ := c.composeRun("ps")
		_ = os.WriteFile(filepath.Join(c.dir, "compose-ps.txt"), []byte(out), 0o644)
	}
	if out, err := c.composeRun("down", "--volumes", "--remove-orphans", "--timeout", "1"); err != nil {
		c.t.Errorf("compose down: %v\n%s", err, out)
	}
	if out, err := c.docker("image", "rm", "--force", c.image); err != nil && !strings.Contains(out, "No such image") {
		c.t.Errorf("removing the image: %v\n%s", err, out)
	}
}

// removeStale removes what earlier runs left behind when their test binary
// was killed before its cleanups ran (a go test timeout): projects and
// images named after a process that no longer exists.
func (c *composeCluster) removeStale() {
	out, _ := c.docker("ps", "--all", "--filter", "label=com.docker.compose.project",
		"--format", `{{.Label "com.docker.compose.project"}}`)
	images, _ := c.docker("images", "natsraft-e2e", "--format", "{{.Repository}}:{{.Tag}}")
	for _, name := range strings.Fields(out + " " + images) {
		var pid int
		tag := strings.TrimPrefix(strings.TrimPrefix(name, "natsraft-e2e-"), "natsraft-e2e:")
		if _, err := fmt.Sscanf(tag, "%d-", &pid); err != nil || pid == os.Getpid() || processExists(pid) {
			continue
		}
		if strings.Contains(name, ":") {
			_, _ = c.docker("image", "rm", "--force", name)
			continue
		}
		_, _ = c.composeProject(name, "down", "--volumes", "--remove-orphans", "--timeout", "1")
	}
}

func processExists(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	nodebin.Cleanup()
	os.Exit(code)
}
