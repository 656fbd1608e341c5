package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
	"github.com/natsraft/natsraft/server/natsapi/natsapitest"
)

// testOptions are short enough for failovers on the 10 ms test tick.
var testOptions = client.Options{
	Timeout:        10 * time.Second,
	AttemptTimeout: time.Second,
	WatchHeartbeat: 100 * time.Millisecond,
}

func startCluster(t testing.TB) *natsapitest.Cluster {
	return natsapitest.Start(t, natsapi.Options{}, "n1", "n2", "n3")
}

func newClient(t testing.TB, c *natsapitest.Cluster, opts client.Options) *client.Client {
	t.Helper()
	cl, err := client.New(c.Conn(), c.Name(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestKeyValueOperations(t *testing.T) {
	c := startCluster(t)
	cl := newClient(t, c, testOptions)
	ctx := ctxT(t, 30*time.Second)

	p1, err := cl.Put(ctx, "app/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(ctx, "app/b", "2"); err != nil {
		t.Fatal(err)
	}
	bin := string([]byte{0, 0xff, 'x'})
	if _, err := cl.Put(ctx, bin, bin); err != nil {
		t.Fatal(err)
	}
	p2, err := cl.Put(ctx, "app/a", "1b", client.WithPrevKV())
	if err != nil || p2.PrevKv == nil || string(p2.PrevKv.Value) != "1" || p2.Header.Revision != p1.Header.Revision+3 {
		t.Fatalf("put with prev kv: %+v %v", p2, err)
	}
	if cl.Revision() != p2.Header.Revision {
		t.Fatalf("session revision %d, last write %d", cl.Revision(), p2.Header.Revision)
	}

	get, err := cl.Get(ctx, "app/a")
	if err != nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "1b" || get.Kvs[0].Version != 2 {
		t.Fatalf("get: %+v %v", get, err)
	}
	get, err = cl.Get(ctx, bin)
	if err != nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != bin {
		t.Fatalf("binary get: %+v %v", get, err)
	}
	get, err = cl.Get(ctx, "app/", client.WithPrefix(), client.WithSerializable(), client.WithKeysOnly())
	if err != nil || get.Count != 2 || string(get.Kvs[1].Key) != "app/b" || len(get.Kvs[1].Value) != 0 {
		t.Fatalf("prefix get: %+v %v", get, err)
	}
	get, err = cl.Get(ctx, "app/a", client.WithRev(p1.Header.Revision))
	if err != nil || string(get.Kvs[0].Value) != "1" {
		t.Fatalf("get at revision %d: %+v %v", p1.Header.Revision, get, err)
	}
	get, err = cl.Get(ctx, "", client.WithPrefix(), client.WithCountOnly())
	if err != nil || get.Count != 3 || len(get.Kvs) != 0 {
		t.Fatalf("count all: %+v %v", get, err)
	}

	txn, err := cl.Txn(ctx, &kv.TxnRequest{
		Compare: []kv.Compare{client.CompareModRevision("app/a", kv.CompareEqual, p2.Header.Revision)},
		Success: []kv.RequestOp{client.OpPut("app/c", "3"), client.OpGet("app/", client.WithPrefix())},
		Failure: []kv.RequestOp{client.OpGet("app/a")},
	})
	if err != nil || !txn.Succeeded || txn.Responses[1].Range.Count != 3 {
		t.Fatalf("txn: %+v %v", txn, err)
	}
	txn, err = cl.Txn(ctx, &kv.TxnRequest{
		Compare: []kv.Compare{client.CompareVersion("app/a", kv.CompareEqual, 0)},
		Success: []kv.RequestOp{client.OpPut("app/a", "created")},
		Failure: []kv.RequestOp{client.OpGet("app/a")},
	})
	if err != nil || txn.Succeeded || string(txn.Responses[0].Range.Kvs[0].Value) != "1b" {
		t.Fatalf("txn create-if-absent on an existing key: %+v %v", txn, err)
	}

	del, err := cl.Delete(ctx, "app/", client.WithPrefix(), client.WithPrevKV())
	if err != nil || del.Deleted != 3 || len(del.PrevKvs) != 3 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := cl.Compact(ctx, del.Header.Revision); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Get(ctx, "app/a", client.WithRev(p1.Header.Revision))
	if !errors.Is(err, client.ErrCompacted) || client.CodeOf(err) != server.CodeCompacted {
		t.Fatalf("get below the compaction: %v", err)
	}
	_, err = cl.Get(ctx, "app/a", client.WithRev(del.Header.Revision+100))
	if !errors.Is(err, client.ErrFutureRevision) {
		t.Fatalf("get at a future revision: %v", err)
	}
}

func TestErrorsAreTheSameValues(t *testing.T) {
	c := startCluster(t)
	cl := newClient(t, c, testOptions)
	ctx := ctxT(t, 30*time.Second)
	for _, tc := range []struct {
		name string
		err  func() error
		want error
	}{
		{"empty key", func() error { _, err := cl.Put(ctx, "", "v"); return err }, client.ErrInvalidArgument},
		{"key too large", func() error { _, err := cl.Put(ctx, strings.Repeat("k", 40<<10), "v"); return err }, client.ErrTooLarge},
		{"request above the NATS max payload", func() error {
			_, err := cl.Put(ctx, "k", strings.Repeat("v", 2<<20))
			return err
		}, client.ErrTooLarge},
		{"ignore value on a missing key", func() error {
			_, err := cl.Put(ctx, "missing", "", client.WithIgnoreValue())
			return err
		}, client.ErrNotFound},
		{"too many ops", func() error {
			txn := &kv.TxnRequest{}
			for range 200 {
				txn.Success = append(txn.Success, client.OpGet("k"))
			}
			_, err := cl.Txn(ctx, txn)
			return err
		}, client.ErrInvalidArgument},
	} {
		err := tc.err()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := client.New(nil, "x", client.Options{}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("New without a connection: %v", err)
	}
	wrong, _ := client.New(c.Conn(), "no-such-cluster", client.Options{AttemptTimeout: 100 * time.Millisecond})
	if _, err := wrong.Get(ctxT(t, 300*time.Millisecond), "k"); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("a cluster nobody serves: %v", err)
	}
}

func TestStatusMembersAndTransfer(t *testing.T) {
	c := startCluster(t)
	cl := newClient(t, c, testOptions)
	ctx := ctxT(t, 30*time.Second)
	lead := c.Leader()
	st, err := cl.Status(ctx)
	if err != nil || st.Leader != lead || st.Cluster != c.Name() {
		t.Fatalf("status: %+v %v (leader %s)", st, err, lead)
	}
	members, err := cl.Members(ctx)
	if err != nil || len(members) != 3 {
		t.Fatalf("members: %+v %v", members, err)
	}
	to := "n1"
	if lead == to {
		to = "n2"
	}
	// A transfer the leader cannot finish within an election timeout is
	// dropped: ask again until done (polled: no event says it is done).
	asked := time.Time{}
	c.WaitFor("the transfer to "+to, func() bool {
		if time.Since(asked) > time.Second {
			if err := cl.TransferLeadership(ctx, to); err != nil {
				t.Fatal(err)
			}
			asked = time.Now()
		}
		return c.Nodes[to].Status().Role == "leader"
	})
}

// TestNoLeader stops two of three nodes: writes and linearizable reads
// fail with ErrNoLeader once the deadline passes, serializable reads work.
func TestNoLeader(t *testing.T) {
	c := startCluster(t)
	cl := newClient(t, c, testOptions)
	if _, err := cl.Put(ctxT(t, 10*time.Second), "k", "v"); err != nil {
		t.Fatal(err)
	}
	survivor := "n1"
	c.StopNode("n2")
	c.StopNode("n3")
	c.WaitFor("n1 to know it has no leader", func() bool { return c.Nodes[survivor].Status().Leader == "none" })
	if _, err := cl.Put(ctxT(t, 500*time.Millisecond), "k", "w"); !errors.Is(err, client.ErrNoLeader) {
		t.Fatalf("put without a leader: %v", err)
	}
	if _, err := cl.Get(ctxT(t, 500*time.Millisecond), "k"); !errors.Is(err, client.ErrNoLeader) {
		t.Fatalf("linearizable get without a leader: %v", err)
	}
	get, err := cl.Get(ctxT(t, 5*time.Second), "k", client.WithSerializable())
	if err != nil || string(get.Kvs[0].Value) != "v" {
		t.Fatalf("serializable get without a leader: %+v %v", get, err)
	}
}

// TestRequestsRetryAcrossALeaderChange stops the leader. A read right
// after succeeds (it is retried across refusals and timeouts). A write is
// retried across refusals (no leader, node stopping); one forwarded to the
// dead leader times out with its outcome unknown, and is not retried: the
// caller sees ErrTimeout and nothing else, then writes succeed again.
func TestRequestsRetryAcrossALeaderChange(t *testing.T) {
	c := startCluster(t)
	cl := newClient(t, c, testOptions)
	ctx := ctxT(t, 30*time.Second)
	put, err := cl.Put(ctx, "k", "0")
	if err != nil {
		t.Fatal(err)
	}
	old := c.Leader()
	c.StopNode(old)
	get, err := cl.Get(ctx, "k")
	if err != nil || string(get.Kvs[0].Value) != "0" || get.Header.Revision < put.Header.Revision {
		t.Fatalf("get after the leader stopped: %+v %v", get, err)
	}
	for i := 0; ; i++ {
		_, err := cl.Put(ctx, "k", "1")
		if err == nil {
			break
		}
		if !errors.Is(err, client.ErrTimeout) || i == 5 {
			t.Fatalf("put %d after the leader stopped: %v", i, err)
		}
	}
	if lead := c.Leader(); lead == old {
		t.Fatalf("the old leader %s still leads", old)
	}
	if _, err := cl.Put(ctx, "k", "2"); err != nil {
		t.Fatalf("put under the new leader: %v", err)
	}
}
