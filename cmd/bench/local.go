package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// localOptions configure `bench local`.
type localOptions struct {
	nodes    int
	nodeBin  string // the node binary; built from ./cmd/node when empty
	tmpDir   string // parent of the run's temporary directory
	cluster  string
	keep     bool // keep the data directory (and logs) after the run
	logLevel string
}

// nodeProc is one node process of a local cluster.
type nodeProc struct {
	name    string
	natsURL string // its embedded nats-server, for clients
	httpURL string // its /v1/status and /metrics
	child   *child
}

// localCluster is N node processes on 127.0.0.1 with their data in dir.
type localCluster struct {
	dir   string
	keep  bool
	nodes []*nodeProc
}

// startLocalCluster builds (or takes) the node binary and starts the
// nodes, each with its own embedded nats-server joined by routes, data
// on disk and fsync on (the node's only mode).
func startLocalCluster(ctx context.Context, o localOptions) (*localCluster, error) {
	if o.nodes < 1 {
		return nil, fmt.Errorf("--nodes %d: want >= 1", o.nodes)
	}
	dir, err := os.MkdirTemp(o.tmpDir, "natsraft-bench-")
	if err != nil {
		return nil, err
	}
	c := &localCluster{dir: dir, keep: o.keep}
	bin := o.nodeBin
	if bin == "" {
		if bin, err = buildNode(ctx, dir); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.startNodes(bin, o); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// buildNode compiles the node binary into dir.
func buildNode(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "node")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/natsraft/natsraft/cmd/node")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/node (run bench from the natsraft module, or pass --node-bin): %w\n%s", err, out)
	}
	return bin, nil
}

func (c *localCluster) startNodes(bin string, o localOptions) error {
	ports, err := freePorts(3 * o.nodes)
	if err != nil {
		return err
	}
	names, routes := make([]string, o.nodes), make([]string, o.nodes)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3*i+1])
	}
	for i, name := range names {
		natsPort, routePort, httpPort := ports[3*i], ports[3*i+1], ports[3*i+2]
		args := []string{"run", "--id", name, "--peers", strings.Join(names, ","),
			"--data-dir", filepath.Join(c.dir, name), "--cluster", o.cluster,
			"--nats-listen", fmt.Sprintf("127.0.0.1:%d", natsPort),
			"--route-listen", fmt.Sprintf("127.0.0.1:%d", routePort),
			"--nats-routes", strings.Join(otherRoutes(routes, i), ","),
			"--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort), "--log-level", o.logLevel}
		ch, err := startChild(name, filepath.Join(c.dir, name+".log"), bin, args...)
		if err != nil {
			return err
		}
		c.nodes = append(c.nodes, &nodeProc{name: name, child: ch,
			natsURL: fmt.Sprintf("nats://127.0.0.1:%d", natsPort),
			httpURL: fmt.Sprintf("http://127.0.0.1:%d", httpPort)})
	}
	return nil
}

// otherRoutes is every route URL but the node's own.
func otherRoutes(routes []string, self int) []string {
	var out []string
	for i, r := range routes {
		if i != self {
			out = append(out, r)
		}
	}
	return out
}

// Close stops the nodes (SIGTERM, then SIGKILL after a timeout) and
// removes the directory unless asked to keep it.
func (c *localCluster) Close() error {
	var children []*child
	for _, n := range c.nodes {
		children = append(children, n.child)
	}
	err := stopChildren(children)
	if c.keep {
		fmt.Fprintf(os.Stderr, "bench: kept %s\n", c.dir)
		return err
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

// exited returns the error of the first node that has exited.
func (c *localCluster) exited() error {
	for _, n := range c.nodes {
		if err := n.child.exited(); err != nil {
			return err
		}
	}
	return nil
}

// nodeStatus is the part of a node's /v1/status that bench reads.
type nodeStatus struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Leader string `json:"leader"`
	Term   uint64 `json:"term"`
}

func fetchStatus(ctx context.Context, client *http.Client, baseURL string) (nodeStatus, error) {
	var st nodeStatus
	body, err := httpGet(ctx, client, baseURL+"/v1/status")
	if err != nil {
		return st, err
	}
	defer body.Close()
	return st, json.NewDecoder(body).Decode(&st)
}

// findLeader asks every node for its status and returns the index of the
// leader once all of them agree on it; -1 while they do not.
func findLeader(ctx context.Context, client *http.Client, urls []string) (int, error) {
	leader, agreed := -1, ""
	for i, u := range urls {
		st, err := fetchStatus(ctx, client, u)
		if err != nil {
			return -1, err
		}
		if st.Leader == "" || st.Leader == "none" || (agreed != "" && st.Leader != agreed) {
			return -1, nil
		}
		agreed = st.Leader
		if st.Role == "leader" {
			leader = i
		}
	}
	return leader, nil
}

// waitLeader polls the nodes until they agree on a leader, a node exits,
// or timeout passes.
func waitLeader(ctx context.Context, client *http.Client, urls []string, exited func() error, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		if err := exited(); err != nil {
			return -1, err
		}
		i, err := findLeader(ctx, client, urls)
		if err == nil && i >= 0 {
			return i, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("no leader after %v (last error: %v)", timeout, lastErr)
		case <-tick.C:
		}
	}
}
