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
	var answers []func()
	for i := range ents {
		if answer := n.applyEntry(b.Pebble(), &ents[i]); answer != nil {
			answers = append(answers, answer)
		}
		n.settleInDoubt(ents[i].Term)
	}
	b.SetApplied(ents[len(ents)-1].Index)
	must(b.Commit(), "committing applied entries")
	n.kv.Committed()
	since(n.metrics.apply, start)
	for _, answer := range answers {
		answer()
	}
}

// applyEntry applies one entry; it returns how to answer the local caller
// waiting for it, if any.
func (n *Node) applyEntry(b *pebble.Batch, e *raft.Entry) func() {
	switch {
	case e.Type == raft.EntryConfChange:
		n.applyConfChange(b, e)
		return nil
	case len(e.Data) == 0:
		return nil // a leader's no-op (§5.4.2)
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
		return nil
	}
	p, ok := n.proposals[ref.seq]
	if !ok {
		return nil
	}
	delete(n.proposals, ref.seq)
	return func() {
		n.metrics.proposals.WithLabelValues(outcome(err)).Inc()
		since(n.metrics.commitLatency, p.start)
		p.finish(resp, err)
	}
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

func outcome(err error) string {
	if err != nil {
		return "failed"
	}
	return "applied"
}
