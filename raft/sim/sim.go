package sim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime/debug"

	"github.com/natsraft/natsraft/raft"
)

// phase is the part of a run: faults first, then a healed cluster.
type phase uint8

const (
	phaseSafety phase = iota
	phaseLiveness
)

// Stats counts what a run did, for the summary.
type Stats struct {
	Ticks              int64
	Crashes            int
	Restarts           int
	Partitions         int
	Snapshots          int
	SnapshotsSent      int
	SnapshotsInstalled int
	ConfChanges        int // proposed
	Removed            int // removals applied
	Transfers          int
	Leaders            int // terms with a leader
	MessagesSent       int
	MessagesLost       int
	MessagesDuplicated int
	Ops                int // operations checked for linearizability
	OpsUnknown         int // writes whose outcome the client never learned
	// ElectionTicks are, in the liveness phase, the ticks from the first
	// election timeout after the leader was killed to a new leader.
	ElectionTicks []int64
	// FailoverTicks are the ticks from killing the leader to a new leader.
	FailoverTicks []int64
	// ElectionTimeoutTicks is Options.ElectionTicks, the unit for the above.
	ElectionTimeoutTicks int
	// CommitTicksMax is the longest a liveness-phase write took to commit.
	CommitTicksMax int64
	// LinearizabilityUnknown: porcupine timed out (the history is not
	// known to be linearizable, nor known not to be).
	LinearizabilityUnknown bool
}

// Sim is one simulated cluster, driven tick by tick from one seed.
type Sim struct {
	opts  Options
	rng   *rand.Rand
	now   int64
	phase phase
	// nodes is indexed by node ID; nodes[0] is nil.
	nodes   []*simNode
	net     *network
	check   *checker
	clients *clients
	trace   *tracer
	stats   Stats
	err     error
	// maxIDs bounds the node IDs ever used: IDs are never reused (a node
	// re-added with a wiped disk under an old ID could vote twice in a term).
	maxIDs uint64
	// election measures one leader election in the liveness phase.
	election electionWatch
	// changeOnLeader is a leader just elected, to propose a membership
	// change on at the next tick (0: none).
	changeOnLeader uint64
}

// Run runs the simulation for opts; a non-nil traceOut receives a trace of
// every event. The error is the first violation, with its tick.
func Run(opts Options, traceOut io.Writer) (*Stats, error) {
	s := newSim(opts, traceOut)
	err := s.run()
	s.collectStats()
	return &s.stats, err
}

func newSim(opts Options, traceOut io.Writer) *Sim {
	s := &Sim{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x51a1))}
	s.trace = newTracer(traceOut)
	s.net = newNetwork(&s.opts, s.rng)
	s.check = newChecker(!opts.NoRuleChecks)
	s.check.onCommitted = s.checkCommitStable
	s.clients = newClients(&s.opts)
	s.maxIDs = uint64(opts.Nodes + 8)
	return s
}

func (s *Sim) run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tick %d: panic: %v\n%s", s.now, r, debug.Stack())
		}
	}()
	s.trace.printf(0, "options %s", s.opts)
	if err := s.bootstrap(); err != nil {
		return err
	}
	for s.now < int64(s.opts.SafetyTicks) && s.err == nil {
		s.injectFaults()
		s.step()
	}
	if s.err == nil {
		s.liveness()
	}
	if s.err == nil {
		s.checkLinearizability()
	}
	return s.err
}

// fail records the first violation; the run stops at the end of the step.
func (s *Sim) fail(format string, args ...any) {
	if s.err != nil {
		return
	}
	s.err = fmt.Errorf("tick %d: %s", s.now, fmt.Sprintf(format, args...))
	s.trace.printf(s.now, "FAIL %v", s.err)
}

// bootstrap starts the initial voters 1..Nodes from the bootstrap log.
func (s *Sim) bootstrap() error {
	voters := make([]uint64, s.opts.Nodes)
	for i := range voters {
		voters[i] = uint64(i + 1)
	}
	s.nodes = []*simNode{nil}
	for _, id := range voters {
		n := &simNode{id: id, disk: newDisk()}
		if err := n.disk.bootstrap(voters); err != nil {
			return err
		}
		s.nodes = append(s.nodes, n)
		if err := s.start(n); err != nil {
			return err
		}
	}
	return nil
}

// addNode starts a new, empty node (a member about to join).
func (s *Sim) addNode() (*simNode, bool) {
	id := uint64(len(s.nodes))
	if id > s.maxIDs {
		return nil, false
	}
	n := &simNode{id: id, disk: newDisk()}
	s.nodes = append(s.nodes, n)
	if err := s.start(n); err != nil {
		s.fail("%v", err)
		return nil, false
	}
	s.trace.printf(s.now, "node %d starts empty", id)
	return n, true
}

// node returns the node with id, or nil.
func (s *Sim) node(id uint64) *simNode {
	if id == 0 || id >= uint64(len(s.nodes)) {
		return nil
	}
	return s.nodes[id]
}

// upNodes lists the running nodes in ID order.
func (s *Sim) upNodes() []*simNode {
	var out []*simNode
	for _, n := range s.nodes[1:] {
		if n.up {
			out = append(out, n)
		}
	}
	return out
}

// ids lists every node ever started.
func (s *Sim) ids() []uint64 {
	out := make([]uint64, 0, len(s.nodes)-1)
	for _, n := range s.nodes[1:] {
		out = append(out, n.id)
	}
	return out
}

// step is one tick of the whole cluster. Each running node, in a random
// order, is driven like the real driver: reports from its transport, the
// messages delivered to it, a tick of its clock, then one Ready cycle.
func (s *Sim) step() {
	s.now++
	inbox := make([][]raft.Message, len(s.nodes))
	for _, e := range s.net.due(s.now) {
		s.route(e, inbox)
	}
	order := s.upNodes()
	s.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, n := range order {
		s.driveNode(n, inbox[n.id])
		if s.err != nil {
			return
		}
	}
	s.clients.step(s)
	s.scan()
}

// route files a due message in its destination's inbox, or drops it if
// the destination is down or the link is cut at delivery time. A
// snapshot's sender learns how the transfer ended.
func (s *Sim) route(e *envelope, inbox [][]raft.Message) {
	m := e.msg
	dest := s.node(m.To)
	ok := dest != nil && dest.up && s.net.linkUp(m.From, m.To)
	if ok {
		inbox[m.To] = append(inbox[m.To], m)
		s.net.stats.delivered++
	} else if s.trace.on {
		s.trace.printf(s.now, "drop %s", describeMessage(m))
	}
	if m.Type != raft.MsgSnap {
		return
	}
	if from := s.node(m.From); from != nil && from.up && from.incarnation == e.fromIncarnation {
		from.reports = append(from.reports, report{to: m.To, snapshot: true, failed: !ok})
	}
}

func (s *Sim) driveNode(n *simNode, inbox []raft.Message) {
	s.deliverReports(n)
	for _, m := range inbox {
		if !n.up || s.err != nil {
			return
		}
		s.deliver(n, m)
	}
	if !n.up {
		return
	}
	s.tick(n)
	s.processReady(n)
}

// scan checks every running node's role at the end of a step: election
// safety, and the liveness phase's election measurement.
func (s *Sim) scan() {
	for _, n := range s.upNodes() {
		st := n.node.Status()
		if st.Role == raft.RoleLeader {
			if err := s.check.observeLeader(n.id, st.Term); err != nil {
				s.fail("%v", err)
				return
			}
		}
		s.election.observe(s.now, n.id, st)
	}
}

// leader returns the running leader of the highest term, or nil.
func (s *Sim) leader() *simNode {
	var lead *simNode
	var term uint64
	for _, n := range s.upNodes() {
		st := n.node.Status()
		if st.Role == raft.RoleLeader && st.Term > term {
			lead, term = n, st.Term
		}
	}
	return lead
}

func (s *Sim) collectStats() {
	s.stats.Ticks = s.now
	s.stats.ElectionTimeoutTicks = s.opts.ElectionTicks
	s.stats.Partitions = s.net.stats.partitions
	s.stats.MessagesSent = s.net.stats.sent
	s.stats.MessagesLost = s.net.stats.lost
	s.stats.MessagesDuplicated = s.net.stats.duplicated
	s.stats.Leaders = len(s.check.leaders)
}
