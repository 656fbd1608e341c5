package etcdapi_test

import (
	"errors"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/natsraft/natsraft/server/etcdapi"
)

// TestKV runs clientv3's KV calls against a 3-node cluster, one sub-test
// per behaviour, sharing the cluster; revisions are checked exactly (a
// fresh cluster is at revision 1, every write adds one).
func TestKV(t *testing.T) {
	e := newEnv(t, etcdapi.Options{})
	cli := e.client()
	c := ctx(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"revisions", func(t *testing.T) {
			resp, err := cli.Get(c, "nothing")
			if err != nil || resp.Header.Revision != 1 || resp.Count != 0 {
				t.Fatalf("fresh cluster: %v, %v", resp, err)
			}
			for i, key := range []string{"a", "b", "c"} {
				put, err := cli.Put(c, key, "v")
				if err != nil || put.Header.Revision != int64(i+2) {
					t.Fatalf("put %s: %v, %v", key, put, err)
				}
			}
			del, err := cli.Delete(c, "missing")
			if err != nil || del.Deleted != 0 || del.Header.Revision != 4 {
				t.Fatalf("no-op delete: %v, %v", del, err)
			}
		}},
		{"range", func(t *testing.T) { testRange(t, e, cli) }},
		{"put options", func(t *testing.T) { testPutOptions(t, cli) }},
		{"txn", func(t *testing.T) { testTxn(t, cli) }},
		{"compaction", func(t *testing.T) { testCompaction(t, cli) }},
		{"range stream", func(t *testing.T) { testRangeStream(t, cli) }},
		{"headers", func(t *testing.T) { testHeaders(t, e) }},
		{"errors", func(t *testing.T) { testErrors(t, cli) }},
	} {
		t.Run(tc.name, tc.run)
	}
}

func keysOf(resp *clientv3.GetResponse) string {
	s := ""
	for _, kv := range resp.Kvs {
		s += string(kv.Key) + "=" + string(kv.Value) + ","
	}
	return s
}

func testRange(t *testing.T, e *env, cli *clientv3.Client) {
	c := ctx(t)
	for i := range 5 {
		if _, err := cli.Put(c, fmt.Sprintf("r/%d", i), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cli.Get(c, "r/", clientv3.WithPrefix(), clientv3.WithLimit(2))
	if err != nil || keysOf(resp) != "r/0=0,r/1=1," || !resp.More || resp.Count != 5 {
		t.Fatalf("prefix with limit: %s more %v count %d, %v", keysOf(resp), resp.More, resp.Count, err)
	}
	resp, err = cli.Get(c, "r/1", clientv3.WithRange("r/3"))
	if err != nil || keysOf(resp) != "r/1=1,r/2=2," || resp.More || resp.Count != 2 {
		t.Fatalf("range: %s, %v", keysOf(resp), err)
	}
	resp, err = cli.Get(c, "r/", clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(1))
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Value != nil || resp.Count != 5 {
		t.Fatalf("keys only: %v, %v", resp, err)
	}
	resp, err = cli.Get(c, "r/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || len(resp.Kvs) != 0 || resp.Count != 5 {
		t.Fatalf("count only: %v, %v", resp, err)
	}
	resp, err = cli.Get(c, "r/", clientv3.WithFromKey(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1))
	if err != nil || keysOf(resp) != "r/4=4," {
		t.Fatalf("from key, descending: %s, %v", keysOf(resp), err)
	}
	first, _ := cli.Get(c, "r/0")
	rev := first.Kvs[0].ModRevision
	if _, err := cli.Put(c, "r/0", "changed"); err != nil {
		t.Fatal(err)
	}
	old, err := cli.Get(c, "r/0", clientv3.WithRev(rev))
	if err != nil || keysOf(old) != "r/0=0," || old.Header.Revision != rev+5 {
		t.Fatalf("get at revision %d: %s at %d, %v", rev, keysOf(old), old.Header.Revision, err)
	}
	// A serializable read on every member sees what a linearizable one saw
	// once the member has applied it.
	for _, name := range e.c.Names {
		m := e.client(name)
		lin, err := m.Get(c, "r/0")
		if err != nil || string(lin.Kvs[0].Value) != "changed" {
			t.Fatalf("linearizable get on %s: %v, %v", name, lin, err)
		}
		if _, err := m.Get(c, "r/0", clientv3.WithSerializable()); err != nil {
			t.Fatalf("serializable get on %s: %v", name, err)
		}
	}
}

func testPutOptions(t *testing.T, cli *clientv3.Client) {
	c := ctx(t)
	if _, err := cli.Put(c, "p", "1"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Put(c, "p", "2", clientv3.WithPrevKV())
	if err != nil || resp.PrevKv == nil || string(resp.PrevKv.Value) != "1" {
		t.Fatalf("prev_kv: %v, %v", resp, err)
	}
	lease, err := cli.Grant(c, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(c, "p", "", clientv3.WithIgnoreValue(), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(c, "p", "3", clientv3.WithIgnoreLease()); err != nil {
		t.Fatal(err)
	}
	got, _ := cli.Get(c, "p")
	if kv := got.Kvs[0]; string(kv.Value) != "3" || kv.Lease != int64(lease.ID) || kv.Version != 4 {
		t.Fatalf("after ignore_value then ignore_lease: %v", kv)
	}
	if _, err := cli.Put(c, "nope", "", clientv3.WithIgnoreValue()); !errors.Is(err, rpctypes.ErrKeyNotFound) {
		t.Fatalf("ignore_value on a missing key: %v", err)
	}
	if _, err := cli.Put(c, "p", "x", clientv3.WithLease(12345)); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("put with a missing lease: %v", err)
	}
	del, err := cli.Delete(c, "p", clientv3.WithPrevKV())
	if err != nil || del.Deleted != 1 || len(del.PrevKvs) != 1 || string(del.PrevKvs[0].Value) != "3" {
		t.Fatalf("delete prev_kv: %v, %v", del, err)
	}
}

func testTxn(t *testing.T, cli *clientv3.Client) {
	c := ctx(t)
	put, err := cli.Put(c, "t/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	rev := put.Header.Revision
	resp, err := cli.Txn(c).If(
		clientv3.Compare(clientv3.Value("t/a"), "=", "1"),
		clientv3.Compare(clientv3.ModRevision("t/a"), "=", rev),
		clientv3.Compare(clientv3.CreateRevision("t/a"), "=", rev),
		clientv3.Compare(clientv3.Version("t/"), "=", 1).WithPrefix(),
		clientv3.Compare(clientv3.LeaseValue("t/a"), "=", clientv3.NoLease),
	).Then(
		clientv3.OpPut("t/b", "2"),
		clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.Version("t/b"), "=", 0)},
			[]clientv3.Op{clientv3.OpGet("t/b")},
			nil),
		clientv3.OpGet("t/", clientv3.WithPrefix()),
	).Else(clientv3.OpDelete("t/a")).Commit()
	if err != nil || !resp.Succeeded || resp.Header.Revision != rev+1 {
		t.Fatalf("txn: %v, %v", resp, err)
	}
	nested := resp.Responses[1].GetResponseTxn()
	if !nested.Succeeded || len(nested.Responses[0].GetResponseRange().Kvs) != 1 {
		t.Fatalf("nested txn (compares see the state before the txn, ops the writes before them): %v", nested)
	}
	if r := resp.Responses[2].GetResponseRange(); r.Count != 2 {
		t.Fatalf("range in txn: %v", r)
	}
	failed, err := cli.Txn(c).If(clientv3.Compare(clientv3.Value("t/a"), ">", "5")).
		Then(clientv3.OpPut("t/x", "1")).Else(clientv3.OpGet("t/a")).Commit()
	if err != nil || failed.Succeeded || failed.Header.Revision != rev+1 {
		t.Fatalf("failed txn with a read-only else: %v, %v", failed, err)
	}
	_, err = cli.Txn(c).Then(clientv3.OpPut("t/a", "1"), clientv3.OpPut("t/a", "2")).Commit()
	if !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Fatalf("duplicate key: %v", err)
	}
}

func testCompaction(t *testing.T, cli *clientv3.Client) {
	c := ctx(t)
	p1, _ := cli.Put(c, "cmp", "1")
	p2, _ := cli.Put(c, "cmp", "2")
	if _, err := cli.Compact(c, p2.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(c, "cmp", clientv3.WithRev(p1.Header.Revision)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("get below the compaction: %v", err)
	}
	if _, err := cli.Compact(c, p2.Header.Revision); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("compact again: %v", err)
	}
	if _, err := cli.Compact(c, p2.Header.Revision+100); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("compact in the future: %v", err)
	}
	if _, err := cli.Get(c, "cmp", clientv3.WithRev(p2.Header.Revision+100)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("get in the future: %v", err)
	}
	at, err := cli.Get(c, "cmp", clientv3.WithRev(p2.Header.Revision))
	if err != nil || string(at.Kvs[0].Value) != "2" {
		t.Fatalf("get at the compaction revision: %v, %v", at, err)
	}
}

func testRangeStream(t *testing.T, cli *clientv3.Client) {
	c := ctx(t)
	const n = 75 // several chunks: 10, 20, 40, ...
	for i := range n {
		if _, err := cli.Put(c, fmt.Sprintf("s/%03d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	whole, err := cli.Get(c, "s/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := cli.GetStream(c, "s/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	var merged []string
	var last *pb.RangeResponse
	for r := range ch {
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		chunks++
		for _, kv := range r.Kvs {
			merged = append(merged, string(kv.Key))
		}
		last = r.RangeResponse
	}
	if chunks < 3 || len(merged) != n || last.Count != n || last.More || last.Header.Revision != whole.Header.Revision {
		t.Fatalf("%d chunks, %d keys, last %v", chunks, len(merged), last)
	}
	limited, err := clientv3.GetStreamToGetResponse(mustStream(t, cli, "s/", clientv3.WithPrefix(), clientv3.WithLimit(25)))
	if err != nil || len(limited.Kvs) != 25 || !limited.More || limited.Count != n {
		t.Fatalf("stream with limit: %d keys more %v count %d, %v", len(limited.Kvs), limited.More, limited.Count, err)
	}
	counted, err := clientv3.GetStreamToGetResponse(mustStream(t, cli, "s/", clientv3.WithPrefix(), clientv3.WithCountOnly()))
	if err != nil || counted.Count != n || len(counted.Kvs) != 0 {
		t.Fatalf("stream count only: %v, %v", counted, err)
	}
}

func mustStream(t *testing.T, cli *clientv3.Client, key string, opts ...clientv3.OpOption) clientv3.GetStreamChan {
	t.Helper()
	ch, err := cli.GetStream(ctx(t), key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// testHeaders: every member reports the same cluster ID, its own member ID
// and the Raft term.
func testHeaders(t *testing.T, e *env) {
	c := ctx(t)
	var clusterID uint64
	for _, name := range e.c.Names {
		resp, err := e.client(name).Get(c, "x")
		if err != nil {
			t.Fatal(err)
		}
		h := resp.Header
		if clusterID == 0 {
			clusterID = h.ClusterId
		}
		if h.ClusterId != clusterID || h.ClusterId == 0 || h.MemberId != e.node(name).ID() || h.RaftTerm == 0 {
			t.Fatalf("header from %s: %v", name, h)
		}
	}
}

// testErrors: the texts are etcd's, so clientv3 recognizes them.
func testErrors(t *testing.T, cli *clientv3.Client) {
	c := ctx(t)
	kvc := pb.NewKVClient(cli.ActiveConnection())
	for _, tc := range []struct {
		call func() error
		want error
	}{
		{func() error { _, err := kvc.Range(c, &pb.RangeRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{func() error {
			_, err := kvc.Range(c, &pb.RangeRequest{Key: []byte("a"), SortOrder: 7})
			return err
		}, rpctypes.ErrGRPCInvalidSortOption},
		{func() error {
			_, err := kvc.Put(c, &pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreValue: true})
			return err
		}, rpctypes.ErrGRPCValueProvided},
		{func() error {
			_, err := kvc.Txn(c, &pb.TxnRequest{Success: []*pb.RequestOp{{}}})
			return err
		}, rpctypes.ErrGRPCKeyNotFound},
		{func() error {
			_, err := kvc.Put(c, &pb.PutRequest{Key: []byte("a"), Value: make([]byte, 1700<<10)})
			return err
		}, rpctypes.ErrGRPCRequestTooLarge},
	} {
		if err := tc.call(); err == nil || err.Error() != tc.want.Error() {
			t.Errorf("got %v, want %v", err, tc.want)
		}
	}
}
