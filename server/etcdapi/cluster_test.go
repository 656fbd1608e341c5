package etcdapi_test

import (
	"context"
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/etcdapi"
)

func TestClusterAndMaintenance(t *testing.T) {
	e := newEnv(t, etcdapi.Options{})
	cli := e.client()
	c := ctx(t)

	list, err := cli.MemberList(c)
	if err != nil || len(list.Members) != 3 {
		t.Fatalf("member list: %v, %v", list, err)
	}
	for _, m := range list.Members {
		if m.ID != server.NodeID(m.Name) || m.IsLearner || len(m.ClientURLs) != 1 || m.ClientURLs[0] != e.endpoint(m.Name) {
			t.Fatalf("member %+v", m)
		}
	}
	lead := e.c.Leader()
	for _, name := range e.c.Names {
		st, err := cli.Status(c, e.endpoint(name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Version != etcdapi.DefaultVersion || st.Leader != server.NodeID(lead) || st.RaftIndex == 0 ||
			st.RaftTerm == 0 || st.DbSize <= 0 || st.Header.MemberId != server.NodeID(name) || len(st.Errors) != 0 {
			t.Fatalf("status of %s: %+v", name, st)
		}
	}
	alarms, err := cli.AlarmList(c)
	if err != nil || len(alarms.Alarms) != 0 {
		t.Fatalf("alarms: %v, %v", alarms, err)
	}
	if _, err := cli.Defragment(c, e.endpoint("n1")); err != nil {
		t.Fatal(err)
	}

	// A learner (never started) is added and listed, then removed; a voter
	// cannot be promoted, an unknown member not removed.
	add, err := cli.MemberAddAsLearner(c, []string{"http://n4:2380"})
	if err != nil || add.Member.ID != server.NodeID("n4") || !add.Member.IsLearner {
		t.Fatalf("add learner: %+v, %v", add, err)
	}
	if !hasMember(add.Members, "n4", true) {
		t.Fatalf("member list after add: %v", add.Members)
	}
	if _, err := cli.MemberPromote(c, server.NodeID("n1")); !errors.Is(err, rpctypes.ErrMemberNotLearner) {
		t.Fatalf("promote a voter: %v", err)
	}
	if _, err := cli.MemberRemove(c, 12345); !errors.Is(err, rpctypes.ErrMemberNotFound) {
		t.Fatalf("remove an unknown member: %v", err)
	}
	rm, err := cli.MemberRemove(c, add.Member.ID)
	if err != nil || hasMember(rm.Members, "n4", true) || len(rm.Members) != 3 {
		t.Fatalf("remove: %+v, %v", rm, err)
	}

	// MoveLeader: refused by a follower, done by the leader.
	var follower string
	for _, n := range e.c.Names {
		if n != lead {
			follower = n
		}
	}
	mc := func(name string) pb.MaintenanceClient {
		return pb.NewMaintenanceClient(e.client(name).ActiveConnection())
	}
	if _, err := mc(follower).MoveLeader(c, &pb.MoveLeaderRequest{TargetID: server.NodeID(lead)}); err == nil || err.Error() != rpctypes.ErrGRPCNotLeader.Error() {
		t.Fatalf("move leader on a follower: %v", err)
	}
	if _, err := mc(lead).MoveLeader(c, &pb.MoveLeaderRequest{TargetID: server.NodeID(follower)}); err != nil {
		t.Fatal(err)
	}
	if got := e.node(follower).Status().LeaderID; got != server.NodeID(follower) {
		t.Fatalf("after move leader, %s sees leader %x", follower, got)
	}
}

func hasMember(ms []*pb.Member, name string, learner bool) bool {
	for _, m := range ms {
		if m.Name == name && m.IsLearner == learner {
			return true
		}
	}
	return false
}

// TestRequireLeader: with hasleader metadata, a member without a leader
// refuses requests, and its watch streams end with the no-leader error.
func TestRequireLeader(t *testing.T) {
	e := newEnv(t, etcdapi.Options{})
	c := ctx(t)
	alone := e.client("n3")
	rc := clientv3.WithRequireLeader(c)
	if _, err := alone.Get(rc, "k"); err != nil {
		t.Fatal(err)
	}
	wch := alone.Watch(rc, "k", clientv3.WithCreatedNotify())
	if resp := next(t, wch); !resp.Created {
		t.Fatalf("created: %+v", resp)
	}
	e.stop("n1")
	e.stop("n2")
	resp := next(t, wch) // after three leaderless election timeouts
	if !errors.Is(resp.Err(), rpctypes.ErrNoLeader) {
		t.Fatalf("watch without leader: %+v, %v", resp, resp.Err())
	}
	e.c.WaitFor("n3 to lose its leader", func() bool { return e.node("n3").Status().LeaderID == 0 })
	short, cancel := context.WithTimeout(rc, 5e9)
	defer cancel()
	if _, err := alone.Get(short, "k"); !errors.Is(err, rpctypes.ErrNoLeader) {
		t.Fatalf("get without leader: %v", err)
	}
}
