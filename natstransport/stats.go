package natstransport

import (
	"errors"
	"strconv"
	"sync/atomic"
)

// DropReason says why a message was dropped. Envelope-level reasons count
// NATS messages; DropMessageType counts Raft messages; send-side reasons
// count Raft messages.
type DropReason uint8

const (
	DropMalformed       DropReason = iota // not a valid envelope (msgpack, field counts, trailing bytes)
	DropVersion                           // unknown wire version
	DropKind                              // unknown envelope kind, or a kind on the wrong lane
	DropCluster                           // another cluster or Raft group
	DropDestination                       // addressed to another node
	DropSender                            // sender not in the member set, or ourselves
	DropMessageType                       // unknown or local message type, or a type on the wrong lane
	DropTooLarge                          // a size limit was exceeded (either side)
	DropChecksum                          // a snapshot chunk or image failed its CRC-32C
	DropSnapshotStale                     // a chunk or ack of no current transfer, or out of order
	DropSnapshotBusy                      // send side: a snapshot to that peer is already in flight
	DropSnapshotExpired                   // receive side: a partial snapshot sat idle too long
	DropSlowConsumer                      // the NATS client dropped it: the lane's handler fell behind
	DropPublish                           // send side: the publish failed (closed, reconnect buffer full)
	DropInvalidSend                       // send side: local type, no or self destination, From not us
	DropReasonCount
)

var dropReasonNames = [DropReasonCount]string{
	DropMalformed: "malformed", DropVersion: "version", DropKind: "kind",
	DropCluster: "cluster", DropDestination: "destination", DropSender: "sender",
	DropMessageType: "message_type", DropTooLarge: "too_large", DropChecksum: "checksum",
	DropSnapshotStale: "snapshot_stale", DropSnapshotBusy: "snapshot_busy",
	DropSnapshotExpired: "snapshot_expired", DropSlowConsumer: "slow_consumer",
	DropPublish: "publish", DropInvalidSend: "invalid_send",
}

// String returns the reason as a metric label value.
func (r DropReason) String() string {
	if r < DropReasonCount {
		return dropReasonNames[r]
	}
	return "drop_reason(" + strconv.Itoa(int(r)) + ")"
}

// reasonOf maps a decoder error to its drop reason.
func reasonOf(err error) DropReason {
	switch {
	case errors.Is(err, ErrVersion):
		return DropVersion
	case errors.Is(err, ErrKind):
		return DropKind
	case errors.Is(err, ErrTooLarge):
		return DropTooLarge
	case errors.Is(err, ErrMessageType):
		return DropMessageType
	}
	return DropMalformed
}

// LaneStats counts one lane's traffic. Batches are NATS messages (envelopes
// of any kind, snapshot acks included), Messages are Raft messages (chunks
// on the snapshot lane), Bytes are NATS payload bytes. Received counts all
// that arrived, dropped or not; Delivered what reached Handler.
type LaneStats struct {
	BatchesSent       uint64
	MessagesSent      uint64
	BytesSent         uint64
	BatchesReceived   uint64
	BytesReceived     uint64
	MessagesDelivered uint64
}

// Stats is a point-in-time copy of the transport's counters, for metrics.
type Stats struct {
	Lanes                [LaneCount]LaneStats
	Dropped              [DropReasonCount]uint64 // indexed by DropReason
	SnapshotsSent        uint64                  // transfers acknowledged as delivered
	SnapshotsFailed      uint64                  // transfers reported failed
	SnapshotsReceived    uint64                  // images verified and delivered to Handler
	SnapshotChunksResent uint64                  // chunks sent again after a loss or timeout
}

type laneCounters struct {
	batchesSent, messagesSent, bytesSent            atomic.Uint64
	batchesReceived, bytesReceived, messagesHandled atomic.Uint64
}

type counters struct {
	lanes                                   [LaneCount]laneCounters
	dropped                                 [DropReasonCount]atomic.Uint64
	snapshotsSent, snapshotsFailed          atomic.Uint64
	snapshotsReceived, snapshotChunksResent atomic.Uint64
}

func (c *counters) sent(l Lane, messages, bytes int) {
	lc := &c.lanes[l]
	lc.batchesSent.Add(1)
	lc.messagesSent.Add(uint64(messages))
	lc.bytesSent.Add(uint64(bytes))
}

func (c *counters) received(l Lane, bytes int) {
	c.lanes[l].batchesReceived.Add(1)
	c.lanes[l].bytesReceived.Add(uint64(bytes))
}

func (c *counters) snapshot() Stats {
	var s Stats
	for l := range s.Lanes {
		lc := &c.lanes[l]
		s.Lanes[l] = LaneStats{
			BatchesSent: lc.batchesSent.Load(), MessagesSent: lc.messagesSent.Load(),
			BytesSent: lc.bytesSent.Load(), BatchesReceived: lc.batchesReceived.Load(),
			BytesReceived: lc.bytesReceived.Load(), MessagesDelivered: lc.messagesHandled.Load(),
		}
	}
	for r := range s.Dropped {
		s.Dropped[r] = c.dropped[r].Load()
	}
	s.SnapshotsSent = c.snapshotsSent.Load()
	s.SnapshotsFailed = c.snapshotsFailed.Load()
	s.SnapshotsReceived = c.snapshotsReceived.Load()
	s.SnapshotChunksResent = c.snapshotChunksResent.Load()
	return s
}
