package client

import (
	"context"
	"testing"
	"time"

	"github.com/natsraft/natsraft/internal/testcluster"
	"github.com/natsraft/natsraft/server/natsapi"
)

// TestWritesGoToTheLeaderOnceKnown: after one answer names the leader,
// writes are sent to its own subject, so no follower forwards them.
func TestWritesGoToTheLeaderOnceKnown(t *testing.T) {
	c := testcluster.Start(t, "n1", "n2", "n3")
	for name, n := range c.Nodes {
		if _, err := natsapi.Register(n.NATS(), n, natsapi.Options{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	lead := c.Leader()
	cl, err := New(c.Connect("client"), "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cl.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	if got := cl.subject(request{endpoint: natsapi.EndpointPut}); got != natsapi.NodeSubject("test", lead, natsapi.EndpointPut) {
		t.Fatalf("write subject after learning the leader = %q, want %s's", got, lead)
	}
	if got := cl.subject(request{endpoint: natsapi.EndpointRange, anyNode: true}); got != natsapi.Subject("test", natsapi.EndpointRange) {
		t.Fatalf("a serializable read goes to %q, want the queue group", got)
	}
	// The leader goes away: the next write finds no responder there and
	// falls back to the queue group, which reaches the new leader.
	c.StopNode(lead)
	c.Leader() // a write racing the election could time out, outcome unknown
	if _, err := cl.Put(ctx, "b", "2"); err != nil {
		t.Fatalf("write after the leader stopped: %v", err)
	}
	if got := cl.subject(request{endpoint: natsapi.EndpointPut}); got == natsapi.NodeSubject("test", lead, natsapi.EndpointPut) {
		t.Fatalf("still writing to the stopped leader %s", lead)
	}
}
