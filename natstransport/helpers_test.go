package natstransport

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/natsraft/natsraft/raft"
)

// waitTimeout guards every wait for an event: reaching it fails the test.
const waitTimeout = 10 * time.Second

const (
	testCluster = "test"
	testGroup   = "g0"
)

func startServer(t testing.TB, opts ServerOptions) *server.Server {
	t.Helper()
	s, err := StartServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func connect(t testing.TB, opts ConnectOptions) *nats.Conn {
	t.Helper()
	nc, err := Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// inbox collects what a transport delivers.
type inbox struct {
	batches chan []raft.Message
	status  chan snapStatus
}

type snapStatus struct {
	to uint64
	ok bool
}

func newInbox() *inbox {
	return &inbox{batches: make(chan []raft.Message, 1024), status: make(chan snapStatus, 16)}
}

// waitFor returns the next value of ch, failing the test after waitTimeout.
func waitFor[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for a %T", *new(T))
		panic("unreachable")
	}
}

// next returns the next delivered batch.
func (in *inbox) next(t testing.TB) []raft.Message {
	t.Helper()
	return waitFor(t, in.batches)
}

// nextMessages collects delivered messages until it has n of them.
func (in *inbox) nextMessages(t testing.TB, n int) []raft.Message {
	t.Helper()
	var got []raft.Message
	for len(got) < n {
		got = append(got, in.next(t)...)
	}
	return got
}

func (in *inbox) nextStatus(t testing.TB) snapStatus {
	t.Helper()
	return waitFor(t, in.status)
}

type nodeOption func(*Config, *hooks)

func withHooks(h hooks) nodeOption { return func(_ *Config, hk *hooks) { *hk = h } }

func withConfig(f func(*Config)) nodeOption { return func(c *Config, _ *hooks) { f(c) } }

// newNode starts a transport for node id with the given members.
func newNode(t testing.TB, nc *nats.Conn, id uint64, members []uint64, opts ...nodeOption) (*Transport, *inbox) {
	t.Helper()
	in := newInbox()
	cfg := Config{
		Cluster: testCluster, Group: testGroup, NodeID: id, Members: members,
		Handler:        func(b []raft.Message) { in.batches <- b },
		SnapshotStatus: func(to uint64, ok bool) { in.status <- snapStatus{to, ok} },
	}
	var h hooks
	for _, o := range opts {
		o(&cfg, &h)
	}
	tr, err := newTransport(nc, cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr, in
}

// publishLog records the publishes of a transport and may drop or alter
// them.
type publishLog struct {
	nc     *nats.Conn
	mu     sync.Mutex
	sent   []published
	filter func(subject string, data []byte) (out []byte, keep bool)
}

type published struct {
	subject string
	data    []byte
}

func (p *publishLog) publish(subject string, data []byte) error {
	p.mu.Lock()
	p.sent = append(p.sent, published{subject, bytes.Clone(data)})
	filter := p.filter
	p.mu.Unlock()
	if filter != nil {
		var keep bool
		if data, keep = filter(subject, data); !keep {
			return nil
		}
	}
	return p.nc.Publish(subject, data)
}

func (p *publishLog) all() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]published(nil), p.sent...)
}

// randomMessage returns a message of type typ with every field random.
func randomMessage(r *rand.Rand, typ raft.MessageType) raft.Message {
	m := raft.Message{
		Type: typ, Term: randUint(r), LogTerm: randUint(r), Index: randUint(r),
		Commit: randUint(r), Reject: r.IntN(2) == 0, RejectHint: randUint(r),
		Context: randBytes(r, 40),
	}
	for range r.IntN(5) {
		m.Entries = append(m.Entries, raft.Entry{
			Term: randUint(r), Index: randUint(r),
			Type: raft.EntryType(r.IntN(2)), Data: randBytes(r, 300),
		})
	}
	if typ == raft.MsgSnap || r.IntN(8) == 0 {
		m.Snapshot = &raft.Snapshot{Data: randBytes(r, 1000)}
		m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term = randUint(r), randUint(r)
		m.Snapshot.Metadata.ConfState.Voters = randIDs(r)
		m.Snapshot.Metadata.ConfState.Learners = randIDs(r)
	}
	return m
}

// randUint spreads values over every msgpack integer width.
func randUint(r *rand.Rand) uint64 { return r.Uint64() >> r.IntN(64) }

// randBytes returns nil, empty or random bytes.
func randBytes(r *rand.Rand, maxLen int) []byte {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, r.IntN(maxLen))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randIDs(r *rand.Rand) []uint64 {
	var ids []uint64
	for range r.IntN(6) {
		ids = append(ids, randUint(r))
	}
	return ids
}

// equalMessages compares messages treating nil and empty lists alike (the
// wire does not tell them apart) but nil and empty byte strings apart.
func equalMessages(a, b []raft.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(normalize(a[i]), normalize(b[i])) {
			return false
		}
	}
	return true
}

func normalize(m raft.Message) raft.Message {
	if len(m.Entries) == 0 {
		m.Entries = nil
	}
	if m.Snapshot != nil {
		s := *m.Snapshot
		if len(s.Metadata.ConfState.Voters) == 0 {
			s.Metadata.ConfState.Voters = nil
		}
		if len(s.Metadata.ConfState.Learners) == 0 {
			s.Metadata.ConfState.Learners = nil
		}
		m.Snapshot = &s
	}
	return m
}

// appendBatch is the benchmark's shape: one MsgApp with n entries of size
// bytes.
func appendBatch(n, size int) *Batch {
	m := raft.Message{Type: raft.MsgApp, From: 1, To: 2, Term: 7, LogTerm: 7, Index: 1_000_000, Commit: 999_990}
	for i := range n {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i*31 + j)
		}
		m.Entries = append(m.Entries, raft.Entry{Term: 7, Index: uint64(1_000_001 + i), Data: data})
	}
	return &Batch{Cluster: testCluster, Group: testGroup, From: 1, To: 2, Messages: []raft.Message{m}}
}
