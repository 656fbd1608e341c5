package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsraft/natsraft/actor"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/natstransport"
	"github.com/natsraft/natsraft/raft"
	"github.com/natsraft/natsraft/store"
)

// Errors a client of the node may see, testable with errors.Is.
var (
	// ErrNoLeader: the cluster has no leader right now; retry later.
	ErrNoLeader = errors.New("natsraft: no leader")
	// ErrStopped: the node is shutting down.
	ErrStopped = errors.New("natsraft: node stopped")
	// ErrLeaderChanged: leadership changed while a read waited for its
	// confirmation; retry.
	ErrLeaderChanged = errors.New("natsraft: leader changed, retry")
	// ErrOutcomeUnknown: the node stopped after accepting a write; it may
	// or may not have been committed. Read before retrying (or retry with
	// a Txn on mod_revision).
	ErrOutcomeUnknown = errors.New("natsraft: the node stopped after accepting the write: its outcome is unknown")
	// ErrLeaderLost: the leader changed while the write was in flight and
	// the new leader's log does not hold it so far; it was most likely
	// lost, but a delayed copy may still commit. Read before retrying (or
	// retry with a Txn on mod_revision), as for ErrOutcomeUnknown.
	ErrLeaderLost = errors.New("natsraft: the leader changed while the write was in flight: its outcome is unknown")
)

// Config configures one node.
type Config struct {
	// Name is the member's name (n1, db-2); its Raft ID is NodeID(Name).
	Name string
	// Cluster names the cluster; it scopes NATS subjects and is checked
	// against the data directory's identity.
	Cluster string
	// Peers are the names of the initial voters, used once to bootstrap
	// a new cluster; a node joining an existing cluster leaves it empty
	// and lists the current members in Join.
	Peers []string
	// Join lists members of an existing cluster to accept traffic from
	// until this node learns the configuration.
	Join []string
	// DataDir holds the Pebble store.
	DataDir string
	// NATS is the connection Raft traffic uses; the caller owns it.
	NATS *nats.Conn
	// NATSEvents, when set, counts NATS's events on that connection
	// (natstransport.Connect's Events), exported as metrics.
	NATSEvents *natstransport.ConnEvents
	// TickInterval is Raft's tick; elections take 10-20 ticks, heartbeats
	// go every tick. Default 100ms.
	TickInterval time.Duration
	// SnapshotEntries bounds the log: every SnapshotEntries/2 applied
	// entries it is compacted, keeping between SnapshotEntries/2 and
	// SnapshotEntries entries for followers slightly behind; one further
	// behind gets a snapshot. Default 100000, like etcd's --snapshot-count.
	// Compaction copies nothing (the state machine is the snapshot).
	SnapshotEntries uint64
	// RequestTimeout bounds a write or linearizable read whose caller set
	// no deadline (a proposal forwarded to a leader that dies is never
	// answered). Default 7s, like etcd's 5s plus two election timeouts.
	RequestTimeout time.Duration
	// NoSync skips fsync (benchmarks of the rest of the path only).
	NoSync bool
	// Logger receives the node's logs; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Name == "" || c.Cluster == "" || c.DataDir == "" || c.NATS == nil {
		return errors.New("server: Name, Cluster, DataDir and NATS are required")
	}
	for _, name := range append([]string{c.Name, c.Cluster}, c.Peers...) {
		if !validName(name) {
			return fmt.Errorf("server: %q is not a valid member or cluster name: use letters, digits, '-' and '_'", name)
		}
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 100000
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 7 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Node is one running member: the actor that drives the Raft core over the
// Pebble store and the NATS transport, and applies committed entries to
// the key-value state machine. Only the actor's goroutine touches the
// fields below "owned by the actor".
type Node struct {
	cfg        Config
	id         uint64
	log        *slog.Logger
	store      *store.Store
	kv         *kv.Store
	tr         *natstransport.Transport
	actor      *actor.Actor[event]
	stopTicker func()

	// startCommit is the commit index persisted at start: the node is
	// ready once it has applied it (it then serves what it had before).
	startCommit uint64
	// transportReady is set once n.tr is; receive drops messages before.
	transportReady atomic.Bool
	// stopping guards reads of the store against Stop closing it: readers
	// hold it shared, Stop exclusively. Under it, stopped says it is closed.
	stopping struct {
		sync.RWMutex
		stopped bool
	}
	// status is the latest published view, for concurrent readers.
	status atomic.Pointer[Status]
	// membersChanged signals a published status with another membership.
	membersChanged changeSignal
	metrics        *metrics
	// lessor tracks lease deadlines (lease.go; etcd API issue 7).
	lessor *lessor

	// Owned by the actor.
	rn           *raft.Node
	nextSeq      uint64
	proposals    map[uint64]*proposal
	answers      []appliedAnswer // of the batch being applied (apply.go)
	nextReadID   uint64
	readsByID    map[uint64]*readWaiter
	readsByIndex []*readWaiter
	members      *memberTable
	// checkpoint is where the log will be compacted to next, once
	// nextCheckpoint is applied (snapshot.go).
	checkpoint     *checkpoint
	nextCheckpoint uint64
	// outgoing is the image encoded last for followers, if any.
	outgoing *raft.Snapshot
	// snapshotBuilding: an image is being encoded off the actor, by a
	// goroutine Stop waits for (snapshotWriters) before closing the store.
	snapshotBuilding bool
	snapshotWriters  sync.WaitGroup
	// snapshotsSending counts images the transport has not yet reported.
	snapshotsSending int
	// After a change of leader, the proposals up to doubtSeq are in doubt
	// until an entry of doubtTerm or later is applied (loop.go).
	doubtSeq, doubtTerm uint64
	lead                uint64
	commitIndex         uint64
	// appended remembers when each Ready's entries were handed out, to
	// time append-to-commit; oldest first.
	appended []appendedAt
	// appendedTo is the last index of the entries a Ready handed out
	// last: the log's last index once they are stored.
	appendedTo uint64
	// held are the client writes waiting for the leader's append in
	// flight to commit (loop.go, propose).
	held []*proposal
}

type appendedAt struct {
	index uint64
	at    time.Time
}

// Start opens the data directory (bootstrapping a new cluster when Peers
// is set and the directory is new), and starts the node.
func Start(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, id: NodeID(cfg.Name), log: cfg.Logger.With("node", cfg.Name),
		proposals: map[uint64]*proposal{}, readsByID: map[uint64]*readWaiter{}, metrics: newMetrics(),
		lessor: newLessor()}
	if err := n.openStorage(); err != nil {
		return nil, err
	}
	if err := n.startRaft(); err != nil {
		n.store.Close()
		return nil, err
	}
	n.publishStatus() // before the actor owns the state
	n.actor = actor.New[event](n, actor.Options{OnPanic: n.onPanic})
	tr, err := natstransport.New(cfg.NATS, natstransport.Config{
		Cluster: cfg.Cluster, Group: "kv", NodeID: n.id, Members: n.acceptedPeers(),
		Handler:        n.receive,
		SnapshotStatus: n.snapshotSent,
		Logger:         n.log,
	})
	if err != nil {
		n.actor.RequestStop()
		n.store.Close()
		return nil, err
	}
	n.tr = tr
	n.transportReady.Store(true)
	n.metrics.registerNodeGauges(n)
	n.stopTicker = n.actor.Every(actor.RealClock{}, cfg.TickInterval, event{kind: evTick})
	return n, nil
}

// openStorage opens or creates the store and the state machine, and
// bootstraps a new cluster's first log.
func (n *Node) openStorage() error {
	st, err := store.Open(n.cfg.DataDir, store.Options{
		Create:   len(n.cfg.Peers) > 0 || len(n.cfg.Join) > 0,
		Identity: store.Identity{ClusterID: n.cfg.Cluster, NodeID: n.id},
		NoSync:   n.cfg.NoSync,
		Logger:   n.log,
	})
	if err != nil {
		return fmt.Errorf("opening %s: %w", n.cfg.DataDir, err)
	}
	n.store = st
	if err := n.bootstrapIfNew(); err != nil {
		st.Close()
		return err
	}
	kvs, err := kv.Open(st.DB(), n.kvOptions())
	if err != nil {
		st.Close()
		return err
	}
	n.kv = kvs
	n.members, err = loadMembers(st.DB())
	if err != nil {
		st.Close()
		return err
	}
	return nil
}

// payloadHeadroomBytes is what a Raft envelope adds around one entry.
const payloadHeadroomBytes = 64 << 10

// kvOptions caps request sizes so that one entry always fits in a NATS
// message: an entry the transport cannot carry would be dropped on every
// retry and stall replication for good.
func (n *Node) kvOptions() kv.Options {
	limit := min(kv.DefaultMaxRequestBytes, int(n.cfg.NATS.MaxPayload())-payloadHeadroomBytes)
	return kv.Options{MaxRequestBytes: limit, MaxValueBytes: limit}
}

// bootstrapIfNew writes the initial log of a new cluster: one AddVoter per
// peer (raft.Bootstrap) and the peers' names.
func (n *Node) bootstrapIfNew() error {
	last, _ := n.store.LastIndex()
	if last > 0 || len(n.cfg.Peers) == 0 || !n.store.HardState().IsEmpty() {
		return nil
	}
	changes := make([]raft.ConfChange, len(n.cfg.Peers))
	for i, name := range n.cfg.Peers {
		ctx, err := memberContext(name)
		if err != nil {
			return err
		}
		changes[i] = raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: NodeID(name), Context: ctx}
	}
	ents, hs, err := raft.BootstrapChanges(changes)
	if err != nil {
		return fmt.Errorf("--peers %v: %w", n.cfg.Peers, err)
	}
	b := n.store.NewBatch()
	defer b.Close()
	if err := b.Append(ents); err != nil {
		return err
	}
	b.SetHardState(hs)
	n.log.Info("bootstrapped a new cluster", "cluster", n.cfg.Cluster, "peers", n.cfg.Peers)
	return b.Commit()
}

func (n *Node) startRaft() error {
	rn, err := raft.NewNode(raft.Config{
		ID: n.id, ElectionTicks: electionTicks, HeartbeatTicks: 1,
		Storage: raftStorage{Store: n.store, n: n}, Applied: n.store.Applied(),
		MaxMsgBytes: 256 << 10, MaxInflightMsgs: 256,
		PreVote: true, CheckQuorum: true,
		Rand:   mathrand.New(mathrand.NewPCG(uint64(time.Now().UnixNano()), n.id)),
		Logger: n.log,
	})
	if err != nil {
		return err
	}
	n.rn = rn
	// Proposal sequence numbers start at random: entries a previous run
	// of this node proposed may still be applied, and must not match the
	// callers of this run.
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return err
	}
	n.nextSeq = binary.BigEndian.Uint64(seed[:])
	n.startCommit = n.store.HardState().Commit
	n.nextCheckpoint = n.store.Applied() + max(n.cfg.SnapshotEntries/2, 1)
	return nil
}

// acceptedPeers is whom the transport accepts messages from: the current
// members, and the Join list until this node knows the configuration.
func (n *Node) acceptedPeers() []uint64 {
	ids := n.members.ids()
	for _, name := range append(n.cfg.Join, n.cfg.Peers...) {
		ids = append(ids, NodeID(name))
	}
	return ids
}

// receive runs on transport goroutines: hand the batch to the actor,
// which drops it (counted) if its network lane is full.
// Until Start has set n.tr, what arrives is dropped: the actor would
// otherwise answer through a transport that does not exist yet (Raft
// tolerates the loss).
func (n *Node) receive(batch []raft.Message) {
	if n.transportReady.Load() {
		_ = n.actor.Send(actor.Network, event{kind: evRaft, msgs: batch})
	}
}

func (n *Node) snapshotSent(to uint64, ok bool) {
	_ = n.actor.Send(actor.System, event{kind: evSnapshotSent, snapTo: to, snapOK: ok})
}

// onPanic is fail-stop: the node's state may be half-updated, so it must
// not go on. The process owner sees Done close with the panic as Err.
func (n *Node) onPanic(value any, stack []byte) {
	n.log.Error("node actor panicked: stopping", "panic", fmt.Sprint(value), "stack", string(stack))
}

// Done is closed when the node stopped (cleanly or after a failure).
func (n *Node) Done() <-chan struct{} { return n.actor.Done() }

// Err is why the node stopped.
func (n *Node) Err() error { return n.actor.Err() }

// Stop shuts the node down: no more requests, in-flight syncs finish,
// queued requests are rejected, the transport leaves NATS, the store closes.
func (n *Node) Stop(ctx context.Context) error {
	n.stopTicker()
	err := n.actor.Stop(ctx)
	if cerr := n.tr.Close(); err == nil {
		err = cerr
	}
	n.snapshotWriters.Wait()
	n.stopping.Lock()
	defer n.stopping.Unlock()
	n.stopping.stopped = true
	if cerr := n.kv.Close(); err == nil {
		err = cerr
	}
	if cerr := n.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// NATS is the connection the node was started with.
func (n *Node) NATS() *nats.Conn { return n.cfg.NATS }

// ID is this node's Raft ID.
func (n *Node) ID() uint64 { return n.id }
