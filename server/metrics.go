package server

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natsraft/natsraft/actor"
	"github.com/natsraft/natsraft/natstransport"
)

// metrics are the node's Prometheus instruments. Gauges of Raft state read
// the published Status, so scraping never touches the actor's state; the
// histograms are observed by the actor and by waiting callers.
//
// A commit on the proposer breaks down into: queue wait (mailbox, until
// the actor steps it), append-to-commit (from the Ready that carried the
// entry to the commit that covers it: the local fsync and the replication
// round trip, which overlap), and apply; fsync is also timed alone.
type metrics struct {
	registry       *prometheus.Registry
	proposals      *prometheus.CounterVec
	applied        prometheus.Counter // proposals{result="applied"}, resolved once
	failed         prometheus.Counter // proposals{result="failed"}
	leaderChanges  prometheus.Counter
	commitLatency  prometheus.Histogram
	queueWait      prometheus.Histogram
	appendToCommit prometheus.Histogram
	fsync          prometheus.Histogram
	apply          prometheus.Histogram
}

// latencyBuckets cover 50µs to about 1.6s.
var latencyBuckets = prometheus.ExponentialBuckets(50e-6, 2, 16)

func newMetrics() *metrics {
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "natsraft", Name: name, Help: help, Buckets: latencyBuckets})
	}
	m := &metrics{
		registry: prometheus.NewRegistry(),
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "natsraft", Name: "proposals_total",
			Help: "Client writes proposed on this node, by outcome (applied, failed)."}, []string{"result"}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "natsraft", Name: "leader_changes_total",
			Help: "Times this node saw the leader change."}),
		commitLatency:  hist("commit_latency_seconds", "From a client write's arrival to its result, on the proposing node."),
		queueWait:      hist("mailbox_wait_seconds", "Time a client write waits before it is proposed: in the node's mailbox, and on a leader until its append in flight commits."),
		appendToCommit: hist("append_to_commit_seconds", "From the Ready that appended an entry to the commit covering it (fsync and replication round trip)."),
		fsync:          hist("fsync_seconds", "Duration of the synced write of one Ready (term, vote, entries or snapshot changed)."),
		apply:          hist("apply_seconds", "Duration of applying one Ready's committed entries."),
	}
	m.applied, m.failed = m.proposals.WithLabelValues("applied"), m.proposals.WithLabelValues("failed")
	m.registry.MustRegister(m.proposals, m.leaderChanges, m.commitLatency, m.queueWait, m.appendToCommit, m.fsync, m.apply)
	return m
}

// registerNodeGauges exposes the node's state and its components' counters.
func (m *metrics) registerNodeGauges(n *Node) {
	gauge := func(name, help string, f func(Status) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "natsraft", Name: name, Help: help},
			func() float64 { return f(n.Status()) })
	}
	m.registry.MustRegister(
		gauge("raft_term", "Current Raft term.", func(s Status) float64 { return float64(s.Term) }),
		gauge("raft_commit_index", "Highest log index known committed.", func(s Status) float64 { return float64(s.CommitIndex) }),
		gauge("raft_applied_index", "Highest log index applied.", func(s Status) float64 { return float64(s.AppliedIndex) }),
		gauge("raft_is_leader", "1 if this node is the leader.", func(s Status) float64 { return boolFloat(s.Role == "leader") }),
		gauge("raft_has_leader", "1 if this node knows a leader.", func(s Status) float64 { return boolFloat(s.LeaderID != 0) }),
		gauge("kv_revision", "Current key-value revision.", func(s Status) float64 { return float64(s.Revision) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "natsraft", Name: "mailbox_dropped_total",
			Help: "Network messages dropped because the node's mailbox was full."}, func() float64 { return float64(n.actor.Dropped()) }),
		newMailboxCollector(n.actor),
		newTransportCollector(n.tr),
	)
	if ev := n.cfg.NATSEvents; ev != nil {
		connCounter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "natsraft", Name: "nats_" + name, Help: help},
				func() float64 { return float64(v.Load()) })
		}
		m.registry.MustRegister(
			connCounter("reconnects_total", "Times the node's NATS connection reconnected.", &ev.Reconnects),
			connCounter("disconnects_total", "Times the node's NATS connection was lost.", &ev.Disconnects),
			connCounter("slow_consumer_events_total", "Slow-consumer episodes on the node's NATS connection.", &ev.SlowConsumers),
		)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Registry is the node's metrics registry, for /metrics.
func (n *Node) Registry() *prometheus.Registry { return n.metrics.registry }

// since observes the time elapsed since start.
func since(h prometheus.Histogram, start time.Time) { h.Observe(time.Since(start).Seconds()) }

// mailboxCollector reports each lane's depth at scrape time.
type mailboxCollector struct {
	a    *actor.Actor[event]
	desc *prometheus.Desc
}

func newMailboxCollector(a *actor.Actor[event]) *mailboxCollector {
	return &mailboxCollector{a: a, desc: prometheus.NewDesc("natsraft_mailbox_depth",
		"Messages waiting in the node's mailbox, by lane.", []string{"lane"}, nil)}
}

func (c *mailboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *mailboxCollector) Collect(ch chan<- prometheus.Metric) {
	for lane, name := range map[actor.Lane]string{actor.System: "system", actor.Network: "network", actor.Client: "client"} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(c.a.Len(lane)), name)
	}
}

// transportCollector reports the NATS transport's counters at scrape time.
type transportCollector struct {
	tr                                 *natstransport.Transport
	sent, received, dropped, snapshots *prometheus.Desc
}

func newTransportCollector(tr *natstransport.Transport) *transportCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("natsraft_transport_"+name, help, labels, nil)
	}
	return &transportCollector{tr: tr,
		sent:      desc("messages_sent_total", "Raft messages published, by lane.", "lane"),
		received:  desc("messages_received_total", "Raft messages received and delivered to the node, by lane.", "lane"),
		dropped:   desc("dropped_total", "Messages dropped by the transport, by reason.", "reason"),
		snapshots: desc("snapshots_total", "Snapshot transfers, by outcome.", "outcome"),
	}
}

func (c *transportCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sent
	ch <- c.received
	ch <- c.dropped
	ch <- c.snapshots
}

func (c *transportCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.tr.Stats()
	counter := func(d *prometheus.Desc, v uint64, label string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label)
	}
	for lane := range natstransport.LaneCount {
		counter(c.sent, st.Lanes[lane].MessagesSent, natstransport.Lane(lane).String())
		counter(c.received, st.Lanes[lane].MessagesDelivered, natstransport.Lane(lane).String())
	}
	for reason := range natstransport.DropReasonCount {
		counter(c.dropped, st.Dropped[reason], natstransport.DropReason(reason).String())
	}
	counter(c.snapshots, st.SnapshotsSent, "sent")
	counter(c.snapshots, st.SnapshotsFailed, "failed")
	counter(c.snapshots, st.SnapshotsReceived, "received")
}
