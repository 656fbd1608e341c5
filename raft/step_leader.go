package raft

import (
	"fmt"

	"github.com/natsraft/natsraft/raft/tracker"
)

// stepLeader handles a message on the leader. Requests come first; the
// responses that need the sender's Progress follow.
func (r *raft) stepLeader(m Message) error {
	switch m.Type {
	case MsgBeat:
		r.broadcastHeartbeat()
		return nil
	case MsgProp:
		return r.handleProposal(m)
	case MsgReadIndex:
		r.handleReadIndex(m)
		return nil
	case MsgTransferLeader:
		r.handleTransferLeader(m.Index)
		return nil
	}
	pr := r.progress[m.From]
	if pr == nil {
		return nil // a node not (or no longer) in the configuration
	}
	switch m.Type {
	case MsgAppResp:
		pr.RecentActive = true
		r.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		r.handleHeartbeatResponse(m, pr)
	case MsgSnapStatus:
		r.handleSnapshotStatus(m, pr)
	case MsgUnreachable:
		// The driver could not deliver: stop pipelining into the void.
		if pr.State == tracker.StateReplicate {
			pr.BecomeProbe()
		}
	}
	return nil
}

// handleProposal appends client entries (§5.3: "if command received from
// client: append entry to local log").
func (r *raft) handleProposal(m Message) error {
	if len(m.Entries) == 0 {
		return nil
	}
	if r.leadTransferee != None {
		return ErrProposalDropped // dissertation §3.10: stop accepting new requests
	}
	if r.progress[r.id] == nil || !r.members.current.IsMember(r.id) {
		return ErrProposalDropped // removed: only finishing the removal
	}
	for i := range m.Entries {
		if m.Entries[i].Type == EntryConfChange {
			if err := r.admitConfChange(m.Entries[i].Data); err != nil {
				if m.From == r.id || m.From == None {
					return err
				}
				// A forwarded change we refuse becomes a no-op: the
				// proposer learns of it by never seeing it applied.
				r.cfg.Logger.Warn("raft: refusing forwarded conf change", "from", m.From, "err", err)
				m.Entries[i] = Entry{Type: EntryNormal}
				continue
			}
			r.pendingConfIndex = r.log.lastIndex() + uint64(i) + 1
		}
	}
	r.appendEntries(m.Entries)
	return nil
}

// admitConfChange checks a proposed membership change: one at a time
// (dissertation §4.1), and only after the leader committed an entry of its
// own term (the fix to the single-server change bug, §4.1 note).
func (r *raft) admitConfChange(data []byte) error {
	if r.pendingConfIndex > r.log.committed {
		return ErrConfChangePending
	}
	cc, err := UnmarshalConfChange(data)
	if err != nil {
		return ErrConfChangeInvalid
	}
	if err := r.members.validate(cc); err != nil {
		return err
	}
	return r.checkLearnerCaughtUp(cc)
}

// learnerLagEntriesMax is how far behind the commit index a learner may be
// and still be promoted.
const learnerLagEntriesMax = 1024

// checkLearnerCaughtUp refuses to promote a learner that is unreachable or
// far behind: as a voter it would count towards quorums it cannot serve,
// and promoting several such learners can lose the quorum (dissertation
// §4.2.1: new servers join as non-voters until they have caught up).
func (r *raft) checkLearnerCaughtUp(cc ConfChange) error {
	if cc.Type != ConfChangeAddVoter || !r.members.current.IsLearner(cc.NodeID) {
		return nil
	}
	pr := r.progress[cc.NodeID]
	if pr == nil || !pr.RecentActive || pr.Match+learnerLagEntriesMax < r.log.committed {
		return fmt.Errorf("%w: learner %d has not caught up (it must be reachable and within %d entries of the commit index)",
			ErrConfChangeInvalid, cc.NodeID, learnerLagEntriesMax)
	}
	return nil
}

// handleHeartbeatResponse notes the follower is alive and resumes
// replication that may have stalled: NATS publishes are fire-and-forget,
// so a lost append is only noticed when a whole heartbeat round passes
// with appends in flight and no progress; the follower is then probed.
func (r *raft) handleHeartbeatResponse(m Message, pr *tracker.Progress) {
	pr.RecentActive = true
	pr.ProbeSent = false
	if pr.State == tracker.StateReplicate && pr.Inflights.Count() > 0 && pr.Match == pr.MatchAtHeartbeat {
		pr.BecomeProbe()
	}
	pr.MatchAtHeartbeat = pr.Match
	if pr.Match < r.log.lastIndex() {
		// In probe state the follower's match is unknown and the probe may
		// have been lost: send it again even when there is nothing new to
		// send (a new leader probes at its last index + 1 with no entries),
		// or the follower waits for the next proposal (§5.3: the leader
		// retries AppendEntries until the follower answers). Found by
		// raft/sim seed 730.
		r.sendAppend(m.From, pr.State == tracker.StateProbe)
	}
	if m.Index > pr.ReadRound {
		pr.ReadRound = m.Index
		r.reads.confirm(r)
	}
}

// handleTransferLeader starts a leadership transfer to target
// (dissertation §3.10): bring it up to date, then send TimeoutNow.
func (r *raft) handleTransferLeader(target uint64) {
	if target == r.id || !r.members.current.IsVoter(target) {
		r.cfg.Logger.Warn("raft: ignoring leadership transfer", "id", r.id, "target", target)
		return
	}
	if r.leadTransferee == target {
		return
	}
	r.leadTransferee = target
	// The transfer times out after an election timeout (tickLeader).
	r.electionElapsed = 0
	if r.progress[target].Match == r.log.lastIndex() {
		r.sendTimeoutNow(target)
		return
	}
	r.sendAppend(target, false)
}

func (r *raft) sendTimeoutNow(to uint64) {
	r.send(Message{To: to, Type: MsgTimeoutNow})
}
