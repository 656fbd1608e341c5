package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Options are the parameters of one run. Swarm derives them all from the
// seed, so each seed explores its own mix of faults (swarm testing, as
// TigerBeetle's options_swarm): some seeds lose many messages and never
// partition, others crash often on a perfect network.
type Options struct {
	Seed uint64
	// NoRuleChecks turns off the checks of the rules (§5.4.2 commit rule,
	// §5.4.1 vote rule, durability before acknowledgement, monotonic hard
	// state), leaving the properties alone: to measure whether a broken
	// rule shows as a broken property. Not derived from the seed.
	NoRuleChecks bool

	// Cluster and core configuration.
	Nodes                     int // initial voters: 3 or 5
	ElectionTicks             int
	HeartbeatTicks            int
	PreVote                   bool
	CheckQuorum               bool
	DisableProposalForwarding bool
	MaxMsgBytes               uint64
	MaxInflightMsgs           int
	MaxCommittedBytes         uint64

	// SafetyTicks is the length of the faulty phase.
	SafetyTicks int

	// Network: every message is lost with LossRate, duplicated with
	// DupRate, and delayed by DelayTicksMin plus an exponential of mean
	// DelayTicksMean; with DelayTailRate a message instead takes up to
	// DelayTailTicksMax (a slow path). Reordering falls out of the delays.
	LossRate          float64
	DupRate           float64
	DelayTicksMin     int
	DelayTicksMean    float64
	DelayTailRate     float64
	DelayTailTicksMax int

	// Partitions start with PartitionRate per tick and last between
	// PartitionTicksMin and PartitionTicksMax. With IsolateLeaderRate a
	// partition cuts the leader off from everyone; otherwise it is one-way
	// (some link directions cut) with AsymmetricRate.
	PartitionRate     float64
	PartitionTicksMin int
	PartitionTicksMax int
	IsolateLeaderRate float64
	AsymmetricRate    float64
	// LeaderFlapRate: a newly elected leader is isolated at once (any
	// other partition healed), before its first appends arrive. Leaders
	// that come and go leave logs that diverge over several terms: the
	// ground Figure 8 of the paper needs.
	LeaderFlapRate float64

	// Crashes: a node crashes with CrashRate per tick (never more than a
	// minority of voters down, except the whole cluster at once with
	// CrashAllRate), stays down DownTicksMin..DownTicksMax, and a Ready
	// cycle is interrupted by a crash with CrashInReadyRate.
	CrashRate        float64
	LeaderCrashRate  float64 // share of crashes aimed at the leader
	CrashAllRate     float64
	CrashInReadyRate float64
	DownTicksMin     int
	DownTicksMax     int

	// DiskLatencyTicksMax > 0 makes syncs asynchronous: a Ready's writes
	// become durable 0..DiskLatencyTicksMax ticks later, while the node
	// keeps stepping messages and ticking (Advance comes at the sync).
	DiskLatencyTicksMax int
	// TickSkipRate models a slow clock: a node skips a tick with this rate.
	TickSkipRate float64

	// Per tick rates of the operator's actions.
	SnapshotRate   float64 // per node: snapshot the state machine and compact
	CompactLagMax  int     // entries kept below the snapshot index
	MembershipRate float64 // add learner, promote, remove
	// OnElectionChangeRate: a change is proposed on a newly elected leader
	// at once, while it has not yet committed an entry of its term.
	OnElectionChangeRate float64
	TransferRate         float64 // leadership transfer

	// Clients.
	Clients      int
	ClientOpRate float64 // per idle client per tick
	ReadRate     float64 // share of reads among operations
	// ReadOnlyClients of the clients only read (a monitor that keeps
	// reading from the node it is connected to, a deposed leader too).
	ReadOnlyClients int
	Keys            int
	OpTimeoutTicks  int
}

// Swarm derives a run's options from its seed.
func Swarm(seed uint64) Options {
	rng := rand.New(rand.NewPCG(seed, 0x5317a7e))
	o := Options{Seed: seed}
	o.swarmCore(rng)
	o.swarmNetwork(rng)
	o.swarmFaults(rng)
	o.swarmWorkload(rng)
	return o
}

// sometimes returns rate with probability p, else 0, so that a fault kind
// is entirely absent from some seeds.
func sometimes(rng *rand.Rand, p, rate float64) float64 {
	if rng.Float64() < p {
		return rate
	}
	return 0
}

func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + rng.Float64()*(hi-lo) }

func (o *Options) swarmCore(rng *rand.Rand) {
	o.Nodes = 3 + 2*rng.IntN(2)
	o.ElectionTicks = 8 + rng.IntN(12)
	o.HeartbeatTicks = 1 + rng.IntN(o.ElectionTicks/4)
	o.PreVote = rng.Float64() < 0.75
	o.CheckQuorum = rng.Float64() < 0.75
	o.DisableProposalForwarding = rng.Float64() < 0.1
	o.MaxMsgBytes = 1 << 20
	if rng.Float64() < 0.5 {
		// One to about four small entries per append (at least one is
		// always sent): pipelining and partial acknowledgements.
		o.MaxMsgBytes = uint64(1 + rng.IntN(200))
	}
	o.MaxInflightMsgs = []int{1, 2, 4, 16, 256}[rng.IntN(5)]
	o.MaxCommittedBytes = 8 << 20
	if rng.Float64() < 0.3 {
		o.MaxCommittedBytes = uint64(50 + rng.IntN(200))
	}
	o.SafetyTicks = o.ElectionTicks * (25 + rng.IntN(35))
}

func (o *Options) swarmNetwork(rng *rand.Rand) {
	o.LossRate = sometimes(rng, 0.7, uniform(rng, 0.01, 0.2))
	o.DupRate = sometimes(rng, 0.5, uniform(rng, 0.01, 0.1))
	o.DelayTicksMin = 1
	o.DelayTicksMean = uniform(rng, 0, float64(o.ElectionTicks)/3)
	o.DelayTailRate = sometimes(rng, 0.5, uniform(rng, 0.005, 0.05))
	o.DelayTailTicksMax = o.ElectionTicks * (1 + rng.IntN(4))
	o.PartitionRate = sometimes(rng, 0.75, uniform(rng, 0.002, 0.02))
	o.PartitionTicksMin = o.ElectionTicks
	o.PartitionTicksMax = o.ElectionTicks * (2 + rng.IntN(8))
	o.IsolateLeaderRate = uniform(rng, 0, 0.7)
	o.AsymmetricRate = uniform(rng, 0, 0.6)
	o.LeaderFlapRate = sometimes(rng, 0.5, uniform(rng, 0.1, 0.7))
}

func (o *Options) swarmFaults(rng *rand.Rand) {
	o.CrashRate = sometimes(rng, 0.75, uniform(rng, 0.002, 0.015))
	o.LeaderCrashRate = uniform(rng, 0, 0.8)
	o.CrashAllRate = sometimes(rng, 0.3, uniform(rng, 0.0005, 0.003))
	o.CrashInReadyRate = sometimes(rng, 0.5, uniform(rng, 0.001, 0.01))
	o.DownTicksMin = 1 + rng.IntN(o.ElectionTicks/2) // some reboots are quick
	o.DownTicksMax = o.ElectionTicks * (2 + rng.IntN(8))
	if rng.Float64() < 0.4 {
		o.DiskLatencyTicksMax = 1 + rng.IntN(3)
	}
	o.TickSkipRate = sometimes(rng, 0.4, uniform(rng, 0.01, 0.2))
	o.SnapshotRate = sometimes(rng, 0.8, uniform(rng, 0.002, 0.03))
	o.CompactLagMax = rng.IntN(20)
	o.MembershipRate = sometimes(rng, 0.7, uniform(rng, 0.002, 0.02))
	o.OnElectionChangeRate = sometimes(rng, 0.5, uniform(rng, 0.1, 0.6))
	o.TransferRate = sometimes(rng, 0.6, uniform(rng, 0.001, 0.01))
}

func (o *Options) swarmWorkload(rng *rand.Rand) {
	o.Clients = 1 + rng.IntN(5)
	o.ReadOnlyClients = rng.IntN(o.Clients)
	o.ClientOpRate = uniform(rng, 0.05, 0.5)
	o.ReadRate = uniform(rng, 0.1, 0.6)
	o.Keys = 1 + rng.IntN(3)
	o.OpTimeoutTicks = o.ElectionTicks * (3 + rng.IntN(5))
}

// String prints every parameter, one group a line, for the run's header.
func (o Options) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed=%d nodes=%d election_ticks=%d heartbeat_ticks=%d prevote=%t check_quorum=%t no_forwarding=%t\n",
		o.Seed, o.Nodes, o.ElectionTicks, o.HeartbeatTicks, o.PreVote, o.CheckQuorum, o.DisableProposalForwarding)
	fmt.Fprintf(&b, "  core: max_msg_bytes=%d max_inflight=%d max_committed_bytes=%d safety_ticks=%d\n",
		o.MaxMsgBytes, o.MaxInflightMsgs, o.MaxCommittedBytes, o.SafetyTicks)
	fmt.Fprintf(&b, "  network: loss=%.3f dup=%.3f delay_min=%d delay_mean=%.1f tail=%.3f tail_max=%d\n",
		o.LossRate, o.DupRate, o.DelayTicksMin, o.DelayTicksMean, o.DelayTailRate, o.DelayTailTicksMax)
	fmt.Fprintf(&b, "  partitions: rate=%.4f ticks=[%d,%d] isolate_leader=%.2f asymmetric=%.2f leader_flap=%.2f\n",
		o.PartitionRate, o.PartitionTicksMin, o.PartitionTicksMax, o.IsolateLeaderRate, o.AsymmetricRate, o.LeaderFlapRate)
	fmt.Fprintf(&b, "  crashes: rate=%.4f leader=%.2f all=%.4f in_ready=%.4f down=[%d,%d] disk_latency_max=%d tick_skip=%.3f\n",
		o.CrashRate, o.LeaderCrashRate, o.CrashAllRate, o.CrashInReadyRate, o.DownTicksMin, o.DownTicksMax, o.DiskLatencyTicksMax, o.TickSkipRate)
	fmt.Fprintf(&b, "  operator: snapshot=%.4f compact_lag_max=%d membership=%.4f on_election=%.2f transfer=%.4f\n",
		o.SnapshotRate, o.CompactLagMax, o.MembershipRate, o.OnElectionChangeRate, o.TransferRate)
	fmt.Fprintf(&b, "  clients: n=%d read_only=%d op_rate=%.2f reads=%.2f keys=%d timeout_ticks=%d",
		o.Clients, o.ReadOnlyClients, o.ClientOpRate, o.ReadRate, o.Keys, o.OpTimeoutTicks)
	return b.String()
}
