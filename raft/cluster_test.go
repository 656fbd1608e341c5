package raft

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// testCluster is an in-memory cluster for scenario tests: every node has
// a MemoryStorage, messages wait in a queue until delivered, and nothing
// happens unless the test says so.
type testCluster struct {
	t       testing.TB
	nodes   map[uint64]*Node
	storage map[uint64]*MemoryStorage
	// applied records each node's applied entries, for state machine checks.
	applied map[uint64][]Entry
	queue   []Message
	// drop, if set, decides which messages are lost on delivery.
	drop func(m Message) bool
}

func defaultTestConfig(id uint64, s Storage, seed uint64) Config {
	return Config{
		ID: id, ElectionTicks: 10, HeartbeatTicks: 1, Storage: s,
		MaxInflightMsgs: 256, MaxMsgBytes: 1 << 20,
		PreVote: true, CheckQuorum: true,
		Rand: rand.New(rand.NewPCG(seed, id)),
	}
}

// newTestCluster bootstraps voters; configure may adjust each Config.
func newTestCluster(t testing.TB, voters []uint64, configure func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: map[uint64]*Node{}, storage: map[uint64]*MemoryStorage{}, applied: map[uint64][]Entry{}}
	for _, id := range voters {
		c.addNode(id, voters, configure)
	}
	return c
}

// addNode starts a node; with bootstrap voters it gets the initial log,
// with none it starts empty, as a joining node does.
func (c *testCluster) addNode(id uint64, bootstrap []uint64, configure func(*Config)) *Node {
	c.t.Helper()
	s := NewMemoryStorage()
	if len(bootstrap) > 0 {
		ents, hs, err := Bootstrap(bootstrap)
		if err != nil {
			c.t.Fatal(err)
		}
		if err := s.Append(ents); err != nil {
			c.t.Fatal(err)
		}
		s.SetHardState(hs)
	}
	cfg := defaultTestConfig(id, s, 1)
	if configure != nil {
		configure(&cfg)
	}
	n, err := NewNode(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id], c.storage[id] = n, s
	return n
}

// process runs one Ready cycle on node id, queueing its messages.
func (c *testCluster) process(id uint64) {
	n := c.nodes[id]
	if !n.HasReady() {
		return
	}
	rd := n.Ready()
	s := c.storage[id]
	c.queue = append(c.queue, rd.Messages...)
	if rd.Snapshot != nil {
		if err := s.ApplySnapshot(*rd.Snapshot); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := s.Append(rd.Entries); err != nil {
		c.t.Fatal(err)
	}
	if !rd.HardState.IsEmpty() {
		s.SetHardState(rd.HardState)
	}
	c.queue = append(c.queue, rd.MessagesAfterSync...)
	c.applied[id] = append(c.applied[id], rd.CommittedEntries...)
	n.Advance()
}

// stabilize processes every node and delivers every message until quiet.
func (c *testCluster) stabilize() {
	for i := 0; ; i++ {
		if i > 10000 {
			c.t.Fatal("cluster did not stabilize")
		}
		for id := range c.nodes {
			c.process(id)
		}
		if len(c.queue) == 0 {
			return
		}
		c.deliverAll()
	}
}

func (c *testCluster) deliverAll() {
	queue := c.queue
	c.queue = nil
	for _, m := range queue {
		n, ok := c.nodes[m.To]
		if !ok || (c.drop != nil && c.drop(m)) {
			continue
		}
		_ = n.Step(m)
	}
}

func (c *testCluster) campaign(id uint64) {
	c.t.Helper()
	if err := c.nodes[id].Campaign(); err != nil {
		c.t.Fatal(err)
	}
	c.stabilize()
}

// leader returns the leader of the highest term, failing the test if two
// nodes lead the same term (election safety, §5.2).
func (c *testCluster) leader() uint64 {
	var lead, term uint64
	for id, n := range c.nodes {
		if n.r.role != RoleLeader {
			continue
		}
		switch {
		case n.r.term == term:
			c.t.Fatalf("two leaders in term %d: %d and %d", term, lead, id)
		case n.r.term > term:
			lead, term = id, n.r.term
		}
	}
	return lead
}

func (c *testCluster) propose(id uint64, data string) {
	c.t.Helper()
	if err := c.nodes[id].Propose([]byte(data)); err != nil {
		c.t.Fatalf("propose on %d: %v", id, err)
	}
}

// appliedData lists the non-empty normal entries node id applied.
func (c *testCluster) appliedData(id uint64) []string {
	var out []string
	for _, e := range c.applied[id] {
		if e.Type == EntryNormal && len(e.Data) > 0 {
			out = append(out, string(e.Data))
		}
	}
	return out
}

func TestSmokeElectionAndReplication(t *testing.T) {
	c := newTestCluster(t, []uint64{1, 2, 3}, nil)
	c.campaign(1)
	if got := c.leader(); got != 1 {
		t.Fatalf("leader = %d, want 1", got)
	}
	for i := range 5 {
		c.propose(1, fmt.Sprint("v", i))
	}
	c.propose(2, "forwarded")
	c.stabilize()
	for id := range c.nodes {
		if got := c.appliedData(id); len(got) != 6 {
			t.Fatalf("node %d applied %v", id, got)
		}
	}
}

// isolate drops every message to or from id until heal.
func (c *testCluster) isolate(id uint64) {
	c.drop = func(m Message) bool { return m.To == id || m.From == id }
}

func (c *testCluster) heal() { c.drop = nil }

// tickAll ticks every node n times, stabilizing after each tick.
func (c *testCluster) tickAll(n int) {
	for range n {
		for _, node := range c.nodes {
			node.Tick()
		}
		c.stabilize()
	}
}

// mustLeader returns the only leader, failing if there is none.
func (c *testCluster) mustLeader() uint64 {
	c.t.Helper()
	lead := c.leader()
	if lead == None {
		c.t.Fatal("no leader")
	}
	return lead
}

// restart rebuilds node id from its storage, as after a crash (the test
// driver syncs everything it writes, so nothing persisted is lost).
func (c *testCluster) restart(id uint64) {
	c.t.Helper()
	old := c.nodes[id].r.cfg
	cfg := defaultTestConfig(id, c.storage[id], 2)
	cfg.PreVote, cfg.CheckQuorum = old.PreVote, old.CheckQuorum
	n, err := NewNode(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id] = n
	c.applied[id] = nil
}
