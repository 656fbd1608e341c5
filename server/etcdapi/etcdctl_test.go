package etcdapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/internal/gobuild"
	"github.com/natsraft/natsraft/server/etcdapi"
)

// etcdctlVersion is the etcdctl the test builds (internal/gobuild: `go
// install` refuses it, as its go.mod has replace directives), requiring it
// and its sibling modules at the same version.
const etcdctlVersion = "v3.7.3"

// etcdctlBuildTimeout bounds the build (module downloads included).
const etcdctlBuildTimeout = 8 * time.Minute

var etcdctlModules = []string{"etcdctl/v3", "api/v3", "client/pkg/v3", "client/v3", "pkg/v3", "server/v3"}

// etcdctlBinary returns etcdctl, built once per version under the user
// cache directory (so CI builds it once per run, developers once).
func etcdctlBinary(t *testing.T) string {
	t.Helper()
	cmd := gobuild.Command{
		Name:    "etcdctl",
		Version: etcdctlVersion,
		Package: "go.etcd.io/etcd/etcdctl/v3",
		Check: func(bin string) bool {
			out, err := exec.Command(bin, "version").Output()
			return err == nil && bytes.Contains(out, []byte(strings.TrimPrefix(etcdctlVersion, "v")))
		},
	}
	for _, m := range etcdctlModules {
		cmd.Require = append(cmd.Require, "go.etcd.io/etcd/"+m+" "+etcdctlVersion)
	}
	ctx, cancel := context.WithTimeout(context.Background(), etcdctlBuildTimeout)
	defer cancel()
	bin, err := gobuild.Build(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// etcdctl runs the real etcdctl against the cluster.
type etcdctl struct {
	t         *testing.T
	bin       string
	endpoints string
}

func (e *etcdctl) run(stdin string, args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append([]string{"--endpoints=" + e.endpoints, "--command-timeout=20s"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("etcdctl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func (e *etcdctl) expect(want string, args ...string) {
	e.t.Helper()
	if got := e.run("", args...); strings.TrimSpace(got) != want {
		e.t.Fatalf("etcdctl %s:\n%s\nwant:\n%s", strings.Join(args, " "), got, want)
	}
}

// TestEtcdctl drives the real etcdctl against a 3-node cluster.
func TestEtcdctl(t *testing.T) {
	bin := etcdctlBinary(t)
	env := newEnv(t, etcdapi.Options{})
	ctl := &etcdctl{t: t, bin: bin, endpoints: strings.Join(env.c.Endpoints(), ",")}

	ctl.expect("OK", "put", "foo", "bar") // revision 2
	ctl.expect("OK", "put", "foo/a", "1") // 3
	ctl.expect("OK", "put", "foo", "baz") // 4
	var got struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
		Kvs []struct {
			Key         []byte `json:"key"`
			Value       []byte `json:"value"`
			ModRevision int64  `json:"mod_revision"`
		} `json:"kvs"`
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal([]byte(ctl.run("", "get", "foo", "--prefix", "-w", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Header.Revision != 4 || got.Count != 2 || string(got.Kvs[0].Key) != "foo" || string(got.Kvs[0].Value) != "baz" || string(got.Kvs[1].Key) != "foo/a" {
		t.Fatalf("get --prefix -w json: %+v", got)
	}
	ctl.expect("foo\nbar", "get", "foo", "--rev=2")

	// watch --rev replays history, then gets live events.
	watch := startWatch(t, ctl, "watch", "foo", "--rev=2")
	ctl.expect("OK", "put", "foo", "live") // 5
	watch.expect("PUT", "foo", "bar", "PUT", "foo", "baz", "PUT", "foo", "live")

	out := ctl.run("value(\"foo\") = \"live\"\n\nput foo txn\n\nget foo\n\n", "txn")
	if strings.TrimSpace(out) != "SUCCESS\n\nOK" {
		t.Fatalf("txn: %s", out)
	}
	out = ctl.run("mod(\"foo\") = \"1\"\n\nput foo never\n\nget foo\n\n", "txn")
	if strings.TrimSpace(out) != "FAILURE\n\nfoo\ntxn" {
		t.Fatalf("failed txn: %s", out)
	}
	ctl.expect("2", "del", "foo", "--prefix")

	grant := ctl.run("", "lease", "grant", "60")
	m := regexp.MustCompile(`lease ([0-9a-f]+) granted with TTL\(60s\)`).FindStringSubmatch(grant)
	if m == nil {
		t.Fatalf("lease grant: %s", grant)
	}
	ctl.expect("OK", "put", "--lease="+m[1], "leased", "v")
	ctl.expect("leased\nv", "get", "leased")
	ctl.expect(fmt.Sprintf("lease %s revoked", m[1]), "lease", "revoke", m[1])
	ctl.expect("", "get", "leased")

	rev := env.node("n1").Revision()
	ctl.expect(fmt.Sprintf("compacted revision %d", rev), "compaction", strconv.FormatInt(rev, 10))
	if _, err := exec.Command(bin, "--endpoints="+ctl.endpoints, "get", "foo", "--rev=2").Output(); err == nil {
		t.Fatal("get below the compaction succeeded")
	}

	var statuses []struct {
		Endpoint string `json:"Endpoint"`
		Status   struct {
			Version string `json:"version"`
			Leader  uint64 `json:"leader"`
		} `json:"Status"`
	}
	if err := json.Unmarshal([]byte(ctl.run("", "endpoint", "status", "--cluster", "-w", "json")), &statuses); err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 3 || statuses[0].Status.Version != etcdapi.DefaultVersion || statuses[0].Status.Leader == 0 {
		t.Fatalf("endpoint status --cluster: %+v", statuses)
	}
	if health := ctl.run("", "endpoint", "health"); strings.Count(health, "is healthy") != 3 {
		t.Fatalf("endpoint health: %s", health)
	}
	members := ctl.run("", "member", "list")
	for _, n := range env.c.Names {
		if !strings.Contains(members, ", started, "+n+", ") || !strings.Contains(members, env.endpoint(n)) {
			t.Fatalf("member list lacks %s:\n%s", n, members)
		}
	}
}

// watchProc is a running etcdctl watch.
type watchProc struct {
	t     *testing.T
	lines chan string
}

func startWatch(t *testing.T, ctl *etcdctl, args ...string) *watchProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, ctl.bin, append([]string{"--endpoints=" + ctl.endpoints}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watchProc{t: t, lines: make(chan string, 100)}
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	return w
}

func (w *watchProc) expect(want ...string) {
	w.t.Helper()
	for i, line := range want {
		select {
		case got, ok := <-w.lines:
			if !ok || got != line {
				w.t.Fatalf("watch output line %d: %q (open %v), want %q", i, got, ok, line)
			}
		case <-time.After(watchStall):
			w.t.Fatalf("watch output: nothing after line %d", i)
		}
	}
}
