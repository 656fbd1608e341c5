package server_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/natsraft/natsraft/internal/testcluster"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

func put(ctx context.Context, n *server.Node, key, value string) (*kv.Response, error) {
	return n.Write(ctx, &kv.Request{Put: &kv.PutRequest{Key: []byte(key), Value: []byte(value)}})
}

func get(ctx context.Context, n *server.Node, key string) (string, bool, error) {
	resp, err := n.Range(ctx, &kv.RangeRequest{Key: []byte(key)}, false)
	if err != nil || len(resp.Kvs) == 0 {
		return "", false, err
	}
	return string(resp.Kvs[0].Value), true, nil
}

func TestClusterReplicatesAndSurvivesLeaderLoss(t *testing.T) {
	c := testcluster.Start(t, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lead := c.Leader()
	for i := range 20 {
		if _, err := put(ctx, c.Nodes[lead], fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	// Every node reads the last write linearizably, followers included.
	for name, n := range c.Nodes {
		if v, ok, err := get(ctx, n, "k19"); err != nil || !ok || v != "v19" {
			t.Fatalf("%s: get k19 = %q %t %v", name, v, ok, err)
		}
	}
	// Lose the leader: the others elect a new one and take writes, also
	// through a follower that forwards them.
	c.StopNode(lead)
	newLead := c.Leader()
	if newLead == lead {
		t.Fatalf("stopped leader %s still reported as leader", lead)
	}
	for name, n := range c.Nodes {
		if _, err := put(ctx, n, "after-"+name, "x"); err != nil {
			t.Fatalf("put via %s after leader loss: %v", name, err)
		}
	}
	// The old leader restarts from its data directory alone and catches up.
	old := c.StartNode(lead, server.Config{})
	c.WaitFor(lead+" to catch up", func() bool {
		v, ok, err := get(ctx, old, "after-"+newLead)
		return err == nil && ok && v == "x"
	})
}

// TestWriteForwardedToALostLeaderFailsOnceANewLeaderCommits: a follower
// forwards a write to a leader that has just stopped; the write is lost.
// Once the new leader's first entry is applied, the write cannot commit
// any more (short of a delayed copy), and it fails with ErrLeaderLost
// instead of waiting for its deadline.
func TestWriteForwardedToALostLeaderFailsOnceANewLeaderCommits(t *testing.T) {
	c := testcluster.Start(t, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lead := c.Leader()
	follower := c.Nodes[otherThan(c, lead)]
	c.StopNode(lead)
	lostCtx, cancelLost := context.WithTimeout(ctx, 20*time.Second)
	defer cancelLost()
	_, err := put(lostCtx, follower, "lost", "x")
	if !errors.Is(err, server.ErrLeaderLost) {
		t.Fatalf("write forwarded to a stopped leader: %v, want ErrLeaderLost", err)
	}
	if _, err := put(ctx, follower, "after", "y"); err != nil {
		t.Fatalf("write under the new leader: %v", err)
	}
}

// TestAHeldWriteIsRefusedWhenTheLeaderStepsDown: a leader holds writes
// while its last append is uncommitted (loop.go). With both followers
// gone, the append never commits; once the leader steps down (check
// quorum), the held write is proposed to a node without a leader and
// refused at once, rather than waiting for its deadline.
func TestAHeldWriteIsRefusedWhenTheLeaderStepsDown(t *testing.T) {
	c := testcluster.Start(t, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lead := c.Leader()
	leader := c.Nodes[lead]
	for name := range c.Nodes {
		if name != lead {
			c.StopNode(name)
		}
	}
	inFlight := make(chan error, 1)
	go func() {
		_, err := put(ctx, leader, "in-flight", "x")
		inFlight <- err
	}()
	c.WaitFor("the first write to be appended", func() bool {
		st := leader.Status()
		return st.LastIndex > st.CommitIndex
	})
	heldCtx, cancelHeld := context.WithTimeout(ctx, 30*time.Second)
	defer cancelHeld()
	_, err := put(heldCtx, leader, "held", "y")
	if !errors.Is(err, server.ErrNoLeader) {
		t.Fatalf("held write after the leader stepped down: %v, want ErrNoLeader", err)
	}
	cancel()
	<-inFlight
}
