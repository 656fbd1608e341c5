package etcdapi_test

import (
	"strconv"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/natsraft/natsraft/server/etcdapi"
)

// TestKubeAPIServerRequestShapes sends the requests of kube-apiserver's
// storage layer (k8s.io/apiserver/pkg/storage/etcd3: store.go and
// compact.go) as it builds them with clientv3, and checks the answers the
// way it reads them.
func TestKubeAPIServerRequestShapes(t *testing.T) {
	e := newEnv(t, etcdapi.Options{})
	cli := e.client()
	c := ctx(t)
	const key = "/registry/pods/default/p1"

	// Create: If(ModRevision(key) = 0).Then(Put(key, data, lease)).
	lease, err := cli.Grant(c, 3600)
	if err != nil {
		t.Fatal(err)
	}
	create := func() *clientv3.TxnResponse {
		t.Helper()
		resp, err := cli.Txn(c).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, "v1", clientv3.WithLease(lease.ID))).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	created := create()
	if !created.Succeeded {
		t.Fatal("create of a new key failed")
	}
	rev := created.Header.Revision // kube's resourceVersion of the object
	if again := create(); again.Succeeded {
		t.Fatal("create of an existing key succeeded (kube: AlreadyExists)")
	}

	// GuaranteedUpdate: If(ModRevision(key) = rev).Then(Put).Else(Get).
	update := func(from int64, value string) *clientv3.TxnResponse {
		t.Helper()
		resp, err := cli.Txn(c).If(clientv3.Compare(clientv3.ModRevision(key), "=", from)).
			Then(clientv3.OpPut(key, value)).Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	updated := update(rev, "v2")
	if !updated.Succeeded || updated.Responses[0].GetResponsePut() == nil {
		t.Fatalf("update: %v", updated)
	}
	newRev := updated.Header.Revision
	conflict := update(rev, "v3")
	got := conflict.Responses[0].GetResponseRange()
	if conflict.Succeeded || got == nil || len(got.Kvs) != 1 || got.Kvs[0].ModRevision != newRev || string(got.Kvs[0].Value) != "v2" {
		t.Fatalf("update conflict (kube retries with the object read): %v", conflict)
	}

	// Delete: If(ModRevision(key) = rev).Then(Delete).Else(Get).
	del := func(from int64) *clientv3.TxnResponse {
		t.Helper()
		resp, err := cli.Txn(c).If(clientv3.Compare(clientv3.ModRevision(key), "=", from)).
			Then(clientv3.OpDelete(key)).Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if stale := del(rev); stale.Succeeded || len(stale.Responses[0].GetResponseRange().Kvs) != 1 {
		t.Fatalf("delete with a stale revision: %v", stale)
	}
	deleted := del(newRev)
	if !deleted.Succeeded || deleted.Responses[0].GetResponseDeleteRange().Deleted != 1 {
		t.Fatalf("delete: %v", deleted)
	}
	if gone := del(newRev); gone.Succeeded || len(gone.Responses[0].GetResponseRange().Kvs) != 0 {
		t.Fatalf("delete of a deleted key (kube: NotFound): %v", gone)
	}

	// Compaction bookkeeping (compact.go): every apiserver runs
	//   If(Version(compact_rev_key) = t).Then(Put(compact_rev_key, rev)).Else(Get(compact_rev_key))
	// and the one that wins compacts; the others learn t from the Else.
	const compactKey = "compact_rev_key"
	compact := func(tm, rev int64) (int64, bool) {
		t.Helper()
		resp, err := cli.Txn(c).If(clientv3.Compare(clientv3.Version(compactKey), "=", tm)).
			Then(clientv3.OpPut(compactKey, strconv.FormatInt(rev, 10))).
			Else(clientv3.OpGet(compactKey)).Commit()
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Succeeded {
			return resp.Responses[0].GetResponseRange().Kvs[0].Version, false
		}
		if rev > 0 {
			if _, err := cli.Compact(c, rev); err != nil {
				t.Fatal(err)
			}
		}
		return tm + 1, true
	}
	tm, won := compact(0, 0) // the first round only records the key
	if !won || tm != 1 {
		t.Fatalf("first compaction round: %d, %v", tm, won)
	}
	cur := e.node("n1").Revision()
	if tm, won = compact(tm, cur); !won || tm != 2 {
		t.Fatalf("second round: %d, %v", tm, won)
	}
	if lost, won := compact(1, cur); won || lost != 2 {
		t.Fatalf("a racing apiserver with a stale time: %d, %v", lost, won)
	}
	if _, err := cli.Get(c, key, clientv3.WithRev(rev)); err == nil {
		t.Fatal("read below kube's compaction succeeded")
	}

	// Lists: paginated by limit and continue key at one revision, and the
	// count-only list of object counts.
	for i := range 5 {
		if _, err := cli.Put(c, "/registry/cm/ns/"+strconv.Itoa(i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	prefix := "/registry/cm/"
	page, err := cli.Get(c, prefix, clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)), clientv3.WithLimit(2))
	if err != nil || len(page.Kvs) != 2 || !page.More || page.Count != 5 {
		t.Fatalf("first page: %v, %v", page, err)
	}
	listRev := page.Header.Revision
	if _, err := cli.Put(c, "/registry/cm/ns/9", "later"); err != nil {
		t.Fatal(err)
	}
	cont := string(page.Kvs[1].Key) + "\x00"
	rest, err := cli.Get(c, cont, clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)), clientv3.WithRev(listRev))
	if err != nil || len(rest.Kvs) != 3 || rest.More {
		t.Fatalf("continued page at revision %d: %v, %v", listRev, rest, err)
	}
	count, err := cli.Get(c, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || count.Count != 6 {
		t.Fatalf("count: %v, %v", count, err)
	}
}
