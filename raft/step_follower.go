package raft

// stepFollower handles a message on a follower: forward what belongs to
// the leader, accept what the leader sends.
func (r *raft) stepFollower(m Message) error {
	switch m.Type {
	case MsgProp:
		if r.lead == None || r.cfg.DisableProposalForwarding {
			return ErrProposalDropped
		}
		m.To = r.lead
		r.send(m)
	case MsgReadIndex, MsgTransferLeader:
		if r.lead == None {
			return ErrProposalDropped
		}
		m.To = r.lead
		r.send(m)
	case MsgApp:
		r.heardFromLeader(m.From)
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.heardFromLeader(m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.heardFromLeader(m.From)
		r.handleSnapshot(m)
	case MsgTimeoutNow:
		r.cfg.Logger.Info("raft: leadership transferred to us", "id", r.id, "term", r.term)
		r.hup(true)
	case MsgReadIndexResp:
		if !m.Reject {
			r.reads.states = append(r.reads.states, ReadState{Index: m.Index, RequestCtx: m.Context})
		}
	}
	return nil
}

func (r *raft) heardFromLeader(lead uint64) {
	r.electionElapsed = 0
	r.lead = lead
}

// handleAppendEntries is the receiver of AppendEntries (§5.3). A rejection
// carries a hint for the leader's fast back-off: the largest index at or
// below the rejected one whose term is at most the leader's prevLogTerm,
// with that term, so the leader can skip a whole conflicting term.
func (r *raft) handleAppendEntries(m Message) {
	if m.Index < r.log.committed {
		// Already committed here: tell the leader how far we are.
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
		return
	}
	if lastNew, ok := r.appendFromLeader(m); ok {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: lastNew})
		return
	}
	hintIndex, hintTerm := r.log.findConflictByTerm(min(m.Index, r.log.lastIndex()), m.LogTerm)
	r.send(Message{To: m.From, Type: MsgAppResp, Index: m.Index, Reject: true, RejectHint: hintIndex, LogTerm: hintTerm})
}

// appendFromLeader appends the leader's entries and tracks any conf
// change among them (or truncated away by them).
func (r *raft) appendFromLeader(m Message) (uint64, bool) {
	conflictFrom := r.log.findConflict(m.Entries)
	lastNew, ok := r.log.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries)
	if ok && conflictFrom != 0 {
		r.observeAppended(m.Entries[conflictFrom-(m.Index+1):])
	}
	return lastNew, ok
}

// handleHeartbeat learns the commit index. The leader never sends one past
// what it knows we match; a value past our log is a broken peer: ignored.
func (r *raft) handleHeartbeat(m Message) {
	if m.Commit <= r.log.lastIndex() {
		r.log.commitTo(m.Commit)
	} else {
		r.cfg.Logger.Warn("raft: heartbeat commit beyond our log, ignored", "id", r.id, "commit", m.Commit, "last", r.log.lastIndex())
	}
	r.send(Message{To: m.From, Type: MsgHeartbeatResp, Index: m.Index})
}

// handleSnapshot is the receiver of InstallSnapshot (§7): if our log
// already holds the snapshot's last entry, keep the log and just commit;
// otherwise discard the log and install the snapshot.
func (r *raft) handleSnapshot(m Message) {
	meta := m.Snapshot.Metadata
	switch {
	case meta.Index <= r.log.committed:
		// Stale: we are past it.
	case r.log.matchTerm(meta.Index, meta.Term):
		r.log.commitTo(meta.Index)
	default:
		r.cfg.Logger.Info("raft: installing snapshot", "id", r.id, "index", meta.Index, "term", meta.Term)
		r.log.restore(m.Snapshot)
		r.members.restore(meta.ConfState)
		r.membershipChanged()
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.lastIndex()})
		return
	}
	r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
}
