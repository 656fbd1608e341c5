package server_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/natsraft/natsraft/internal/testcluster"
	"github.com/natsraft/natsraft/raft"
	"github.com/natsraft/natsraft/server"
)

// TestStoppedNodeCatchesUpBySnapshot: a node that misses more than the
// retained log gets an InstallSnapshot over NATS and then the tail.
func TestStoppedNodeCatchesUpBySnapshot(t *testing.T) {
	c := testcluster.StartWith(t, server.Config{SnapshotEntries: 50}, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lead := c.Leader()
	lagging := otherThan(c, lead)
	c.StopNode(lagging)
	for i := range 300 {
		if _, err := put(ctx, c.Nodes[lead], fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	n := c.StartNode(lagging, server.Config{SnapshotEntries: 50})
	c.WaitFor(lagging+" to catch up", func() bool {
		v, ok, err := get(ctx, n, "k299")
		return err == nil && ok && v == "v299"
	})
	if v, ok, err := get(ctx, n, "k0"); err != nil || !ok || v != "v0" {
		t.Fatalf("k0 from the snapshot = %q %t %v", v, ok, err)
	}
	sent := metricValue(t, c.Nodes[lead], "natsraft_transport_snapshots_total", "sent")
	if sent < 1 {
		t.Fatalf("leader sent %v snapshots, want at least 1", sent)
	}
}

// TestLearnerPromotionRemovalAndTransfer: a learner joins, catches up and
// is promoted; a member is removed; leadership moves on request.
func TestLearnerPromotionRemovalAndTransfer(t *testing.T) {
	c := testcluster.Start(t, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lead := c.Leader()
	if _, err := put(ctx, c.Nodes[lead], "before", "x"); err != nil {
		t.Fatal(err)
	}
	n4 := c.StartNode("n4", server.Config{Join: []string{"n1", "n2", "n3"}})
	if err := c.Nodes[lead].AddLearner(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("n4 to catch up as a learner", func() bool {
		v, ok, err := get(ctx, n4, "before")
		return err == nil && ok && v == "x" && n4.Status().Role == "learner"
	})
	if err := c.Nodes[lead].PromoteMember(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("n4 to be a voter everywhere", func() bool {
		for _, n := range c.Nodes {
			if !isVoter(n.Status(), "n4") {
				return false
			}
		}
		return true
	})
	victim := otherThan(c, lead, "n4")
	if err := c.Nodes[lead].RemoveMember(ctx, victim); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(victim+" to be removed", func() bool { return len(c.Nodes[lead].Members()) == 3 })
	c.StopNode(victim)
	if err := c.Nodes[lead].TransferLeadership(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("n4 to lead", func() bool { return c.Leader() == "n4" })
	if _, err := put(ctx, n4, "after", "y"); err != nil {
		t.Fatalf("write on the new leader: %v", err)
	}
}

func isVoter(st server.Status, name string) bool {
	for _, m := range st.Members {
		if m.Name == name {
			return !m.IsLearner
		}
	}
	return false
}

// otherThan returns a running node name that is none of except.
func otherThan(c *testcluster.Cluster, except ...string) string {
	for _, name := range c.Names {
		if _, running := c.Nodes[name]; !running {
			continue
		}
		skip := false
		for _, e := range except {
			skip = skip || e == name
		}
		if !skip {
			return name
		}
	}
	panic("no other node")
}

// TestRestartAfterCompactingPastMembershipChanges: once every node's log
// is compacted past a member's addition, promotion and another's removal,
// restarted nodes still know the membership (the store records the one in
// force at the compaction point; the core replays only later changes) and
// hold the data of the compacted entries.
func TestRestartAfterCompactingPastMembershipChanges(t *testing.T) {
	cfg := server.Config{SnapshotEntries: 20}
	c := testcluster.StartWith(t, cfg, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lead := c.Leader()
	if _, err := put(ctx, c.Nodes[lead], "first", "x"); err != nil {
		t.Fatal(err)
	}
	joining := cfg
	joining.Join = []string{"n1", "n2", "n3"}
	c.StartNode("n4", joining)
	if err := c.Nodes[lead].AddLearner(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("n4 to catch up as a learner", func() bool {
		v, ok, err := get(ctx, c.Nodes["n4"], "first")
		return err == nil && ok && v == "x" && len(c.Nodes[lead].Members()) == 4
	})
	// change proposes until done holds (a proposal can be lost to an
	// election; a second one waits for the first to apply).
	change := func(what string, propose func() error, done func() bool) {
		c.WaitFor(what, func() bool {
			if done() {
				return true
			}
			if err := propose(); err != nil && !errors.Is(err, raft.ErrConfChangePending) && !errors.Is(err, server.ErrNoLeader) {
				t.Fatalf("%s: %v", what, err)
			}
			return done()
		})
	}
	change("n4's promotion", func() error { return c.Nodes[lead].PromoteMember(ctx, "n4") },
		func() bool { return isVoter(c.Nodes[lead].Status(), "n4") })
	victim := otherThan(c, lead, "n4")
	change(victim+"'s removal", func() error { return c.Nodes[lead].RemoveMember(ctx, victim) },
		func() bool { return len(c.Nodes[lead].Members()) == 3 })
	c.StopNode(victim)
	for i := range 100 {
		if _, err := put(ctx, c.Nodes[lead], fmt.Sprint("k", i), "v"); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	survivors := []string{lead, otherThan(c, lead)}
	if survivors[1] == "n4" {
		survivors[1] = otherThan(c, lead, "n4")
	}
	survivors = append(survivors[:1], survivors[1], "n4")
	c.WaitFor("every log to be compacted past the changes", func() bool {
		for _, name := range survivors {
			if st := c.Nodes[name].Status(); st.FirstIndex < 50 {
				return false
			}
		}
		return true
	})
	for _, name := range survivors {
		c.StopNode(name)
	}
	for _, name := range survivors {
		c.StartNode(name, cfg)
	}
	lead = c.Leader()
	if _, err := put(ctx, c.Nodes[lead], "after", "y"); err != nil {
		t.Fatalf("write after the restart: %v", err)
	}
	for _, name := range survivors {
		n := c.Nodes[name]
		c.WaitFor(name+" to apply the write after the restart", func() bool {
			v, ok, err := get(ctx, n, "after")
			return err == nil && ok && v == "y"
		})
		if v, ok, err := get(ctx, n, "first"); err != nil || !ok || v != "x" {
			t.Fatalf("%s: first = %q %t %v", name, v, ok, err)
		}
		st := n.Status()
		if len(st.Members) != 3 || !isVoter(st, "n4") || isVoter(st, victim) {
			t.Fatalf("%s after restart: members %+v, want n4 a voter and %s gone", name, st.Members, victim)
		}
	}
}

// TestMembershipChangeReturnsOnceApplied: a change asked of a follower
// (which forwards it to the leader) returns once that follower applied
// it, so the caller sees the new membership at once. Removing a member
// that does not exist is an error, as in etcd.
func TestMembershipChangeReturnsOnceApplied(t *testing.T) {
	c := testcluster.Start(t, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	follower := c.Nodes[otherThan(c, c.Leader())]
	if err := follower.AddLearner(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	if ms := follower.Members(); len(ms) != 4 || isVoter(follower.Status(), "n4") {
		t.Fatalf("members right after AddLearner returned: %+v, want n4 as a learner", ms)
	}
	if err := follower.RemoveMember(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	if ms := follower.Members(); len(ms) != 3 {
		t.Fatalf("members right after RemoveMember returned: %+v, want n4 gone", ms)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if err := follower.RemoveMember(short, "n9"); err == nil {
		t.Fatal("removing a member that does not exist succeeded")
	}
}
