package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
	"github.com/natsraft/natsraft/server/natsapi/natsapitest"
)

// cli runs the client commands against a cluster, as `node ...` would.
type cli struct {
	t *testing.T
	c *natsapitest.Cluster
}

func (c cli) run(stdin string, args ...string) (string, error) {
	root := &cobra.Command{Use: "node", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newKVCommand(), newStatusCommand(), newMembersCommand())
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append(args, "--nats-url", c.c.NATS.ClientURL(), "--cluster", c.c.Name()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// ok runs a command that must succeed and returns its output.
func (c cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c cli) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok("", append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("node %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestKVCommands(t *testing.T) {
	c := natsapitest.Start(t, natsapi.Options{}, "n1", "n2", "n3")
	c.Leader()
	node := cli{t: t, c: c}

	out := node.ok("", "kv", "put", "app/a", "1")
	if !strings.HasPrefix(out, "OK (revision ") {
		t.Fatalf("put: %q", out)
	}
	node.ok("from stdin", "kv", "put", "app/b")
	if out := node.ok("", "kv", "get", "app/", "--prefix"); out != "app/a\n1\napp/b\nfrom stdin\n" {
		t.Fatalf("get --prefix: %q", out)
	}
	var rng natsapi.RangeResponseJSON
	node.json(&rng, "kv", "get", "app/a", "--serializable")
	if len(rng.Kvs) != 1 || *rng.Kvs[0].Value != "1" {
		t.Fatalf("get -o json: %+v", rng)
	}
	if out := node.ok("", "kv", "get", "", "--prefix", "--count-only"); out != "2\n" {
		t.Fatalf("count: %q", out)
	}

	// A compare-and-swap on the mod revision, given on standard input.
	cas := `{"compare":[{"key":"app/a","target":"mod","mod_revision":` + strconv.FormatInt(rng.Kvs[0].ModRevision, 10) + `}],
		"success":[{"put":{"key":"app/a","value":"2"}}],"failure":[{"range":{"key":"app/a"}}]}`
	if out := node.ok(cas, "kv", "txn"); !strings.HasPrefix(out, "SUCCEEDED") {
		t.Fatalf("txn: %q", out)
	}
	var txn natsapi.TxnResponseJSON
	node.json(&txn, "kv", "txn", "--txn", cas)
	if txn.Succeeded || *txn.Responses[0].Range.Kvs[0].Value != "2" {
		t.Fatalf("the same txn again: %+v", txn)
	}
	if _, err := node.run(`{"compare":[{"key":"a"}]}`, "kv", "txn"); err == nil {
		t.Fatal("a txn without a compare target was accepted")
	}

	// A watch from the next revision, for two events.
	next := rng.Header.Revision + 2
	var watchOut string
	var watchErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchOut, watchErr = node.run("", "kv", "watch", "app/", "--prefix", "--rev", strconv.FormatInt(next, 10), "--count", "2", "-o", "json")
	}()
	node.ok("", "kv", "put", "app/c", "3")
	if out := node.ok("", "kv", "del", "app/", "--prefix"); !strings.HasPrefix(out, "deleted 3 ") {
		t.Fatalf("del --prefix: %q", out)
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(watchOut), "\n")
	if watchErr != nil || len(lines) != 2 || !strings.Contains(lines[0], `"type":"put"`) || !strings.Contains(lines[1], `"type":"delete"`) {
		t.Fatalf("watch: %v\n%s", watchErr, watchOut)
	}

	if _, err := node.run("", "kv", "get", "app/a", "--rev", "100000"); err == nil || !strings.Contains(err.Error(), "future") {
		t.Fatalf("get at a future revision: %v", err)
	}
	if _, err := node.run("", "kv", "get", "a", "-o", "yaml"); err == nil {
		t.Fatal("-o yaml accepted")
	}
}

func TestStatusAndMembersCommands(t *testing.T) {
	c := natsapitest.Start(t, natsapi.Options{}, "n1", "n2", "n3")
	lead := c.Leader()
	node := cli{t: t, c: c}
	if out := node.ok("", "status"); !strings.Contains(out, "leader") || !strings.Contains(out, lead) {
		t.Fatalf("status: %q", out)
	}
	var st server.Status
	node.json(&st, "status")
	if st.Leader != lead || len(st.Members) != 3 {
		t.Fatalf("status -o json: %+v", st)
	}
	out := node.ok("", "members", "list")
	for _, name := range []string{"n1", "n2", "n3"} {
		if !strings.Contains(out, name) {
			t.Fatalf("members list: %q", out)
		}
	}
	if out := node.ok("", "members", "add-learner", "n4"); !strings.Contains(out, "accepted") {
		t.Fatalf("add-learner: %q", out)
	}
	c.WaitFor("n4 listed", func() bool {
		var ms natsapi.MembersResponse
		node.json(&ms, "members", "list")
		return len(ms.Members) == 4
	})
	if _, err := node.run("", "members", "promote"); err == nil {
		t.Fatal("promote without a name accepted")
	}
}
