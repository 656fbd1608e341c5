package natstransport

import (
	"fmt"
	"hash/crc32"
	"math"

	"github.com/natsraft/natsraft/raft"
)

// castagnoli is the CRC-32C table (hardware accelerated on amd64 and arm64)
// used for every snapshot checksum.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// snapshotChunk is the body of an envelope of kind chunk: bytes
// [offset, offset+len(data)) of a snapshot image of totalBytes bytes.
type snapshotChunk struct {
	transferID uint64 // chosen by the sender, unique per transfer
	offset     uint64
	totalBytes uint64
	totalCRC   uint32 // CRC-32C of the whole image
	chunkCRC   uint32 // CRC-32C of data
	data       []byte
	// header is the MsgSnap with its Snapshot's metadata and without Data.
	// Only the chunk at offset 0 carries it.
	header *raft.Message
}

// ackStatus is what a receiver tells a snapshot sender.
type ackStatus uint8

const (
	ackNone     ackStatus = iota // nothing to send (never on the wire)
	ackProgress                  // offset bytes received in order; go on
	ackResend                    // send again from offset (lost, corrupt or unknown chunks)
	ackDone                      // the snapshot was verified and delivered
	ackAbort                     // the receiver gave up on this transfer
)

// snapshotAck is the body of an envelope of kind ack, sent on the control
// lane of the snapshot's sender.
type snapshotAck struct {
	transferID uint64
	offset     uint64 // bytes the receiver holds, contiguous from 0
	status     ackStatus
}

func (e *encoder) chunk(c *snapshotChunk) {
	e.arrayLen(chunkFields)
	e.uint(c.transferID)
	e.uint(c.offset)
	e.uint(c.totalBytes)
	e.uint(uint64(c.totalCRC))
	e.uint(uint64(c.chunkCRC))
	e.bytes(c.data)
	if c.header == nil {
		e.nil()
		return
	}
	e.message(c.header)
}

func (e *encoder) ack(a *snapshotAck) {
	e.arrayLen(ackFields)
	e.uint(a.transferID)
	e.uint(a.offset)
	e.uint(uint64(a.status))
}

// chunk reads a chunk body. Its data aliases the input; the length is
// bounded by the NATS payload that holds it.
func (d *decoder) chunk(c *snapshotChunk) {
	extra := d.structLen(chunkFields)
	c.transferID = d.uint()
	c.offset = d.uint()
	c.totalBytes = d.uint()
	c.totalCRC = uint32(d.uintMax(math.MaxUint32, ErrMalformed))
	c.chunkCRC = uint32(d.uintMax(math.MaxUint32, ErrMalformed))
	c.data = d.bytes(math.MaxInt32)
	if !d.isNil() && d.err == nil {
		c.header = &raft.Message{}
		d.message(c.header)
	}
	d.skip(extra)
}

func (d *decoder) ack(a *snapshotAck) {
	extra := d.structLen(ackFields)
	a.transferID = d.uint()
	a.offset = d.uint()
	s := d.uintMax(uint64(ackAbort), ErrMalformed)
	if d.err == nil && s == uint64(ackNone) {
		d.fail(fmt.Errorf("%w: ack without status", ErrMalformed))
	}
	a.status = ackStatus(s)
	d.skip(extra)
}
