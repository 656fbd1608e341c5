// Package process runs clusters of real node processes on loopback, each
// with its own embedded nats-server joined by routes, and checks the
// "done when" list of issue 3: failover, catch-up by log and by
// InstallSnapshot, membership changes, and no acknowledged write lost when
// every process is killed at once. Client histories are checked for
// linearizability with porcupine.
package process

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/e2e/internal/probe"
	"github.com/natsraft/natsraft/e2e/internal/workload"
	"github.com/natsraft/natsraft/server"
)

var ctx = context.Background()

// putKeys writes n keys prefix/<i> from 4 concurrent writers and fails the
// test on any error.
func putKeys(t *testing.T, cl *client.Client, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				if _, err := cl.Put(ctx, fmt.Sprintf("%s/%d", prefix, i), fmt.Sprintf("v%d", i)); err != nil {
					errs <- fmt.Errorf("put %s/%d: %w", prefix, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func sameState(t *testing.T, c *cluster, names ...string) {
	t.Helper()
	if _, err := probe.SameState(ctx, c.probes(names...), catchUpTimeout); err != nil {
		t.Fatal(err)
	}
}

// startLoad runs a workload of workers on n1, n2 and n3, each client on
// all three servers, a different one first; its history is kept when the
// test fails.
func startLoad(t *testing.T, c *cluster, workers int) (*workload.Workload, func()) {
	t.Helper()
	w := workload.New(workload.Config{Workers: workers})
	w.KeepOnFailure(t, c.dir)
	return w, w.Start([]*client.Client{c.client("n1", "n2", "n3"), c.client("n2", "n3", "n1"), c.client("n3", "n1", "n2")})
}

func verify(t *testing.T, w *workload.Workload, cl *client.Client, dir string) {
	t.Helper()
	rep, err := w.Verify(ctx, cl, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("checked: %v", rep)
}

func others(all []string, but string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == but })
}

// A 3-node cluster elects a leader and replicates; kill -9 of the leader
// elects a new one and writes go on; the old leader restarts and catches up.
func TestLeaderKillFailover(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	c := startCluster(t, options{}, names...)
	cl := c.client(names...)
	putKeys(t, cl, "before", 20)
	sameState(t, c)

	w, stop := startLoad(t, c, 3)
	defer stop()
	waitAcked(t, w, 20)
	oldLeader, oldTerm := c.leader()
	survivors := others(names, oldLeader)
	killed := time.Now()
	c.kill(oldLeader)
	leader, term := c.leader(survivors...)
	elected := time.Since(killed)
	if leader == oldLeader || term <= oldTerm {
		t.Fatalf("after killing %s (term %d) the leader is %s in term %d", oldLeader, oldTerm, leader, term)
	}
	if _, err := workload.AwaitWritable(ctx, c.client(survivors...), electionTimeout); err != nil {
		t.Fatal(err)
	}
	writable := time.Since(killed)
	t.Logf("killed leader %s: %s elected in term %d after %v, writable after %v", oldLeader, leader, term, elected, writable)
	putKeys(t, cl, "during", 50)

	c.start(oldLeader)
	sameState(t, c)
	waitAcked(t, w, 60)
	stop()
	verify(t, w, cl, c.dir)
}

// The leader's process is frozen (SIGSTOP, as docker pause or a hung host)
// under load until the others elect a new leader, then thawed: the deposed
// leader, whose log ends in entries of its term that never committed,
// rejoins as a follower and its tail is replaced.
func TestFrozenLeaderRejoins(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	c := startCluster(t, options{}, names...)
	w, stop := startLoad(t, c, 3)
	defer stop()
	waitAcked(t, w, 25)
	frozen, _ := c.leader()
	c.freeze(frozen)
	c.leader(others(names, frozen)...)
	waitAcked(t, w, 50)
	c.thaw(frozen)
	if err := probe.CaughtUp(ctx, c.probes(), catchUpTimeout); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, w, 75)
	stop()
	verify(t, w, c.client(names...), c.dir)
	sameState(t, c)
}

// A node stopped while the others write far past a snapshot catches up by
// InstallSnapshot over NATS.
func TestSnapshotCatchUp(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	c := startCluster(t, options{snapshotEntries: 50}, names...)
	leader, _ := c.leader()
	lagging := others(names, leader)[0]
	c.stop(lagging)
	cl := c.client(others(names, lagging)...)
	putKeys(t, cl, "far", 400)

	c.start(lagging)
	sameState(t, c)
	received, err := probe.Metric(ctx, c.probes(lagging)[0], "natsraft_transport_snapshots_total", `outcome="received"`)
	if err != nil {
		t.Fatal(err)
	}
	if received < 1 {
		t.Fatalf("%s caught up without receiving a snapshot: the log was not compacted past it", lagging)
	}
	got, err := cl.Get(ctx, "far/", client.WithPrefix(), client.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != 400 {
		t.Fatalf("%d keys under far/, want 400", got.Count)
	}
}

// A learner is added, catches up and is promoted; leadership is transferred
// to it on request; a member is removed and the cluster goes on without it.
func TestMembershipChanges(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	c := startCluster(t, options{}, names...)
	cl := c.client(names...)
	putKeys(t, cl, "m", 100)

	if err := cl.AddLearner(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	c.newNode("n4", "--join", "n1,n2,n3")
	c.start("n4")
	sameState(t, c)
	waitRole(t, c, "n4", "learner")
	leader, _ := c.leader()
	if st, err := probe.Status(ctx, c.probes("n4")[0]); err != nil || st.Leader != leader {
		t.Errorf("the learner n4 names the leader %q, not %s (%v)", st.Leader, leader, err)
	}
	if err := cl.PromoteMember(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, cl, "n1", "n2", "n3", "n4")
	waitRole(t, c, "n4", "follower", "leader")

	// Through the Go client: whichever node takes the request.
	if err := cl.TransferLeadership(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, c, "n4")
	// Through a given follower's HTTP API, so that the request is
	// forwarded to the leader.
	target, via := "n2", "n3"
	if err := postJSON(c.probes(via)[0].HTTP+"/v1/members", fmt.Sprintf(`{"action":"transfer-leader","name":%q}`, target)); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, c, target)

	if err := cl.RemoveMember(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, cl, "n2", "n3", "n4")
	c.stop("n1")
	cl = c.client("n2", "n3", "n4")
	putKeys(t, cl, "after-remove", 50)
	sameState(t, c, "n2", "n3", "n4")
}

// waitLeader waits until every node follows name.
func waitLeader(t *testing.T, c *cluster, name string) {
	t.Helper()
	if err := probe.LeaderIs(ctx, c.probes(), name, electionTimeout); err != nil {
		t.Fatalf("leadership transfer: %v", err)
	}
}

// postJSON posts body to url and wants a 2xx answer.
func postJSON(url, body string) error {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, b)
	}
	return nil
}

func waitRole(t *testing.T, c *cluster, name string, roles ...string) {
	t.Helper()
	err := probe.Until(ctx, catchUpTimeout, name+" in role "+fmt.Sprint(roles), func(ctx context.Context) (bool, string, error) {
		st, err := probe.Status(ctx, c.probes(name)[0])
		if err != nil {
			return false, err.Error(), nil
		}
		return slices.Contains(roles, st.Role), st.Role, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitMembers waits until the cluster's members are the voters named.
func waitMembers(t *testing.T, cl *client.Client, voters ...string) {
	t.Helper()
	err := probe.Until(ctx, catchUpTimeout, fmt.Sprintf("voters %v", voters), func(ctx context.Context) (bool, string, error) {
		ms, err := cl.Members(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		var got []string
		for _, m := range ms {
			if !m.IsLearner {
				got = append(got, m.Name)
			}
		}
		sort.Strings(got)
		return slices.Equal(got, voters) && len(got) == len(ms), fmt.Sprint(describeMembers(ms)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func describeMembers(ms []server.Member) []string {
	var out []string
	for _, m := range ms {
		if m.IsLearner {
			out = append(out, m.Name+" (learner)")
		} else {
			out = append(out, m.Name)
		}
	}
	return out
}

// kill -9 of every process at once, under load, loses no acknowledged write.
func TestFullClusterKill(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	c := startCluster(t, options{}, names...)
	w, stop := startLoad(t, c, 4)
	defer stop()
	// Let acknowledged writes pile up, then kill everything mid-write.
	waitAcked(t, w, 100)
	c.kill(names...)
	for _, name := range names {
		c.start(name)
	}
	c.leader()
	stop()
	cl := c.client(names...)
	verify(t, w, cl, c.dir)
	sameState(t, c)
}

// waitAcked waits until the workload has n acknowledged unique writes.
func waitAcked(t *testing.T, w *workload.Workload, n int) {
	t.Helper()
	err := probe.Until(ctx, catchUpTimeout, fmt.Sprintf("%d acknowledged writes", n), func(context.Context) (bool, string, error) {
		ok, _, _ := w.Acked()
		return len(ok) >= n, fmt.Sprintf("%d", len(ok)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The commit latency of one client writing sequentially: Put through the Go
// client over NATS (client -> nats-server -> whichever node the request
// reaches -> Raft: forwarded to the leader if need be, appended, fsynced and
// replicated to a majority, applied -> reply), timed around each call.
func TestCommitLatency(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	c := startCluster(t, options{}, names...)
	lat := measurePuts(t, c.client(names...), 100, 1000)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("commit latency of one client, %d sequential puts of 128 bytes: median %v, p99 %v, max %v",
		len(lat), p50, p99, lat[len(lat)-1])
	if p99 > 2*time.Second {
		t.Errorf("p99 commit latency %v: over 2s", p99)
	}
}

// measurePuts makes warmup puts, then n timed ones, and returns the sorted
// latencies.
func measurePuts(t *testing.T, cl *client.Client, warmup, n int) []time.Duration {
	t.Helper()
	value := strings.Repeat("v", 128)
	lat := make([]time.Duration, 0, n)
	for i := range warmup + n {
		key := fmt.Sprintf("lat/%08d", i)
		start := time.Now()
		if _, err := cl.Put(ctx, key, value); err != nil {
			t.Fatal(err)
		}
		if i >= warmup {
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	return lat
}
