package sim

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/natsraft/natsraft/raft"
)

// link is one direction of a connection between two nodes.
type link struct{ from, to uint64 }

// envelope is a message in flight.
type envelope struct {
	deliverTick int64
	seq         uint64 // send order, breaks ties between equal delivery ticks
	msg         raft.Message
	// fromIncarnation is the sender's incarnation at send time: a snapshot
	// report goes back only to the process that sent the snapshot.
	fromIncarnation uint64
}

type envelopeHeap []*envelope

func (h envelopeHeap) Len() int { return len(h) }
func (h envelopeHeap) Less(i, j int) bool {
	if h[i].deliverTick != h[j].deliverTick {
		return h[i].deliverTick < h[j].deliverTick
	}
	return h[i].seq < h[j].seq
}
func (h envelopeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *envelopeHeap) Push(x any)   { *h = append(*h, x.(*envelope)) }
func (h *envelopeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// partition is a set of cut link directions, healed at endTick.
type partition struct {
	cut     map[link]bool
	endTick int64
	desc    string
}

// network is the simulated network: per-message loss, duplication and
// delay, and partitions that cut link directions. It copies every message
// on send, as a transport that serializes would, so no memory is shared
// between nodes.
type network struct {
	opts  *Options
	rng   *rand.Rand
	queue envelopeHeap
	seq   uint64
	part  *partition
	// quiet: no loss, no duplication, one tick of delay (the liveness phase).
	quiet bool
	stats networkStats
}

type networkStats struct {
	sent, lost, duplicated, cut, delivered, partitions int
}

func newNetwork(opts *Options, rng *rand.Rand) *network {
	return &network{opts: opts, rng: rng}
}

// linkUp reports whether messages can go from one node to another now.
func (nw *network) linkUp(from, to uint64) bool {
	return nw.part == nil || !nw.part.cut[link{from, to}]
}

// sendResult is what the sender's transport learns about a send.
type sendResult uint8

const (
	// sent: queued for delivery (possibly duplicated).
	sent sendResult = iota
	// lost: silently lost on the way; the sender does not know.
	lost
	// linkDown: the link direction is cut; the transport notices.
	linkDown
)

// send queues m for delivery, or loses it.
func (nw *network) send(m raft.Message, fromIncarnation uint64, now int64) sendResult {
	nw.stats.sent++
	if !nw.linkUp(m.From, m.To) {
		nw.stats.cut++
		return linkDown
	}
	if !nw.quiet && nw.rng.Float64() < nw.opts.LossRate {
		nw.stats.lost++
		return lost
	}
	nw.enqueue(m, fromIncarnation, now)
	if !nw.quiet && nw.rng.Float64() < nw.opts.DupRate {
		nw.stats.duplicated++
		nw.enqueue(m, fromIncarnation, now)
	}
	return sent
}

func (nw *network) enqueue(m raft.Message, fromIncarnation uint64, now int64) {
	nw.seq++
	e := &envelope{deliverTick: now + nw.delay(), seq: nw.seq, msg: copyMessage(m), fromIncarnation: fromIncarnation}
	heap.Push(&nw.queue, e)
}

// delay draws a delivery delay in ticks, at least one.
func (nw *network) delay() int64 {
	o := nw.opts
	if nw.quiet {
		return 1
	}
	if nw.rng.Float64() < o.DelayTailRate {
		return int64(o.DelayTicksMin + nw.rng.IntN(o.DelayTailTicksMax+1))
	}
	d := float64(o.DelayTicksMin) + nw.rng.ExpFloat64()*o.DelayTicksMean
	return int64(math.Min(d, float64(o.DelayTailTicksMax)))
}

// due removes and returns the messages to deliver at tick now, in order.
func (nw *network) due(now int64) []*envelope {
	var out []*envelope
	for len(nw.queue) > 0 && nw.queue[0].deliverTick <= now {
		out = append(out, heap.Pop(&nw.queue).(*envelope))
	}
	return out
}

// copyMessage deep-copies m, entries and snapshot included.
func copyMessage(m raft.Message) raft.Message {
	if len(m.Entries) > 0 {
		ents := make([]raft.Entry, len(m.Entries))
		for i, e := range m.Entries {
			e.Data = slices.Clone(e.Data)
			ents[i] = e
		}
		m.Entries = ents
	}
	if m.Snapshot != nil {
		s := *m.Snapshot
		s.Data = slices.Clone(s.Data)
		s.Metadata.ConfState = raft.ConfState{
			Voters:   slices.Clone(s.Metadata.ConfState.Voters),
			Learners: slices.Clone(s.Metadata.ConfState.Learners),
		}
		m.Snapshot = &s
	}
	m.Context = slices.Clone(m.Context)
	return m
}

// maybePartition heals an expired partition and maybe starts a new one
// among ids (the nodes that exist); lead, if not 0, is the leader, which a
// partition often isolates.
func (nw *network) maybePartition(ids []uint64, lead uint64, now int64) (started, healed string) {
	if nw.part != nil && now >= nw.part.endTick {
		healed = nw.part.desc
		nw.part = nil
	}
	if nw.part != nil || len(ids) < 2 || nw.rng.Float64() >= nw.opts.PartitionRate {
		return "", healed
	}
	o := nw.opts
	ticks := o.PartitionTicksMin + nw.rng.IntN(o.PartitionTicksMax-o.PartitionTicksMin+1)
	p := &partition{cut: map[link]bool{}, endTick: now + int64(ticks)}
	switch r := nw.rng.Float64(); {
	case lead != 0 && r < o.IsolateLeaderRate:
		isolate(p, lead, ids)
	case r < o.IsolateLeaderRate+(1-o.IsolateLeaderRate)*o.AsymmetricRate:
		nw.cutAsymmetric(p, ids)
	default:
		nw.cutSymmetric(p, ids)
	}
	p.desc += fmt.Sprintf(" for %d ticks", ticks)
	nw.part = p
	nw.stats.partitions++
	return p.desc, healed
}

// cutSymmetric splits ids into two sides that cannot talk, or builds a
// bridge: two sides that talk only through one node in the middle.
func (nw *network) cutSymmetric(p *partition, ids []uint64) {
	shuffled := slices.Clone(ids)
	nw.rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if len(ids) >= 3 && nw.rng.Float64() < 0.25 {
		bridge := shuffled[0]
		rest := shuffled[1:]
		k := 1 + nw.rng.IntN(len(rest)-1)
		cutBetween(p, rest[:k], rest[k:])
		p.desc = fmt.Sprintf("bridge %v <-> %d <-> %v", sorted(rest[:k]), bridge, sorted(rest[k:]))
		return
	}
	k := 1 + nw.rng.IntN(len(shuffled)-1)
	cutBetween(p, shuffled[:k], shuffled[k:])
	p.desc = fmt.Sprintf("split %v | %v", sorted(shuffled[:k]), sorted(shuffled[k:]))
}

// isolate cuts id off from every other node, both ways.
func isolate(p *partition, id uint64, ids []uint64) {
	others := slices.DeleteFunc(slices.Clone(ids), func(x uint64) bool { return x == id })
	cutBetween(p, []uint64{id}, others)
	p.desc = fmt.Sprintf("isolate leader %d", id)
}

// isolateNow replaces any partition by one that isolates id, and drops
// nothing already delivered: what id sent and is still in flight is lost
// at delivery (the partition is checked then).
func (nw *network) isolateNow(id uint64, ids []uint64, now int64) string {
	o := nw.opts
	ticks := o.PartitionTicksMin + nw.rng.IntN(o.PartitionTicksMax-o.PartitionTicksMin+1)
	p := &partition{cut: map[link]bool{}, endTick: now + int64(ticks)}
	isolate(p, id, ids)
	p.desc += fmt.Sprintf(" for %d ticks", ticks)
	nw.part = p
	nw.stats.partitions++
	return p.desc
}

func cutBetween(p *partition, a, b []uint64) {
	for _, x := range a {
		for _, y := range b {
			p.cut[link{x, y}] = true
			p.cut[link{y, x}] = true
		}
	}
}

// cutAsymmetric cuts one direction: a node that can send but not receive,
// one that can receive but not send, or a random set of directions.
func (nw *network) cutAsymmetric(p *partition, ids []uint64) {
	x := ids[nw.rng.IntN(len(ids))]
	switch nw.rng.IntN(3) {
	case 0:
		for _, y := range ids {
			if y != x {
				p.cut[link{y, x}] = true
			}
		}
		p.desc = fmt.Sprintf("deaf %d (sends, receives nothing)", x)
	case 1:
		for _, y := range ids {
			if y != x {
				p.cut[link{x, y}] = true
			}
		}
		p.desc = fmt.Sprintf("mute %d (receives, sends nothing)", x)
	default:
		var cut []string
		for _, a := range ids {
			for _, b := range ids {
				if a != b && nw.rng.Float64() < 0.3 {
					p.cut[link{a, b}] = true
					cut = append(cut, fmt.Sprintf("%d->%d", a, b))
				}
			}
		}
		p.desc = fmt.Sprintf("one-way cuts %v", cut)
	}
}

// heal ends any partition.
func (nw *network) heal() {
	nw.part = nil
}

func sorted(ids []uint64) []uint64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
