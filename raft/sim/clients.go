package sim

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/natsraft/natsraft/raft"
)

type opKind uint8

const (
	opPut opKind = iota
	opGet
)

type opState uint8

const (
	opPending opState = iota
	opDone
	// opUnknown: a write whose client gave up (timeout, crash of its
	// node); it may or may not take effect.
	opUnknown
	// opDropped: refused at once (never in the log), or a read that never
	// answered: not part of the history.
	opDropped
)

// operation is one client call on the replicated map.
type operation struct {
	id     uint64
	client int
	kind   opKind
	key    string
	// value is the value written, or the value read.
	value string
	// seq is a write's sequence number among its client's writes.
	seq  uint64
	node uint64
	call int64
	ret  int64
	// applied is the tick a write first took effect on any node (0: never).
	applied int64
	state   opState
	// readIndex is the read point of a read, once its ReadState arrived.
	readIndex     uint64
	haveReadIndex bool
	liveness      bool
}

// clients issue writes (Propose) and linearizable reads (ReadIndex), one
// operation at a time each. A client sticks to one node (a connection)
// until an operation fails or times out, then picks another at random:
// so clients keep using a deposed leader, as real ones do.
type clients struct {
	opts   *Options
	ops    []*operation // ops[id-1]
	active []*operation // per client: the operation in progress
	seq    []uint64     // per client: the last sequence number used
	home   []uint64     // per client: the node it is connected to (0: none)
	paused bool
}

func newClients(opts *Options) *clients {
	return &clients{opts: opts, active: make([]*operation, opts.Clients),
		seq: make([]uint64, opts.Clients), home: make([]uint64, opts.Clients)}
}

// step times out operations and starts new ones.
func (c *clients) step(s *Sim) {
	for client, op := range c.active {
		switch {
		case op != nil && s.now-op.call >= int64(c.opts.OpTimeoutTicks):
			s.trace.printf(s.now, "op %d times out", op.id)
			c.giveUp(op)
		case op == nil && !c.paused && s.chance(c.opts.ClientOpRate):
			c.issue(s, client, client < c.opts.ReadOnlyClients || s.rng.Float64() < c.opts.ReadRate)
		}
	}
}

// giveUp ends an operation without an answer: a write becomes unknown, a
// read is forgotten.
func (c *clients) giveUp(op *operation) {
	op.state = opUnknown
	if op.kind == opGet {
		op.state = opDropped
	}
	c.active[op.client] = nil
	c.home[op.client] = 0
}

// target returns the client's node if it is still running, or connects
// the client to a random running member.
func (c *clients) target(s *Sim, client int) *simNode {
	if n := s.node(c.home[client]); n != nil && n.up && !n.removed {
		return n
	}
	n := s.randomMember()
	if n != nil {
		c.home[client] = n.id
	}
	return n
}

// randomMember picks a random running node that was not removed.
func (s *Sim) randomMember() *simNode {
	var up []*simNode
	for _, n := range s.upNodes() {
		if !n.removed {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[s.rng.IntN(len(up))]
}

func (c *clients) issue(s *Sim, client int, read bool) *operation {
	n := c.target(s, client)
	if n == nil {
		return nil
	}
	if s.phase == phaseLiveness && c.opts.DisableProposalForwarding {
		if n = s.leader(); n == nil {
			return nil
		}
	}
	op := &operation{id: uint64(len(c.ops) + 1), client: client, node: n.id, call: s.now,
		key: fmt.Sprintf("k%d", s.rng.IntN(c.opts.Keys)), liveness: s.phase == phaseLiveness}
	c.ops = append(c.ops, op)
	var err error
	if read {
		op.kind = opGet
		err = n.node.ReadIndex(binary.BigEndian.AppendUint64(nil, op.id))
		n.reads = append(n.reads, op.id)
	} else {
		c.seq[client]++
		op.seq = c.seq[client]
		op.value = fmt.Sprintf("%d.%d", client, op.seq)
		cmd := command{OpID: op.id, Client: uint32(client), Seq: c.seq[client], Key: op.key, Value: op.value}
		err = n.node.Propose(cmd.marshal())
	}
	s.trace.printf(s.now, "client %d op %d %s on node %d: %v", client, op.id, op.describe(), n.id, err)
	if err != nil {
		op.state = opDropped
		c.home[client] = 0
		return op
	}
	c.active[client] = op
	return op
}

func (op *operation) describe() string {
	if op.kind == opGet {
		return fmt.Sprintf("get %s", op.key)
	}
	return fmt.Sprintf("put %s=%s", op.key, op.value)
}

// onCrash: the clients of a crashed node lose their connection.
func (c *clients) onCrash(s *Sim, n *simNode) {
	for _, op := range c.active {
		if op != nil && op.node == n.id {
			c.giveUp(op)
		}
	}
}

// onApplied records a write taking effect on node n.
func (c *clients) onApplied(s *Sim, n *simNode, cmd *command) {
	op := c.ops[cmd.OpID-1]
	if op.state == opDropped {
		s.fail("client op %d (%s) was refused by Propose, yet node %d applies it", op.id, op.describe(), n.id)
		return
	}
	if op.applied == 0 {
		op.applied = s.now
	}
	if op.state == opPending && op.node == n.id {
		op.state, op.ret = opDone, s.now
		c.active[op.client] = nil
	}
}

// onReadState records the read point of a pending read on node n.
func (c *clients) onReadState(s *Sim, n *simNode, rs raft.ReadState) {
	if len(rs.RequestCtx) != 8 {
		s.fail("node %d: ReadState with a foreign context %x", n.id, rs.RequestCtx)
		return
	}
	id := binary.BigEndian.Uint64(rs.RequestCtx)
	if id == 0 || id > uint64(len(c.ops)) {
		s.fail("node %d: ReadState for unknown op %d", n.id, id)
		return
	}
	op := c.ops[id-1]
	if op.state == opPending && op.node == n.id && !op.haveReadIndex {
		op.readIndex, op.haveReadIndex = rs.Index, true
	}
}

// serveReads answers the reads on n whose read index n has applied
// (dissertation §6.4 step 4).
func (c *clients) serveReads(s *Sim, n *simNode) {
	n.reads = slices.DeleteFunc(n.reads, func(id uint64) bool {
		op := c.ops[id-1]
		if op.state != opPending {
			return true
		}
		if !op.haveReadIndex || n.sm.Applied < op.readIndex {
			return false
		}
		op.value = n.sm.KV[op.key]
		op.state, op.ret = opDone, s.now
		c.active[op.client] = nil
		s.trace.printf(s.now, "op %d get %s = %q at applied %d (read index %d)", op.id, op.key, op.value, n.sm.Applied, op.readIndex)
		return true
	})
}

// idle reports whether no operation is in progress.
func (c *clients) idle() bool {
	for _, op := range c.active {
		if op != nil {
			return false
		}
	}
	return true
}
