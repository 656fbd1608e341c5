package natstransport

import (
	"slices"
	"sync"

	"github.com/natsraft/natsraft/raft"
)

// Upper bounds of encoded sizes, used to split a destination's messages
// into envelopes below max_payload before encoding them.
const (
	envelopeBoundBytes = 1 + 1 + 1 + 2*(2+nameBytesMax) + 2*9 + 5 // header fields, messages array
	messageBoundBytes  = 1 + 2 + 5*9 + 1 + 5 + 5 + 1              // fields, Context/entries headers, nil snapshot
	entryBoundBytes    = 1 + 2*9 + 2 + 5                          // fields, Data header
	snapshotBoundBytes = 1 + 2*9 + 2*5 + 5                        // fields, list and Data headers
)

// sendState is the scratch of Send, reused across calls under mu.
type sendState struct {
	mu       sync.Mutex
	enc      *bufferEncoder
	keys     []sendKey
	indexes  []int
	subjects map[uint64]*[LaneCount]string // by destination; NB: grows with every ID ever sent to
}

// sendKey is one destination lane: all of a Send's messages with the same
// key travel in one envelope (or a few, if they exceed max_payload).
type sendKey struct {
	to   uint64
	lane Lane
}

func (s *sendState) init() {
	s.enc = newBufferEncoder()
	s.subjects = make(map[uint64]*[LaneCount]string)
}

// Send publishes msgs, typically all messages of one Ready: one envelope
// per destination and lane, in the order the messages have in msgs. A
// MsgSnap is handed to the chunked snapshot sender instead. Send never
// waits for a peer: core NATS publish only appends to the client's buffer
// (which its flusher goroutine writes out), so a slow or dead peer costs
// nothing here. Invalid messages (local types, To of None or ourselves,
// From not ourselves) are dropped and counted.
//
// Send does not keep msgs, except the Snapshot.Data of a MsgSnap, which is
// read until the transfer ends and must not be modified.
func (t *Transport) Send(msgs []raft.Message) {
	if t.isClosed() {
		t.drop(DropPublish, len(msgs), "err", ErrClosed)
		return
	}
	s := &t.send
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = s.keys[:0]
	for i := range msgs {
		m := &msgs[i]
		lane, ok := t.outgoingLane(m)
		switch {
		case !ok:
			t.drop(DropInvalidSend, 1, "type", m.Type, "to", m.To, "from", m.From)
		case lane == LaneSnapshot:
			t.snapOut.start(m)
		case !slices.Contains(s.keys, sendKey{m.To, lane}):
			s.keys = append(s.keys, sendKey{m.To, lane})
		}
	}
	payloadMax := int(t.payloadMax())
	for _, k := range s.keys {
		t.sendLane(k, msgs, payloadMax)
	}
}

// outgoingLane returns the lane of m and whether m may be sent at all.
func (t *Transport) outgoingLane(m *raft.Message) (Lane, bool) {
	lane, ok := LaneOf(m.Type)
	ok = ok && m.To != raft.None && m.To != t.cfg.NodeID && m.From == t.cfg.NodeID
	if lane == LaneSnapshot {
		ok = ok && m.Snapshot != nil
	}
	return lane, ok
}

// sendLane publishes the messages of key k, starting a new envelope
// whenever the next message could push the current one over payloadMax.
// REQUIRES: t.send.mu is held.
func (t *Transport) sendLane(k sendKey, msgs []raft.Message, payloadMax int) {
	s := &t.send
	s.indexes = s.indexes[:0]
	bound := envelopeBoundBytes
	for i := range msgs {
		m := &msgs[i]
		if lane, ok := t.outgoingLane(m); !ok || lane != k.lane || m.To != k.to {
			continue
		}
		size := encodedBoundBytes(m)
		if len(s.indexes) > 0 && bound+size > payloadMax {
			t.publishBatch(k, msgs, s.indexes)
			s.indexes, bound = s.indexes[:0], envelopeBoundBytes
		}
		s.indexes = append(s.indexes, i)
		bound += size
	}
	if len(s.indexes) > 0 {
		t.publishBatch(k, msgs, s.indexes)
	}
}

// publishBatch encodes msgs[i] for each i in indexes as one envelope.
// REQUIRES: t.send.mu is held.
func (t *Transport) publishBatch(k sendKey, msgs []raft.Message, indexes []int) {
	e := t.send.enc
	e.reset()
	e.header(kindBatch, t.cfg.Cluster, t.cfg.Group, t.cfg.NodeID, k.to)
	e.arrayLen(len(indexes))
	for _, i := range indexes {
		e.message(&msgs[i])
	}
	if e.err != nil { // the buffer cannot fail; an encoder error is a bug
		t.drop(DropMalformed, len(indexes), "err", e.err)
		return
	}
	t.publish(k.lane, t.subject(k), e.buf.b, len(indexes))
}

// subject returns the cached subject of a destination lane.
// REQUIRES: t.send.mu is held.
func (t *Transport) subject(k sendKey) string {
	subjects := t.send.subjects[k.to]
	if subjects == nil {
		subjects = new([LaneCount]string)
		for l := range LaneCount {
			subjects[l] = Subject(t.cfg.Cluster, t.cfg.Group, k.to, l)
		}
		t.send.subjects[k.to] = subjects
	}
	return subjects[k.lane]
}

// encodedBoundBytes is an upper bound of m's encoded size.
func encodedBoundBytes(m *raft.Message) int {
	n := messageBoundBytes + len(m.Context) + len(m.Entries)*entryBoundBytes
	for i := range m.Entries {
		n += len(m.Entries[i].Data)
	}
	if s := m.Snapshot; s != nil {
		ids := len(s.Metadata.ConfState.Voters) + len(s.Metadata.ConfState.Learners)
		n += snapshotBoundBytes + 9*ids + len(s.Data)
	}
	return n
}
