package raft

import (
	"errors"
	"fmt"

	"github.com/natsraft/natsraft/raft/quorum"
	"github.com/natsraft/natsraft/raft/tracker"
)

// appendEntries assigns the leader's term and the next indices to ents and
// appends them to its own log; followers receive them at the next Ready
// (broadcastPending), so a burst of proposals travels as one MsgApp.
func (r *raft) appendEntries(ents []Entry) {
	last := r.log.lastIndex()
	for i := range ents {
		ents[i].Term = r.term
		ents[i].Index = last + 1 + uint64(i)
	}
	r.log.append(ents...)
	r.observeAppended(ents)
	r.broadcastPending = true
}

// observeAppended updates the configuration for conf changes that just
// entered the log (dissertation §4.1: a change takes effect when appended).
func (r *raft) observeAppended(ents []Entry) {
	if r.members.observe(ents) {
		r.membershipChanged()
	}
}

// membershipChanged brings the leader's progress in line with the new
// configuration: new members are probed from the end of the log, removed
// ones forgotten, promoted learners become voters.
func (r *raft) membershipChanged() {
	cs := r.members.current
	if r.leadTransferee != None && !cs.IsVoter(r.leadTransferee) {
		r.leadTransferee = None
	}
	if r.role != RoleLeader {
		return
	}
	for id := range r.progress {
		if id != r.id && !cs.IsMember(id) {
			delete(r.progress, id)
		}
	}
	for _, id := range cs.members() {
		pr := r.progress[id]
		if pr == nil {
			pr = tracker.New(r.log.lastIndex()+1, r.cfg.MaxInflightMsgs, false)
			r.progress[id] = pr
		}
		pr.IsLearner = cs.IsLearner(id)
	}
	r.broadcastPending = true
	r.maybeCommit()
	r.reads.confirm(r)
}

// flushBroadcast sends the deferred appends, one per follower.
func (r *raft) flushBroadcast() {
	if !r.broadcastPending {
		return
	}
	r.broadcastPending = false
	if r.role != RoleLeader {
		return
	}
	for id := range r.progress {
		if id != r.id {
			r.replicateTo(id)
		}
	}
}

// replicateTo sends a follower everything it lacks, as many appends as
// flow control allows, or an empty append that carries the commit index.
func (r *raft) replicateTo(id uint64) {
	sent := false
	for r.sendAppend(id, false) {
		sent = true
	}
	if !sent {
		r.sendAppend(id, true)
	}
}

// sendAppend sends the entries the follower lacks, or the latest snapshot
// if they were compacted (§7). With sendIfEmpty it sends an empty append
// to carry the commit index. It reports whether a message was sent.
func (r *raft) sendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.progress[to]
	if pr == nil || pr.IsPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, errTerm := r.log.term(prevIndex)
	ents, errEnts := r.log.slice(pr.Next, r.log.lastIndex()+1, r.cfg.MaxMsgBytes)
	if errTerm != nil || errEnts != nil {
		return r.sendSnapshot(to, pr)
	}
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	r.send(Message{To: to, Type: MsgApp, Index: prevIndex, LogTerm: prevTerm, Entries: ents, Commit: r.log.committed})
	pr.SentEntries(prevIndex + uint64(len(ents)))
	return true
}

// sendSnapshot starts an InstallSnapshot (§7) to a follower whose next
// entries are compacted. It is skipped for followers not heard from
// recently: a snapshot is costly, and they may be gone.
func (r *raft) sendSnapshot(to uint64, pr *tracker.Progress) bool {
	if !pr.RecentActive {
		return false
	}
	snap, err := r.cfg.Storage.Snapshot()
	if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
		return false
	} else if err != nil {
		panic(fmt.Sprintf("raft: storage Snapshot failed: %v", err))
	}
	if snap.IsEmpty() {
		panic("raft: log is compacted but storage has no snapshot")
	}
	pr.BecomeSnapshot(snap.Metadata.Index)
	r.send(Message{To: to, Type: MsgSnap, Snapshot: &snap})
	r.cfg.Logger.Info("raft: sending snapshot", "id", r.id, "to", to, "index", snap.Metadata.Index)
	return true
}

// broadcastHeartbeat sends every follower the commit index it can accept
// (never past its match, so it never commits an entry it may not hold)
// and the current read round.
func (r *raft) broadcastHeartbeat() {
	for id, pr := range r.progress {
		if id == r.id {
			continue
		}
		r.send(Message{To: id, Type: MsgHeartbeat, Commit: min(pr.Match, r.log.committed), Index: r.reads.round})
	}
}

// maybeCommit advances the commit index to what a majority of voters has
// matched. §5.4.2: only an entry of the current term is committed by
// counting replicas; earlier entries commit with it (Figure 8).
func (r *raft) maybeCommit() bool {
	var scratch [7]uint64
	index := quorum.CommittedIndex(r.members.current.Voters, func(id uint64) uint64 {
		if pr := r.progress[id]; pr != nil {
			return pr.Match
		}
		return 0
	}, scratch[:0])
	if index <= r.log.committed {
		return false
	}
	if t, err := r.log.term(index); err != nil || t != r.term {
		return false
	}
	r.log.commitTo(index)
	r.broadcastPending = true
	r.reads.releaseWaitingForCommit(r)
	r.maybeStepDownAfterRemoval()
	return true
}

// maybeStepDownAfterRemoval ends the leadership of a leader that removed
// itself, once the removal is committed (dissertation §4.2.2).
func (r *raft) maybeStepDownAfterRemoval() {
	if r.members.current.IsVoter(r.id) || r.log.committed < r.members.lastChangeIndex() {
		return
	}
	r.cfg.Logger.Info("raft: leader removed from the configuration, stepping down", "id", r.id, "term", r.term)
	r.becomeFollower(r.term, None)
}

// handleAppendResponse is the leader's side of AppendEntries (§5.3): on
// success advance matchIndex and maybe commit; on rejection back off using
// the follower's hint, skipping a whole conflicting term at once.
func (r *raft) handleAppendResponse(m Message, pr *tracker.Progress) {
	if m.Reject {
		r.handleAppendReject(m, pr)
		return
	}
	wasPaused := pr.IsPaused()
	if !pr.MaybeUpdate(m.Index) {
		return
	}
	switch {
	case pr.State == tracker.StateProbe:
		pr.BecomeReplicate()
	case pr.State == tracker.StateSnapshot && pr.Match+1 >= r.log.firstIndex():
		pr.BecomeProbe()
		pr.BecomeReplicate()
	case pr.State == tracker.StateReplicate:
		pr.Inflights.FreeLE(m.Index)
	}
	if r.maybeCommit() && r.role != RoleLeader {
		return // the commit removed this leader
	}
	if wasPaused || pr.Next <= r.log.lastIndex() {
		r.replicateTo(m.From)
	}
	if m.From == r.leadTransferee && pr.Match == r.log.lastIndex() {
		r.sendTimeoutNow(m.From)
	}
}

func (r *raft) handleAppendReject(m Message, pr *tracker.Progress) {
	probe := m.RejectHint
	if m.LogTerm > 0 {
		probe, _ = r.log.findConflictByTerm(m.RejectHint, m.LogTerm)
	}
	if !pr.MaybeDecrTo(m.Index, probe) {
		return
	}
	if pr.State == tracker.StateReplicate {
		pr.BecomeProbe()
	}
	r.sendAppend(m.From, false)
}

// handleSnapshotStatus resumes replication after the driver reports the
// outcome of sending a snapshot; on failure the follower is probed again.
func (r *raft) handleSnapshotStatus(m Message, pr *tracker.Progress) {
	if pr.State != tracker.StateSnapshot {
		return
	}
	if m.Reject {
		pr.PendingSnapshot = 0
	}
	pr.BecomeProbe()
	// Wait for the follower's answer to the snapshot before probing.
	pr.ProbeSent = true
}
