package server

import (
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/raft"
)

// apply applies committed entries to the state machine in one indexed
// batch that also records the applied index, so a restart resumes exactly
// after the last entry applied, and hs if set (a commit index covering
// them). The batch is not synced: the log entries it covers are durable,
// so a crash loses nothing that cannot be re-applied. Waiting callers are
// answered once the batch is committed.
func (n *Node) apply(ents []raft.Entry, hs *raft.HardState) {
	if len(ents) == 0 {
		return
	}
	start := time.Now()
	b := n.store.NewIndexedBatch()
	defer b.Close()
	if hs != nil {
		b.SetHardState(*hs)
	}
	for i := range ents {
		n.applyEntry(b.Pebble(), &ents[i])
		n.settleInDoubt(ents[i].Term)
	}
	b.SetApplied(ents[len(ents)-1].Index)
	must(b.Commit(), "committing applied entries")
	n.kv.Committed()
	since(n.metrics.apply, start)
	n.answerApplied()
}

// appliedAnswer is the outcome of a local caller's entry, delivered once
// the batch that applied it is committed.
type appliedAnswer struct {
	p    *proposal
	resp *kv.Response
	err  error
}

// answerApplied answers the callers whose entries the last batch applied.
func (n *Node) answerApplied() {
	for i := range n.answers {
		a := &n.answers[i]
		if a.err != nil {
			n.metrics.failed.Inc()
		} else {
			n.metrics.applied.Inc()
		}
		since(n.metrics.commitLatency, a.p.start)
		a.p.finish(a.resp, a.err)
	}
	clear(n.answers)
	n.answers = n.answers[:0]
}

// applyEntry applies one entry, and queues the answer to the local caller
// waiting for it, if any.
func (n *Node) applyEntry(b *pebble.Batch, e *raft.Entry) {
	switch {
	case e.Type == raft.EntryConfChange:
		n.applyConfChange(b, e)
		return
	case len(e.Data) == 0:
		return // a leader's no-op (§5.4.2)
	}
	ref, req, err := decodeEntry(e.Data)
	var resp *kv.Response
	if err == nil {
		resp, err = n.kv.Apply(b, req)
		n.leaseApplied(req, resp, err) // lease deadlines (lease.go)
	} else {
		n.log.Error("skipping undecodable log entry", "index", e.Index, "err", err)
	}
	if ref.proposer != n.id {
		return
	}
	p, ok := n.proposals[ref.seq]
	if !ok {
		return
	}
	delete(n.proposals, ref.seq)
	n.answers = append(n.answers, appliedAnswer{p: p, resp: resp, err: err})
}

// applyConfChange records a committed membership change with the member's
// name, and tells the transport whom to accept messages from.
func (n *Node) applyConfChange(b *pebble.Batch, e *raft.Entry) {
	cc, err := raft.UnmarshalConfChange(e.Data)
	if err != nil {
		n.log.Error("skipping undecodable conf change", "index", e.Index, "err", err)
		return
	}
	n.members.apply(cc)
	must(n.members.save(b), "saving members")
	n.tr.SetMembers(n.acceptedPeers())
	n.log.Info("membership changed", "change", cc.Type, "member", n.members.name(cc.NodeID), "index", e.Index)
}
