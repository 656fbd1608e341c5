package natstransport

import (
	"github.com/natsraft/natsraft/raft"
)

// receive handles one NATS message of lane ls. It runs on the lane's
// delivery goroutine. data is the client's own copy of the payload (nats.go
// copies every message out of its read buffer), so what is decoded from it
// may alias it and is handed over to Handler.
func (t *Transport) receive(ls *laneState, data []byte) {
	t.counters.received(ls.lane, len(data))
	d := ls.dec
	d.reset(data)
	var h rawHeader
	d.header(&h)
	if d.err != nil {
		t.drop(reasonOf(d.err), 1, "lane", ls.lane, "err", d.err)
		return
	}
	if r, ok := t.checkHeader(ls.lane, &h); !ok {
		t.drop(r, 1, "lane", ls.lane, "from", h.from, "to", h.to)
		return
	}
	switch h.kind {
	case kindBatch:
		t.receiveBatch(ls, &h)
	case kindChunk:
		t.snapIn.receive(&h, d)
	case kindAck:
		t.snapOut.receiveAck(&h, d)
	}
}

// lanesOfKind says on which lanes each envelope kind may arrive (the
// decoder accepts only kinds batch to ack).
var lanesOfKind = [kindAck + 1][LaneCount]bool{
	kindBatch: {LaneControl: true, LaneAppend: true},
	kindChunk: {LaneSnapshot: true},
	kindAck:   {LaneControl: true},
}

// checkHeader checks an envelope's addressing against this node: the right
// lane for its kind, our cluster and group, us as destination, a member as
// sender.
func (t *Transport) checkHeader(l Lane, h *rawHeader) (DropReason, bool) {
	switch {
	case !lanesOfKind[h.kind][l]:
		return DropKind, false
	case string(h.cluster) != t.cfg.Cluster || string(h.group) != t.cfg.Group:
		return DropCluster, false
	case h.to != t.cfg.NodeID:
		return DropDestination, false
	case !t.isMember(h.from):
		return DropSender, false
	}
	return 0, true
}

// receiveBatch decodes the messages of a batch, drops those whose type does
// not belong on this lane, and hands the rest to Handler.
func (t *Transport) receiveBatch(ls *laneState, h *rawHeader) {
	d := ls.dec
	msgs := d.messages()
	if err := d.finish(h); err != nil {
		t.dropInvalid(err, h.from)
		return
	}
	kept := 0
	for i := range msgs {
		m := &msgs[i]
		if lane, ok := LaneOf(m.Type); !ok || lane != ls.lane {
			t.drop(DropMessageType, 1, "lane", ls.lane, "from", h.from, "type", m.Type)
			continue
		}
		m.From, m.To = h.from, h.to
		if kept != i {
			msgs[kept] = *m
		}
		kept++
	}
	if kept == 0 {
		return
	}
	clear(msgs[kept:])
	t.counters.lanes[ls.lane].messagesHandled.Add(uint64(kept))
	t.cfg.Handler(msgs[:kept:kept])
}

// dropInvalid counts an envelope whose body failed to decode.
func (t *Transport) dropInvalid(err error, from uint64) {
	t.drop(reasonOf(err), 1, "from", from, "err", err)
}

// deliver hands one reassembled MsgSnap to Handler.
func (t *Transport) deliver(m raft.Message) {
	t.counters.lanes[LaneSnapshot].messagesHandled.Add(1)
	t.cfg.Handler([]raft.Message{m})
}
