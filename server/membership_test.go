package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/natsraft/natsraft/internal/testcluster"
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
