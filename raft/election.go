package raft

import "github.com/natsraft/natsraft/raft/quorum"

// tick advances logical time by one tick: followers and candidates count
// towards an election timeout, leaders towards heartbeats and CheckQuorum.
func (r *raft) tick() {
	if r.role == RoleLeader {
		r.tickLeader()
		return
	}
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeoutTicks && r.promotable() {
		r.electionElapsed = 0
		r.hup(false)
	}
}

func (r *raft) tickLeader() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.cfg.ElectionTicks {
		r.electionElapsed = 0
		if r.cfg.CheckQuorum && !r.checkQuorumActive() {
			r.cfg.Logger.Warn("raft: leader lost its quorum, stepping down", "id", r.id, "term", r.term)
			r.becomeFollower(r.term, None)
			return
		}
		// A transfer that has not finished within an election timeout is
		// abandoned (dissertation §3.10), so proposals resume.
		r.leadTransferee = None
	}
	if r.heartbeatElapsed >= r.cfg.HeartbeatTicks {
		r.heartbeatElapsed = 0
		r.broadcastHeartbeat()
	}
}

// checkQuorumActive reports whether a quorum of voters was heard from in
// the last election timeout, then starts a new round (dissertation §6.2).
func (r *raft) checkQuorumActive() bool {
	active := quorum.Active(r.members.current.Voters, func(id uint64) bool {
		pr := r.progress[id]
		return id == r.id || (pr != nil && pr.RecentActive)
	})
	for id, pr := range r.progress {
		pr.RecentActive = id == r.id
	}
	return active
}

// hup starts an election: a pre-election first when PreVote is on, unless
// the leader asked us to take over (TimeoutNow), which skips it (§3.10).
func (r *raft) hup(transfer bool) {
	if r.role == RoleLeader {
		return
	}
	if !r.promotable() {
		r.cfg.Logger.Warn("raft: not campaigning: not a voter or installing a snapshot", "id", r.id)
		return
	}
	if r.cfg.PreVote && !transfer {
		r.campaign(true, false)
		return
	}
	r.campaign(false, transfer)
}

// campaign votes for itself and asks every other voter (§5.2). A pre-vote
// asks for the next term without taking it (dissertation §9.6).
func (r *raft) campaign(pre, transfer bool) {
	voteType, term := MsgVote, r.term
	if pre {
		r.becomePreCandidate()
		voteType, term = MsgPreVote, r.term+1
	} else {
		r.becomeCandidate()
		term = r.term
	}
	r.votes[r.id] = true
	if quorum.Tally(r.members.current.Voters, r.votes) == quorum.VoteWon {
		r.winElection(pre) // a single-voter cluster
		return
	}
	var ctx []byte
	if transfer {
		ctx = campaignTransfer
	}
	for _, id := range r.members.current.Voters {
		if id == r.id {
			continue
		}
		r.send(Message{To: id, Type: voteType, Term: term, Index: r.log.lastIndex(), LogTerm: r.log.lastTerm(), Context: ctx})
	}
}

func (r *raft) winElection(pre bool) {
	if pre {
		r.campaign(false, false)
		return
	}
	r.becomeLeader()
}

// handleVoteRequest answers RequestVote and PreVote (§5.2, §5.4.1,
// dissertation §9.6). A vote is granted at most once per term, only to a
// candidate whose log is at least as up-to-date as ours; the vote is
// persisted before the answer leaves (send puts it after the sync).
func (r *raft) handleVoteRequest(m Message) {
	respType := MsgVoteResp
	if m.Type == MsgPreVote {
		respType = MsgPreVoteResp
	}
	canVote := r.vote == m.From ||
		(r.vote == None && r.lead == None) ||
		(m.Type == MsgPreVote && m.Term > r.term)
	if !canVote || !r.log.isUpToDate(m.Index, m.LogTerm) {
		r.send(Message{To: m.From, Type: respType, Term: r.term, Reject: true})
		return
	}
	// The answer carries the request's term: a granted pre-vote is for a
	// term we have not entered.
	r.send(Message{To: m.From, Type: respType, Term: m.Term})
	if m.Type == MsgVote {
		r.electionElapsed = 0
		r.vote = m.From
	}
}

// stepCandidate handles messages while (pre-)campaigning.
func (r *raft) stepCandidate(m Message) error {
	switch m.Type {
	case MsgProp, MsgReadIndex, MsgTransferLeader:
		return ErrProposalDropped
	case MsgApp, MsgHeartbeat, MsgSnap:
		// Someone won this term (§5.2: "if AppendEntries RPC received from
		// new leader: convert to follower").
		r.becomeFollower(m.Term, m.From)
		return r.stepFollower(m)
	case MsgVoteResp, MsgPreVoteResp:
		r.handleVoteResponse(m)
	}
	return nil
}

func (r *raft) handleVoteResponse(m Message) {
	pre := r.role == RolePreCandidate
	if (m.Type == MsgPreVoteResp) != pre {
		return // an answer to an earlier phase
	}
	r.votes[m.From] = !m.Reject
	switch quorum.Tally(r.members.current.Voters, r.votes) {
	case quorum.VoteWon:
		r.winElection(pre)
	case quorum.VoteLost:
		r.becomeFollower(r.term, None)
	}
}
