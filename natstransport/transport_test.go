package natstransport

import (
	"bytes"
	"slices"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/natsraft/natsraft/raft"
)

// readyMessages is what node from might send in one Ready to the others.
func readyMessages(from uint64, peers []uint64) []raft.Message {
	var msgs []raft.Message
	for _, to := range peers {
		msgs = append(msgs,
			raft.Message{Type: raft.MsgHeartbeat, From: from, To: to, Term: 2, Commit: 5},
			raft.Message{Type: raft.MsgApp, From: from, To: to, Term: 2, Index: 5, LogTerm: 2, Commit: 5,
				Entries: []raft.Entry{{Term: 2, Index: 6, Data: []byte{byte(from), byte(to)}}}},
			raft.Message{Type: raft.MsgVote, From: from, To: to, Term: 3, Index: 6, LogTerm: 2},
		)
	}
	return msgs
}

// TestThreeTransportsExchange runs three nodes on one server; each sends a
// Ready's worth of messages to the two others and receives theirs intact,
// with one publish per destination and lane.
func TestThreeTransportsExchange(t *testing.T) {
	s := startServer(t, ServerOptions{})
	ids := []uint64{1, 2, 3}
	nodes := make([]*Transport, 3)
	inboxes := make([]*inbox, 3)
	logs := make([]*publishLog, 3)
	for i, id := range ids {
		nc := connect(t, ConnectOptions{URL: s.ClientURL()})
		logs[i] = &publishLog{nc: nc}
		nodes[i], inboxes[i] = newNode(t, nc, id, ids, withHooks(hooks{publish: logs[i].publish}))
	}
	for i, id := range ids {
		nodes[i].Send(readyMessages(id, slices.DeleteFunc(slices.Clone(ids), func(p uint64) bool { return p == id })))
	}
	for i, id := range ids {
		got := inboxes[i].nextMessages(t, 6)
		checkReceived(t, id, got)
		if n := len(logs[i].all()); n != 4 { // 2 destinations x 2 lanes
			t.Errorf("node %d: %d publishes, want 4", id, n)
		}
		st := nodes[i].Stats()
		if st.Lanes[LaneControl].MessagesSent != 4 || st.Lanes[LaneAppend].MessagesSent != 2 {
			t.Errorf("node %d: sent counters %+v", id, st.Lanes)
		}
	}
}

// checkReceived checks that node id got, from each of the two others, a
// heartbeat, a vote and an append addressed to it.
func checkReceived(t *testing.T, id uint64, got []raft.Message) {
	t.Helper()
	count := map[raft.MessageType]int{}
	for _, m := range got {
		if m.To != id || m.From == id || m.From == 0 {
			t.Fatalf("node %d: message misaddressed: %+v", id, m)
		}
		if m.Type == raft.MsgApp && !bytes.Equal(m.Entries[0].Data, []byte{byte(m.From), byte(id)}) {
			t.Fatalf("node %d: wrong entry data %v", id, m.Entries[0].Data)
		}
		count[m.Type]++
	}
	if count[raft.MsgHeartbeat] != 2 || count[raft.MsgVote] != 2 || count[raft.MsgApp] != 2 {
		t.Fatalf("node %d: got %v", id, count)
	}
}

// TestSendGroupsByDestinationAndLane checks subjects and grouping: messages
// keep their order within a destination lane.
func TestSendGroupsByDestinationAndLane(t *testing.T) {
	s := startServer(t, ServerOptions{})
	nc := connect(t, ConnectOptions{URL: s.ClientURL()})
	log := &publishLog{nc: nc}
	a, _ := newNode(t, nc, 1, []uint64{1, 2, 3}, withHooks(hooks{publish: log.publish}))
	msgs := []raft.Message{
		{Type: raft.MsgApp, From: 1, To: 2, Index: 1},
		{Type: raft.MsgHeartbeat, From: 1, To: 3},
		{Type: raft.MsgApp, From: 1, To: 2, Index: 2},
		{Type: raft.MsgReadIndexResp, From: 1, To: 2},
		{Type: raft.MsgAppResp, From: 1, To: 3},
		{Type: raft.MsgApp, From: 1, To: 2, Index: 3},
	}
	a.Send(msgs)
	want := map[string][]raft.MessageType{
		Subject(testCluster, testGroup, 2, LaneAppend):  {raft.MsgApp, raft.MsgApp, raft.MsgApp},
		Subject(testCluster, testGroup, 3, LaneControl): {raft.MsgHeartbeat},
		Subject(testCluster, testGroup, 2, LaneControl): {raft.MsgReadIndexResp},
		Subject(testCluster, testGroup, 3, LaneAppend):  {raft.MsgAppResp},
	}
	sent := log.all()
	if len(sent) != len(want) {
		t.Fatalf("%d publishes, want %d", len(sent), len(want))
	}
	for _, p := range sent {
		b, err := DecodeBatch(p.data, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		var types []raft.MessageType
		for _, m := range b.Messages {
			types = append(types, m.Type)
		}
		if !slices.Equal(types, want[p.subject]) {
			t.Errorf("%s: got %v, want %v", p.subject, types, want[p.subject])
		}
	}
	if b, _ := DecodeBatch(sent[0].data, Limits{}); b.Messages[2].Index != 3 {
		t.Errorf("order within the lane lost: %+v", b.Messages)
	}
}

// TestSendSplitsBelowMaxPayload sends more append bytes to one peer than
// fit one message; they travel in several envelopes, in order.
func TestSendSplitsBelowMaxPayload(t *testing.T) {
	const maxPayload = 64 << 10
	s := startServer(t, ServerOptions{MaxPayload: maxPayload})
	ncA := connect(t, ConnectOptions{URL: s.ClientURL()})
	log := &publishLog{nc: ncA}
	a, _ := newNode(t, ncA, 1, []uint64{1, 2}, withHooks(hooks{publish: log.publish}))
	_, in := newNode(t, connect(t, ConnectOptions{URL: s.ClientURL()}), 2, []uint64{1, 2})
	var msgs []raft.Message
	for i := range 10 {
		msgs = append(msgs, raft.Message{Type: raft.MsgApp, From: 1, To: 2, Index: uint64(i),
			Entries: []raft.Entry{{Index: uint64(i + 1), Data: make([]byte, 20<<10)}}})
	}
	a.Send(msgs)
	got := in.nextMessages(t, 10)
	for i, m := range got {
		if m.Index != uint64(i) {
			t.Fatalf("message %d has index %d", i, m.Index)
		}
	}
	sent := log.all()
	if len(sent) < 4 {
		t.Fatalf("%d publishes; 200 KiB cannot fit fewer than 4 of 64 KiB", len(sent))
	}
	for _, p := range sent {
		if len(p.data) > maxPayload {
			t.Fatalf("publish of %d bytes > max_payload", len(p.data))
		}
	}
	if d := a.Stats().Dropped; d != [DropReasonCount]uint64{} {
		t.Fatalf("drops: %v", d)
	}
}

// TestSendDropsInvalid: local types, missing or self destination and a
// foreign From are never published.
func TestSendDropsInvalid(t *testing.T) {
	s := startServer(t, ServerOptions{})
	nc := connect(t, ConnectOptions{URL: s.ClientURL()})
	log := &publishLog{nc: nc}
	a, _ := newNode(t, nc, 1, []uint64{1, 2}, withHooks(hooks{publish: log.publish}))
	a.Send([]raft.Message{
		{Type: raft.MsgHup, From: 1, To: 2},
		{Type: raft.MsgSnapStatus, From: 1, To: 2},
		{Type: raft.MsgApp, From: 1, To: 0},
		{Type: raft.MsgApp, From: 1, To: 1},
		{Type: raft.MsgApp, From: 3, To: 2},
		{Type: raft.MsgSnap, From: 1, To: 2}, // no snapshot
		{Type: 200, From: 1, To: 2},
	})
	if n := len(log.all()); n != 0 {
		t.Fatalf("%d publishes", n)
	}
	if n := a.Stats().Dropped[DropInvalidSend]; n != 7 {
		t.Fatalf("DropInvalidSend = %d, want 7", n)
	}
}

// TestLanesAreIndependent blocks the append lane's handler in the middle of
// a flood of appends; a heartbeat sent after the flood must still arrive.
// With one shared subscription it would queue behind the blocked appends
// and the test would time out.
func TestLanesAreIndependent(t *testing.T) {
	s := startServer(t, ServerOptions{})
	a, _ := newNode(t, connect(t, ConnectOptions{URL: s.ClientURL()}), 1, []uint64{1, 2})
	release := make(chan struct{})
	appendsSeen := make(chan int, 1)
	control := make(chan raft.Message, 1)
	handler := func(batch []raft.Message) {
		if batch[0].Type == raft.MsgApp {
			select {
			case appendsSeen <- len(batch):
			default:
			}
			<-release // a slow disk, a full mailbox
			return
		}
		control <- batch[0]
	}
	newNode(t, connect(t, ConnectOptions{URL: s.ClientURL()}), 2, []uint64{1, 2},
		withConfig(func(c *Config) { c.Handler = handler }))
	defer close(release)

	const floodBatches = 100
	for i := range floodBatches {
		a.Send([]raft.Message{{Type: raft.MsgApp, From: 1, To: 2, Index: uint64(i),
			Entries: []raft.Entry{{Data: make([]byte, 4096)}}}})
	}
	a.Send([]raft.Message{{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 9}})
	waitFor(t, appendsSeen) // the append handler is now stuck on the first batch
	if hb := waitFor(t, control); hb.Type != raft.MsgHeartbeat || hb.Term != 9 {
		t.Fatalf("got %+v", hb)
	}
	if len(appendsSeen) != 0 {
		t.Fatal("a second append batch was delivered while the handler was blocked")
	}
}

// TestMembershipUpdate: a sender outside the member set is dropped until
// SetMembers adds it.
func TestMembershipUpdate(t *testing.T) {
	s := startServer(t, ServerOptions{})
	raw := connect(t, ConnectOptions{URL: s.ClientURL()})
	c, _ := newNode(t, connect(t, ConnectOptions{URL: s.ClientURL()}), 3, []uint64{1, 2, 3})
	b, in := newNode(t, connect(t, ConnectOptions{URL: s.ClientURL()}), 2, []uint64{1, 2})
	ctrl := Subject(testCluster, testGroup, 2, LaneControl)
	hb := raft.Message{Type: raft.MsgHeartbeat}
	// From 3, then a fence from 1 on the same connection and lane: when
	// the fence arrives, the first was handled.
	if err := raw.Publish(ctrl, rawEnvelope(t, kindBatch, testCluster, testGroup, 3, 2, hb)); err != nil {
		t.Fatal(err)
	}
	if err := raw.Publish(ctrl, rawEnvelope(t, kindBatch, testCluster, testGroup, 1, 2, hb)); err != nil {
		t.Fatal(err)
	}
	if got := in.next(t); got[0].From != 1 {
		t.Fatalf("got %+v", got)
	}
	if n := b.Stats().Dropped[DropSender]; n != 1 {
		t.Fatalf("DropSender = %d, want 1", n)
	}
	b.SetMembers([]uint64{1, 2, 3})
	c.Send([]raft.Message{{Type: raft.MsgHeartbeat, From: 3, To: 2}})
	if got := in.next(t); len(got) != 1 || got[0].From != 3 {
		t.Fatalf("got %+v", got)
	}
}

// TestSlowConsumerCounted: when a lane's handler falls behind past the
// pending limit, the client drops messages and both counters see it.
func TestSlowConsumerCounted(t *testing.T) {
	s := startServer(t, ServerOptions{})
	events := make(chan ConnEvent, 16)
	var counts ConnEvents
	ncB := connect(t, ConnectOptions{URL: s.ClientURL(), Events: &counts,
		OnEvent: func(ev ConnEvent, _ error) { events <- ev }})
	a, _ := newNode(t, connect(t, ConnectOptions{URL: s.ClientURL()}), 1, []uint64{1, 2})
	release := make(chan struct{})
	b, _ := newNode(t, ncB, 2, []uint64{1, 2}, withConfig(func(c *Config) {
		c.PendingBytesMax = 64 << 10
		c.Handler = func([]raft.Message) { <-release }
	}))
	for range 100 {
		a.Send([]raft.Message{{Type: raft.MsgApp, From: 1, To: 2, Entries: []raft.Entry{{Data: make([]byte, 4096)}}}})
	}
	if ev := waitFor(t, events); ev != EventSlowConsumer {
		t.Fatalf("event %v", ev)
	}
	close(release)
	if b.Stats().Dropped[DropSlowConsumer] == 0 || counts.SlowConsumers.Load() == 0 {
		t.Fatalf("slow consumer not counted: %v, %d", b.Stats().Dropped, counts.SlowConsumers.Load())
	}
}

// TestNewRejectsBadConfig checks the config validation.
func TestNewRejectsBadConfig(t *testing.T) {
	s := startServer(t, ServerOptions{})
	nc := connect(t, ConnectOptions{URL: s.ClientURL()})
	h := func([]raft.Message) {}
	bad := []Config{
		{Cluster: "a.b", Group: "g", NodeID: 1, Handler: h},
		{Cluster: "c", Group: "*", NodeID: 1, Handler: h},
		{Cluster: "c", Group: "g", NodeID: 0, Handler: h},
		{Cluster: "c", Group: "g", NodeID: 1},
	}
	for _, cfg := range bad {
		if _, err := New(nc, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	if _, err := New((*nats.Conn)(nil), Config{Cluster: "c", Group: "g", NodeID: 1, Handler: h}); err == nil {
		t.Error("New(nil conn) succeeded")
	}
}
