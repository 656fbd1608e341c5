package server

import (
	"context"
	"time"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/raft"
)

// eventKind names what the node actor is asked to do.
type eventKind uint8

const (
	evTick          eventKind = iota // advance Raft's logical clock
	evRaft                           // messages from peers
	evPropose                        // a client write
	evRead                           // a linearizable read barrier (ReadIndex)
	evAdmin                          // a membership change or leadership transfer
	evSnapshotSent                   // the transport finished sending a snapshot
	evSnapshotBuilt                  // a snapshot image was encoded off the actor
)

// event is the node actor's message. Exactly the field of its kind is set.
type event struct {
	kind     eventKind
	msgs     []raft.Message
	proposal *proposal
	read     *readWaiter
	admin    *adminRequest
	snapshot *builtSnapshot
	snapTo   uint64
	snapOK   bool
}

// Reject answers a queued request the actor will never handle (it stopped
// or failed); network messages and ticks are simply dropped.
func (e event) Reject(err error) {
	switch {
	case e.proposal != nil:
		e.proposal.finish(nil, err)
	case e.read != nil:
		e.read.finish(err)
	case e.admin != nil:
		e.admin.finish(err)
	}
}

// proposal is a client write waiting to be applied.
type proposal struct {
	ctx   context.Context
	start time.Time // arrival, for the latency breakdown
	data  []byte
	done  chan proposalResult
}

type proposalResult struct {
	resp *kv.Response
	err  error
}

func newProposal(ctx context.Context, data []byte) *proposal {
	return &proposal{ctx: ctx, start: time.Now(), data: data, done: make(chan proposalResult, 1)}
}

// finish delivers the outcome; it never blocks (done has room for one).
func (p *proposal) finish(resp *kv.Response, err error) {
	p.done <- proposalResult{resp: resp, err: err}
}

// readWaiter is a linearizable read waiting for its read index to be
// confirmed (dissertation §6.4) and applied.
type readWaiter struct {
	ctx   context.Context
	index uint64 // set when Raft returns the ReadState
	done  chan error
}

func newReadWaiter(ctx context.Context) *readWaiter {
	return &readWaiter{ctx: ctx, done: make(chan error, 1)}
}

func (w *readWaiter) finish(err error) { w.done <- err }

// adminRequest is a membership change or a leadership transfer.
type adminRequest struct {
	change   *raft.ConfChange
	transfer uint64
	done     chan error
}

func (a *adminRequest) finish(err error) { a.done <- err }
