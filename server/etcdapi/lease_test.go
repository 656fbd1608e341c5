package etcdapi_test

import (
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/natsraft/natsraft/server/etcdapi"
)

func TestLease(t *testing.T) {
	e := newEnv(t, etcdapi.Options{})
	cli := e.client()
	c := ctx(t)

	grant, err := cli.Grant(c, 60)
	if err != nil || grant.TTL != 60 || grant.ID <= 0 {
		t.Fatalf("grant: %+v, %v", grant, err)
	}
	if _, err := cli.Put(c, "l/a", "1", clientv3.WithLease(grant.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(c, "l/b", "1", clientv3.WithLease(grant.ID)); err != nil {
		t.Fatal(err)
	}
	// TimeToLive and Leases from every member.
	for _, name := range e.c.Names {
		m := e.client(name)
		ttl, err := m.TimeToLive(c, grant.ID, clientv3.WithAttachedKeys())
		if err != nil || ttl.GrantedTTL != 60 || ttl.TTL <= 0 || ttl.TTL > 60 || len(ttl.Keys) != 2 {
			t.Fatalf("time to live on %s: %+v, %v", name, ttl, err)
		}
		leases, err := m.Leases(c)
		if err != nil || len(leases.Leases) != 1 || leases.Leases[0].ID != grant.ID {
			t.Fatalf("leases on %s: %+v, %v", name, leases, err)
		}
	}
	ka, err := cli.KeepAliveOnce(c, grant.ID)
	if err != nil || ka.TTL != 60 || ka.ID != grant.ID {
		t.Fatalf("keep alive once: %+v, %v", ka, err)
	}
	if _, err := cli.Grant(c, 1); err != nil {
		t.Fatal(err) // raised to the minimum TTL
	}
	raw := pb.NewLeaseClient(cli.ActiveConnection())
	own, err := raw.LeaseGrant(c, &pb.LeaseGrantRequest{ID: 777, TTL: 30})
	if err != nil || own.ID != 777 {
		t.Fatalf("grant of a chosen ID: %v, %v", own, err)
	}
	if _, err := raw.LeaseGrant(c, &pb.LeaseGrantRequest{ID: 777, TTL: 30}); err == nil || err.Error() != rpctypes.ErrGRPCLeaseExist.Error() {
		t.Fatalf("grant of an existing ID: %v", err)
	}

	before, _ := cli.Get(c, "nothing")
	rev, err := cli.Revoke(c, grant.ID)
	if err != nil || rev.Header.Revision != before.Header.Revision+1 {
		t.Fatalf("revoke: %+v, %v (revision before %d)", rev, err, before.Header.Revision)
	}
	got, _ := cli.Get(c, "l/", clientv3.WithPrefix())
	if got.Count != 0 {
		t.Fatalf("keys of a revoked lease: %v", got.Kvs)
	}
	ttl, err := cli.TimeToLive(c, grant.ID)
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("time to live of a revoked lease: %+v, %v", ttl, err)
	}
	if _, err := cli.Revoke(c, grant.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, err := cli.KeepAliveOnce(c, grant.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("keep alive of a revoked lease: %v", err)
	}
}

// TestLeaseExpiryDeletesKeys: a lease nobody keeps alive expires on the
// leader's clock; its revocation goes through the log, so every member
// deletes the keys at the same revision. A kept-alive lease outlives its
// TTL, through a change of leader.
func TestLeaseExpiryDeletesKeys(t *testing.T) {
	e := newEnv(t, etcdapi.Options{})
	cli := e.client()
	c := ctx(t)
	short, err := cli.Grant(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	// 2 s, not 1: under a loaded machine a leader transfer can stall the
	// keep-alives for longer than a 1 s TTL, and the lease then rightly ends.
	kept, err := cli.Grant(c, 2)
	if err != nil {
		t.Fatal(err)
	}
	put, err := cli.Put(c, "exp/a", "1", clientv3.WithLease(short.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(c, "exp/kept", "1", clientv3.WithLease(kept.ID)); err != nil {
		t.Fatal(err)
	}
	alive, err := cli.KeepAlive(c, kept.ID)
	if err != nil {
		t.Fatal(err)
	}
	wch := cli.Watch(c, "exp/a", clientv3.WithRev(put.Header.Revision+1))
	start := time.Now()
	evs := collect(t, wch, 1)
	if evs[0].Type != mvccpb.DELETE {
		t.Fatalf("event: %v", evs[0])
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Fatalf("lease of 1 s expired after %v", waited)
	}
	del := evs[0].Kv.ModRevision
	for _, name := range e.c.Names {
		if resp, err := e.client(name).Get(c, "exp/a", clientv3.WithRev(del)); err != nil || resp.Count != 0 {
			t.Fatalf("%s at revision %d: %v, %v", name, del, resp, err)
		}
	}
	// The kept lease outlives two TTLs and a leader change.
	lead := e.c.Leader()
	var to string
	for _, n := range e.c.Names {
		if n != lead {
			to = n
		}
	}
	if err := e.node(lead).TransferLeadership(c, to); err != nil {
		t.Fatal(err)
	}
	for range 6 { // a keep-alive every TTL/3: two TTLs, about four seconds
		select {
		case ka, ok := <-alive:
			if !ok || ka.TTL <= 0 {
				t.Fatalf("keep alive ended: %+v", ka)
			}
		case <-time.After(watchStall):
			t.Fatal("no keep alive response")
		}
	}
	got, err := cli.Get(c, "exp/kept")
	if err != nil || got.Count != 1 {
		t.Fatalf("kept-alive key: %v, %v", got, err)
	}
}
