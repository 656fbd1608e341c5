package natstransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/natsraft/natsraft/raft"
)

// Config configures a Transport for one node of one Raft group.
type Config struct {
	Cluster string // cluster name: a subject token (letters, digits, '-', '_')
	Group   string // Raft group name, same alphabet
	NodeID  uint64 // this node; never raft.None

	// Members are the node IDs (voters and learners) whose messages are
	// accepted. Update them with SetMembers as the configuration changes.
	Members []uint64

	// Handler receives every decoded batch; it owns the slice and all it
	// points to. It is called from up to three goroutines at once (one per
	// lane) and must be quick: push into a mailbox and return.
	Handler func(batch []raft.Message)

	// SnapshotStatus reports the outcome of each MsgSnap handed to Send, for
	// raft's ReportSnapshot (MsgSnapStatus). It is called from a transport
	// goroutine, exactly once per transfer started, and not after Close.
	SnapshotStatus func(to uint64, ok bool)

	// PendingBytesMax bounds, per lane, the bytes the NATS client queues
	// for a handler that is behind; beyond it the client drops messages
	// (DropSlowConsumer). Default 64 MiB.
	PendingBytesMax int

	Limits   Limits
	Snapshot SnapshotOptions
	Logger   *slog.Logger // nil: no logging
}

// SnapshotOptions tune the chunked snapshot transfer. Zero fields take
// defaults.
type SnapshotOptions struct {
	// ChunkBytes is the data per chunk (default 256 KiB); it is lowered to
	// fit the server's max_payload with room for the envelope.
	ChunkBytes int
	// WindowChunks is how many chunks may be unacknowledged (default 4).
	// It bounds how long a heartbeat can queue behind snapshot bytes in the
	// shared TCP connection.
	WindowChunks int
	// AckTimeout: with no acknowledgement for this long the sender resumes
	// from the last acknowledged offset (default 5s).
	AckTimeout time.Duration
	// RetriesMax consecutive timeouts without progress fail the transfer
	// (default 6).
	RetriesMax int
	// IdleTimeout: a receiver discards a partial snapshot that received no
	// chunk for this long (default 2m).
	IdleTimeout time.Duration
}

func (o SnapshotOptions) withDefaults() SnapshotOptions {
	o.ChunkBytes = orDefault(o.ChunkBytes, 256<<10)
	o.WindowChunks = orDefault(o.WindowChunks, 4)
	o.AckTimeout = orDefault(o.AckTimeout, 5*time.Second)
	o.RetriesMax = orDefault(o.RetriesMax, 6)
	o.IdleTimeout = orDefault(o.IdleTimeout, 2*time.Minute)
	return o
}

// Transport carries Raft messages of one group between nodes over core NATS
// publish. All methods are safe for concurrent use.
type Transport struct {
	nc       *nats.Conn
	cfg      Config
	log      *slog.Logger
	hooks    hooks
	members  atomic.Pointer[map[uint64]struct{}]
	lanes    [LaneCount]laneState
	send     sendState
	snapOut  snapshotSender
	snapIn   snapshotReceiver
	counters counters

	closeOnce sync.Once
	closed    chan struct{}
}

// laneState is one lane's subscription. Its decoder is used only by the
// subscription's delivery goroutine (the NATS client runs one per
// subscription, one message at a time).
type laneState struct {
	lane Lane
	sub  *nats.Subscription
	dec  *decoder
}

// hooks are seams for tests; the zero value is production behaviour.
type hooks struct {
	// publish replaces nc.Publish (to lose or watch messages).
	publish func(subject string, data []byte) error
}

// New subscribes the node's three lanes on nc and returns the transport.
// The caller keeps ownership of nc (Close does not close it).
func New(nc *nats.Conn, cfg Config) (*Transport, error) {
	return newTransport(nc, cfg, hooks{})
}

func newTransport(nc *nats.Conn, cfg Config, h hooks) (*Transport, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: nil connection", ErrConfig)
	}
	if h.publish == nil {
		h.publish = nc.Publish
	}
	t, err := newUnsubscribed(nc, cfg, h)
	if err != nil {
		return nil, err
	}
	if err := t.subscribe(); err != nil {
		t.unsubscribe()
		return nil, err
	}
	return t, nil
}

// newUnsubscribed builds a transport that receives nothing until subscribe.
// REQUIRES: h.publish is set.
func newUnsubscribed(nc *nats.Conn, cfg Config, h hooks) (*Transport, error) {
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	t := &Transport{nc: nc, cfg: cfg, log: cfg.Logger, hooks: h, closed: make(chan struct{})}
	t.SetMembers(cfg.Members)
	t.send.init()
	t.snapOut.init(t)
	t.snapIn.init(t)
	for l := range LaneCount {
		t.lanes[l] = laneState{lane: l, dec: newSliceDecoder(cfg.Limits)}
	}
	return t, nil
}

func checkConfig(cfg *Config) error {
	switch {
	case !validName(cfg.Cluster) || !validName(cfg.Group):
		return fmt.Errorf("%w: cluster %q and group %q must be 1-%d of [A-Za-z0-9_-]",
			ErrConfig, cfg.Cluster, cfg.Group, nameBytesMax)
	case cfg.NodeID == raft.None:
		return fmt.Errorf("%w: node ID 0", ErrConfig)
	case cfg.Handler == nil:
		return fmt.Errorf("%w: nil Handler", ErrConfig)
	}
	cfg.PendingBytesMax = orDefault(cfg.PendingBytesMax, nats.DefaultSubPendingBytesLimit)
	cfg.Limits = cfg.Limits.withDefaults()
	cfg.Snapshot = cfg.Snapshot.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("cluster", cfg.Cluster, "group", cfg.Group, "node", cfg.NodeID)
	return nil
}

// subscribe opens one subscription per lane and flushes, so that once New
// returns the server routes this node's subjects to it.
func (t *Transport) subscribe() error {
	for l := range LaneCount {
		ls := &t.lanes[l]
		subject := Subject(t.cfg.Cluster, t.cfg.Group, t.cfg.NodeID, l)
		sub, err := t.nc.Subscribe(subject, func(m *nats.Msg) { t.receive(ls, m.Data) })
		if err != nil {
			return fmt.Errorf("natstransport: subscribe %s: %w", subject, err)
		}
		ls.sub = sub
		if err := sub.SetPendingLimits(nats.DefaultSubPendingMsgsLimit, t.cfg.PendingBytesMax); err != nil {
			return fmt.Errorf("natstransport: pending limits %s: %w", subject, err)
		}
	}
	if t.nc.IsConnected() {
		if err := t.nc.Flush(); err != nil {
			return fmt.Errorf("natstransport: flush subscriptions: %w", err)
		}
	}
	return nil
}

// unsubscribe ends the lanes' subscriptions, keeping their slow-consumer
// drop counts (which die with the subscriptions).
func (t *Transport) unsubscribe() {
	for l := range t.lanes {
		if sub := t.lanes[l].sub; sub != nil {
			if n, err := sub.Dropped(); err == nil {
				t.counters.dropped[DropSlowConsumer].Add(uint64(n))
			}
			_ = sub.Unsubscribe()
		}
	}
}

// SetMembers replaces the set of node IDs whose messages are accepted. Call
// it whenever the configuration changes (voters and learners both).
func (t *Transport) SetMembers(ids []uint64) {
	set := make(map[uint64]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	t.members.Store(&set)
}

func (t *Transport) isMember(id uint64) bool {
	_, ok := (*t.members.Load())[id]
	return ok && id != t.cfg.NodeID
}

// Close unsubscribes, stops snapshot transfers (without reporting them) and
// waits for their goroutines. The NATS connection stays open.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		close(t.closed)
		t.unsubscribe()
		t.snapOut.wait()
		t.snapIn.close()
	})
	return nil
}

func (t *Transport) isClosed() bool {
	select {
	case <-t.closed:
		return true
	default:
		return false
	}
}

// Stats returns a copy of the counters. DropSlowConsumer adds the NATS
// client's per-subscription drop counts.
func (t *Transport) Stats() Stats {
	s := t.counters.snapshot()
	if t.isClosed() {
		return s // the counts of the subscriptions were kept by unsubscribe
	}
	for l := range t.lanes {
		if sub := t.lanes[l].sub; sub != nil {
			if n, err := sub.Dropped(); err == nil {
				s.Dropped[DropSlowConsumer] += uint64(n)
			}
		}
	}
	return s
}

// drop counts n messages dropped for reason r.
func (t *Transport) drop(r DropReason, n int, attrs ...any) {
	t.counters.dropped[r].Add(uint64(n))
	if t.log.Enabled(context.Background(), slog.LevelDebug) {
		t.log.Debug("natstransport: drop", append(attrs, "reason", r.String(), "count", n)...)
	}
}

// defaultMaxPayload stands in for the server's max_payload until the
// client has connected once (nc.MaxPayload is 0 before).
const defaultMaxPayload = 1 << 20

func (t *Transport) payloadMax() int64 {
	if n := t.nc.MaxPayload(); n > 0 {
		return n
	}
	return defaultMaxPayload
}

// publish sends one encoded envelope and counts it on lane l.
func (t *Transport) publish(l Lane, subject string, data []byte, messages int) bool {
	if err := t.hooks.publish(subject, data); err != nil {
		r := DropPublish
		if errors.Is(err, nats.ErrMaxPayload) {
			r = DropTooLarge
		}
		t.drop(r, max(messages, 1), "subject", subject, "err", err)
		return false
	}
	t.counters.sent(l, messages, len(data))
	return true
}
