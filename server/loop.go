package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/natsraft/natsraft/raft"
	"github.com/natsraft/natsraft/store"
)

// Handle is the node actor's body: step every event of the batch into the
// core, then run Ready cycles until the core is quiet. A burst of client
// writes thus becomes one log append, one fsync and one message per peer.
// Writes held while an append was in flight are proposed as soon as it is
// committed, as the next batch, in the Ready that applies the committed
// one: their appends leave before the apply.
func (n *Node) Handle(batch []event) {
	for i := range batch {
		n.handleEvent(&batch[i])
	}
	for {
		n.releaseHeld()
		if !n.rn.HasReady() {
			break
		}
		n.runReady()
	}
	n.publishStatus()
}

func (n *Node) handleEvent(e *event) {
	switch e.kind {
	case evTick:
		n.rn.Tick()
		n.sweepAbandoned()
		n.tickLeases() // the leader revokes expired leases (lease.go)
	case evRaft:
		n.stepMessages(e.msgs)
	case evPropose:
		n.propose(e.proposal)
	case evRead:
		n.startRead(e.read)
	case evAdmin:
		n.startAdmin(e.admin)
	case evSnapshotBuilt:
		n.snapshotBuilt(e.snapshot)
	case evSnapshotSent:
		n.snapshotTransferred(e.snapTo, e.snapOK)
	}
}

func (n *Node) stepMessages(msgs []raft.Message) {
	for _, m := range msgs {
		if err := n.rn.Step(m); err != nil && !errors.Is(err, raft.ErrProposalDropped) {
			n.log.Warn("dropping raft message", "type", m.Type, "from", m.From, "err", err)
		}
	}
}

// propose proposes a client write, or holds it while the leader's last
// append is in flight. Under load this makes batches as large as the
// clients' concurrency allows instead of as large as one fsync's worth of
// arrivals: every batch costs the leader and each follower an fsync, a
// Pebble commit and a message each way (about a millisecond of CPU over
// the cluster on a small machine), so fewer, larger batches leave more of
// the CPU for the writes themselves. A lone write never waits: with
// nothing in flight it is proposed at once. The held writes are proposed
// when the append commits, or at once if this node is not the leader
// (the core forwards them to the leader or refuses them).
func (n *Node) propose(p *proposal) {
	if n.holding() {
		n.held = append(n.held, p)
		return
	}
	n.proposeNow(p)
}

// holding reports whether writes wait: this node leads and entries it
// handed out for appending are not yet committed. Entries of this
// Handle's own proposals count only once a Ready has handed them out, so
// a mailbox batch is proposed whole.
func (n *Node) holding() bool {
	return n.lead == n.id && n.appendedTo > n.rn.Committed()
}

// releaseHeld proposes the held writes unless they must still wait.
func (n *Node) releaseHeld() {
	if len(n.held) == 0 || n.holding() {
		return
	}
	for _, p := range n.held {
		n.proposeNow(p)
	}
	clear(n.held)
	n.held = n.held[:0]
}

// proposeNow hands a write to the core, unless its caller gave up
// meanwhile: it was answered that the write may or may not take effect,
// and it does not.
func (n *Node) proposeNow(p *proposal) {
	if p.ctx.Err() != nil {
		return
	}
	since(n.metrics.queueWait, p.start)
	n.nextSeq++
	seq := n.nextSeq
	if err := n.rn.Propose(withRef(p.data, proposalRef{proposer: n.id, seq: seq})); err != nil {
		n.metrics.failed.Inc()
		p.finish(nil, mapRaftError(err))
		return
	}
	n.proposals[seq] = p
}

// withRef stamps the proposer and sequence into an encoded entry's header.
func withRef(data []byte, ref proposalRef) []byte {
	binary.BigEndian.PutUint64(data[1:], ref.proposer)
	binary.BigEndian.PutUint64(data[9:], ref.seq)
	return data
}

func (n *Node) startRead(w *readWaiter) {
	n.nextReadID++
	id := n.nextReadID
	var ctx [8]byte
	binary.BigEndian.PutUint64(ctx[:], id)
	if err := n.rn.ReadIndex(ctx[:]); err != nil {
		w.finish(mapRaftError(err))
		return
	}
	n.readsByID[id] = w
}

func (n *Node) startAdmin(a *adminRequest) {
	var err error
	if a.change != nil {
		err = n.rn.ProposeConfChange(*a.change)
	} else {
		err = n.rn.TransferLeadership(a.transfer)
	}
	a.finish(mapRaftError(err))
}

// runReady does one Ready's duties in the order raft/doc.go states.
func (n *Node) runReady() {
	rd := n.rn.Ready()
	n.noteCommit(rd.HardState.Commit) // before this Ready's own sync
	n.noteSnapshotsSent(rd.Messages)
	n.tr.Send(rd.Messages) // may precede the sync (dissertation §10.2.1)
	n.noteAppended(rd.Entries)
	durable, rest := n.splitDurable(&rd)
	n.apply(durable, n.commitFor(durable))
	n.persist(&rd)
	n.tr.Send(rd.MessagesAfterSync)
	n.apply(rest, nil)
	n.confirmReads(rd.ReadStates)
	n.releaseReads()
	if rd.SoftState != nil {
		n.leadershipChanged(*rd.SoftState)
	}
	n.rn.Advance()
	n.maybeCompactLog()
}

// splitDurable splits the committed entries into those already in the
// store, which may be applied before this Ready's sync, and the rest,
// applied after it. A committed entry is never overwritten (Raft's Log
// Matching and Leader Completeness), so one stored below this Ready's
// entries is final; at or above their first index, the store may still
// hold an uncommitted entry of an older term that they replace (a
// follower's conflicting suffix, found by the docker fault suite). Applying it
// first answers its caller without waiting for the fsync of entries that
// arrived meanwhile: under load, a leader's commit otherwise waits for
// one more sync. Only when the Ready changes neither term nor vote: the
// early batch then records the commit index it applies up to. Only on
// the leader: a follower answers no client from its apply but its own
// forwarded writes, and its acknowledgement is on the leader's commit
// path, so it syncs and acknowledges first and applies after.
func (n *Node) splitDurable(rd *raft.Ready) (durable, rest []raft.Entry) {
	ents := rd.CommittedEntries
	stored := n.store.HardState()
	if n.lead != n.id || rd.Snapshot != nil || (!rd.HardState.IsEmpty() && (rd.HardState.Term != stored.Term || rd.HardState.Vote != stored.Vote)) {
		return nil, ents
	}
	last, err := n.store.LastIndex()
	must(err, "reading the last index")
	if len(rd.Entries) > 0 {
		// This Ready's entries replace the stored ones from their first
		// index on: a committed entry there is the new one, not yet stored.
		last = min(last, rd.Entries[0].Index-1)
	}
	i := 0
	for i < len(ents) && ents[i].Index <= last {
		i++
	}
	return ents[:i], ents[i:]
}

// commitFor returns the hard state to record with the early apply of
// durable: the stored one with a commit index covering them, or nil if
// the stored commit already does (applied <= commit <= last index).
func (n *Node) commitFor(durable []raft.Entry) *raft.HardState {
	hs := n.store.HardState()
	if len(durable) == 0 || durable[len(durable)-1].Index <= hs.Commit {
		return nil
	}
	hs.Commit = durable[len(durable)-1].Index
	return &hs
}

// noteAppended remembers when entries were handed out for persistence,
// and the log's last index after them.
func (n *Node) noteAppended(ents []raft.Entry) {
	if len(ents) > 0 {
		n.appendedTo = ents[len(ents)-1].Index
		n.appended = append(n.appended, appendedAt{index: n.appendedTo, at: time.Now()})
	}
}

// noteCommit times append-to-commit for the entries a new commit covers.
func (n *Node) noteCommit(commit uint64) {
	if commit <= n.commitIndex {
		return
	}
	n.commitIndex = commit
	done := 0
	for done < len(n.appended) && n.appended[done].index <= commit {
		since(n.metrics.appendToCommit, n.appended[done].at)
		done++
	}
	n.appended = append(n.appended[:0], n.appended[done:]...)
}

// persist writes the hard state, entries and an incoming snapshot, with
// the state machine's restore of it, in one batch with one sync. A
// failure leaves durability unknown: fail-stop.
func (n *Node) persist(rd *raft.Ready) {
	if rd.HardState.IsEmpty() && len(rd.Entries) == 0 && rd.Snapshot == nil {
		return
	}
	start := time.Now()
	var b *store.Batch
	var installed *memberTable
	if rd.Snapshot != nil {
		b = n.store.NewIndexedBatch() // the restore reads its own writes
		defer b.Close()
		must(b.InstallSnapshot(*rd.Snapshot), "installing snapshot")
		installed = n.restoreSnapshot(b, *rd.Snapshot)
	} else {
		b = n.store.NewBatch()
		defer b.Close()
	}
	must(b.Append(rd.Entries), "appending entries")
	if !rd.HardState.IsEmpty() {
		b.SetHardState(rd.HardState)
	}
	must(b.Commit(), "committing raft state")
	if rd.MustSync {
		since(n.metrics.fsync, start)
	}
	if installed != nil {
		n.snapshotInstalled(*rd.Snapshot, installed)
	}
}

// confirmReads records the read index of each confirmed read.
func (n *Node) confirmReads(states []raft.ReadState) {
	for _, rs := range states {
		if len(rs.RequestCtx) != 8 {
			continue
		}
		id := binary.BigEndian.Uint64(rs.RequestCtx)
		w, ok := n.readsByID[id]
		if !ok {
			continue
		}
		delete(n.readsByID, id)
		w.index = rs.Index
		n.readsByIndex = append(n.readsByIndex, w)
	}
}

// releaseReads lets go every read whose index is applied (§6.4 step 4).
func (n *Node) releaseReads() {
	applied := n.store.Applied()
	kept := n.readsByIndex[:0]
	for _, w := range n.readsByIndex {
		if w.index <= applied {
			w.finish(nil)
		} else {
			kept = append(kept, w)
		}
	}
	clear(n.readsByIndex[len(kept):])
	n.readsByIndex = kept
}

// leadershipChanged fails reads that waited on a leader that is gone: the
// core dropped them, and a retry will find the new leader.
func (n *Node) leadershipChanged(ss raft.SoftState) {
	if ss.Lead != n.lead {
		n.lead = ss.Lead
		n.metrics.leaderChanges.Inc()
		// The next leader's entries: this term's if it has a leader, a
		// later term's if not (a term has one leader at most).
		n.doubtSeq, n.doubtTerm = n.nextSeq, n.rn.Status().Term
		if ss.Lead == raft.None {
			n.doubtTerm++
		}
	}
	n.log.Info("raft role changed", "role", ss.Role, "leader", n.members.name(ss.Lead))
	for id, w := range n.readsByID {
		w.finish(ErrLeaderChanged)
		delete(n.readsByID, id)
	}
}

// settleInDoubt runs for each applied entry. Proposals made before a
// change of leader were forwarded to, or appended by, a leader that is
// gone; once an entry of the new term is applied, every entry before it is
// too (the new leader's log holds all it will ever commit from earlier
// terms before its first entry, §5.4.2), so a proposal still waiting was
// not among them: it fails now with ErrLeaderLost instead of at its
// deadline.
func (n *Node) settleInDoubt(term uint64) {
	if n.doubtSeq == 0 || term < n.doubtTerm {
		return
	}
	for seq, p := range n.proposals {
		if seq <= n.doubtSeq {
			delete(n.proposals, seq)
			p.finish(nil, ErrLeaderLost)
		}
	}
	n.doubtSeq = 0
}

// sweepAbandoned forgets requests whose callers gave up.
func (n *Node) sweepAbandoned() {
	for seq, p := range n.proposals {
		if p.ctx.Err() != nil {
			delete(n.proposals, seq)
		}
	}
	for id, w := range n.readsByID {
		if w.ctx.Err() != nil {
			delete(n.readsByID, id)
		}
	}
}

func mapRaftError(err error) error {
	if errors.Is(err, raft.ErrProposalDropped) {
		return fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	return err
}

// must stops the node on a storage failure: after a failed write the
// node cannot know what is durable, so it must not go on (fail-stop).
func must(err error, what string) {
	if err != nil {
		panic(fmt.Sprintf("server: %s: %v", what, err))
	}
}
