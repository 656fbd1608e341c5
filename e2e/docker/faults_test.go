// Package docker runs the fault tests of the compose deployment (issue 6):
// the root docker-compose.yml with an image built FROM scratch, three
// containers on a private network, concurrent clients recording a history
// of writes, reads and compare-and-swaps while containers are killed,
// paused, partitioned and restarted. After each fault: the history is
// linearizable (porcupine), every acknowledged write is present, the nodes
// hold the same data at the same applied index, and the cluster took writes
// again within a bounded time, which the test reports.
//
// It needs a Docker Engine with Compose; without one it skips, except
// under CI=true, where it fails.
package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/e2e/internal/history"
	"github.com/natsraft/natsraft/e2e/internal/probe"
	"github.com/natsraft/natsraft/e2e/internal/workload"
)

// writableTimeout bounds how long the cluster may take no write after a
// fault (or after a restart of every node).
const writableTimeout = 30 * time.Second

// loadSteps is how many acknowledged unique writes each phase of a
// scenario waits for: before the fault, while it holds, after it heals.
const loadSteps = 25

// faultPlan is what a scenario's inject leaves for the runner.
type faultPlan struct {
	// majority are the nodes that serve writes while the fault holds.
	majority []string
	// writable, when set, is the recovery time the scenario measured
	// itself (the rolling restart: the worst of its steps).
	writable time.Duration
	// during checks the cluster while the fault holds.
	during func(t *testing.T)
	// heal ends the fault; nil when it ended by itself (restarts). It runs
	// also when the scenario fails, so the next one starts healed.
	heal func() error
	// after checks what the scenario promises once the cluster converged.
	after func(t *testing.T)
}

type scenario struct {
	name   string
	inject func(t *testing.T, c *composeCluster, leader string) faultPlan
}

var scenarios = []scenario{
	{"KillLeader", killLeader},
	{"PauseLeader", pauseLeader},
	{"PartitionLeader", partitionLeader},
	{"MinorityPartition", minorityPartition},
	{"RestartAll", restartAll},
	{"RollingRestart", rollingRestart},
}

// result is one scenario's line in the summary.
type result struct {
	name string
	// writable is how long after the fault a probe write was acknowledged;
	// gap the longest time without an acknowledged write in the history.
	writable, gap time.Duration
	// converged is how long after healing every node had applied what
	// was committed when the fault healed.
	converged time.Duration
	report    workload.Report
}

func (r result) String() string {
	return fmt.Sprintf("%-18s writable after %-8v longest write gap %-8v converged %-8v after healing; %v",
		r.name, r.writable.Round(time.Millisecond), r.gap.Round(time.Millisecond), r.converged.Round(time.Millisecond), r.report)
}

func TestCompose(t *testing.T) {
	c := startCompose(t)
	t.Run("ReadmeExample", c.readmeExample)
	t.Run("Authorization", c.authorization)
	var lines []string
	for i, sc := range scenarios {
		ok := t.Run(sc.name, func(t *testing.T) {
			lines = append(lines, c.runScenario(t, sc).String())
		})
		if !ok && i < len(scenarios)-1 {
			if err := c.healthy(); err != nil {
				t.Errorf("the remaining scenarios are skipped: the cluster did not heal after %s: %v", sc.name, err)
				break
			}
		}
	}
	t.Logf("recovery per scenario:\n  %s", strings.Join(lines, "\n  "))
}

// runScenario runs one fault under load and checks the aftermath.
func (c *composeCluster) runScenario(t *testing.T, sc scenario) result {
	c.waitHealthy(t)
	res := result{name: sc.name}
	dir := filepath.Join(c.dir, sc.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := workload.New(workload.Config{Prefix: sc.name + "/", Workers: 3})
	w.KeepOnFailure(t, dir)
	stop := w.Start([]*client.Client{c.client(t, "n1", "n2", "n3"), c.client(t, "n2", "n3", "n1"), c.client(t, "n3", "n1", "n2")})
	defer stop()
	waitAcked(t, w, loadSteps)

	leader, _ := c.leader(t)
	injected, injectedAt := time.Now(), w.Rec.Now()
	plan := sc.inject(t, c, leader)
	defer func() {
		if plan.heal != nil { // the scenario failed before healing
			if err := plan.heal(); err != nil {
				t.Error(err)
			}
		}
	}()
	res.writable = plan.writable
	if res.writable == 0 {
		if _, err := workload.AwaitWritable(ctx, c.client(t, plan.majority...), writableTimeout); err != nil {
			t.Fatal(err)
		}
		res.writable = time.Since(injected)
	}
	if plan.during != nil {
		plan.during(t)
	}
	waitAcked(t, w, ackedCount(w)+loadSteps)

	healed := time.Now()
	if heal := plan.heal; heal != nil {
		plan.heal = nil
		if err := heal(); err != nil {
			t.Fatal(err)
		}
	}
	if err := probe.CaughtUp(ctx, c.probes(), convergeTimeout); err != nil {
		t.Fatal(err)
	}
	res.converged = time.Since(healed)
	waitAcked(t, w, ackedCount(w)+loadSteps)
	stop()
	if res.gap = history.LongestWriteGap(w.Rec.Ops(), injectedAt); res.gap > writableTimeout {
		t.Errorf("the clients saw no acknowledged write for %v", res.gap)
	}
	res.report = c.verify(t, w, dir)
	if plan.after != nil {
		plan.after(t)
	}
	t.Logf("%v", res)
	return res
}

// verify runs the checks every scenario ends with: the workload's history
// and writes, the same data on every node, and no node crashed.
func (c *composeCluster) verify(t *testing.T, w *workload.Workload, dir string) workload.Report {
	t.Helper()
	rep, err := w.Verify(ctx, c.client(t, nodeNames...), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := probe.SameState(ctx, c.probes(), convergeTimeout); err != nil {
		t.Fatal(err)
	}
	for n, count := range c.restartCounts(t) {
		if count != "0" {
			t.Errorf("%s was restarted %s times by its restart policy: it crashed (see its log)", n, count)
		}
	}
	return rep
}

func ackedCount(w *workload.Workload) int {
	ok, _, _ := w.Acked()
	return len(ok)
}

// waitAcked waits until the workload has n acknowledged unique writes.
func waitAcked(t *testing.T, w *workload.Workload, n int) {
	t.Helper()
	err := probe.Until(ctx, writableTimeout, fmt.Sprintf("%d acknowledged writes", n), func(context.Context) (bool, string, error) {
		got := ackedCount(w)
		return got >= n, fmt.Sprint(got), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func others(but string) []string {
	return slices.DeleteFunc(slices.Clone(nodeNames), func(n string) bool { return n == but })
}

// newLeaderAmong checks that the named nodes elected a leader other than
// old.
func (c *composeCluster) newLeaderAmong(old string, names []string) func(t *testing.T) {
	return func(t *testing.T) {
		t.Helper()
		if leader, _ := c.leader(t, names...); leader == old {
			t.Fatalf("%s still leads", old)
		}
	}
}

// The leader's container is killed (SIGKILL), then started again.
func killLeader(t *testing.T, c *composeCluster, leader string) faultPlan {
	if err := c.kill(leader); err != nil {
		t.Fatal(err)
	}
	return faultPlan{majority: others(leader), during: c.newLeaderAmong(leader, others(leader)),
		heal: func() error { return c.start(leader) }}
}

// The leader's container is frozen (docker pause) until the others have
// elected a new leader (longer than an election timeout), then thawed.
func pauseLeader(t *testing.T, c *composeCluster, leader string) faultPlan {
	paused := time.Now()
	if err := c.pause(leader); err != nil {
		t.Fatal(err)
	}
	return faultPlan{majority: others(leader), during: c.newLeaderAmong(leader, others(leader)),
		heal: func() error {
			t.Logf("%s was paused for %v", leader, time.Since(paused).Round(time.Millisecond))
			return c.unpause(leader)
		}}
}

// The leader is cut off the shared network; the majority elects a new
// leader; the network heals.
func partitionLeader(t *testing.T, c *composeCluster, leader string) faultPlan {
	if err := c.disconnect(leader); err != nil {
		t.Fatal(err)
	}
	return faultPlan{majority: others(leader), during: c.newLeaderAmong(leader, others(leader)),
		heal: func() error { return c.reconnect(leader) }}
}

// A follower is cut off alone. It must commit nothing while cut off: its
// commit index stays where it was once it lost the leader, and no write
// sent to it is acknowledged. Writes it refused must not appear later.
func minorityPartition(t *testing.T, c *composeCluster, leader string) faultPlan {
	minority := others(leader)[0]
	if err := c.disconnect(minority); err != nil {
		t.Fatal(err)
	}
	node := c.probes(minority)[0]
	mw := workload.New(workload.Config{Prefix: "minority/"})
	var commit uint64
	return faultPlan{
		majority: others(minority),
		during: func(t *testing.T) {
			err := probe.Until(ctx, electionTimeout, minority+" to lose its leader", func(ctx context.Context) (bool, string, error) {
				st, err := probe.Status(ctx, node)
				if err != nil {
					return false, err.Error(), nil
				}
				commit = st.CommitIndex
				return st.LeaderID == 0, fmt.Sprintf("%s %s, leader %q", minority, st.Role, st.Leader), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			cl := c.clientOn(t, c.connect(t, clientUser, clientPassword, true, []string{minority}))
			for i := range 3 {
				if op := mw.Put(cl, 0, fmt.Sprintf("minority/ack/%d", i), "x"); op.Outcome == history.OK {
					t.Errorf("%s acknowledged a write while cut off: %v", minority, op)
				}
			}
		},
		heal: func() error {
			st, err := probe.Status(ctx, node)
			if err == nil && commit != 0 && st.CommitIndex != commit {
				err = fmt.Errorf("%s committed while cut off: commit index %d, was %d", minority, st.CommitIndex, commit)
			}
			return errors.Join(err, c.reconnect(minority))
		},
		after: func(t *testing.T) {
			dir := filepath.Join(c.dir, "MinorityPartition", "minority-client")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := mw.Verify(ctx, c.client(t, nodeNames...), dir); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// Every container is restarted at once (SIGTERM, then start).
func restartAll(t *testing.T, c *composeCluster, _ string) faultPlan {
	c.restart(t, nodeNames...)
	return faultPlan{majority: nodeNames}
}

// Each container in turn is restarted and must be ready and caught up
// before the next; the load goes on throughout. Recovery is the worst step:
// from the restart to the first acknowledged write after it.
func rollingRestart(t *testing.T, c *composeCluster, _ string) faultPlan {
	var worst time.Duration
	probeClient := c.client(t, nodeNames...)
	for _, n := range nodeNames {
		began := time.Now()
		c.restart(t, n)
		if _, err := workload.AwaitWritable(ctx, probeClient, writableTimeout); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(began))
		err := probe.Until(ctx, readyTimeout, n+" ready", func(ctx context.Context) (bool, string, error) {
			return probe.Ready(ctx, c.probes(n)[0]), "", nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := probe.CaughtUp(ctx, c.probes(), convergeTimeout); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s restarted, ready and caught up in %v", n, time.Since(began).Round(time.Millisecond))
	}
	return faultPlan{majority: nodeNames, writable: worst}
}
