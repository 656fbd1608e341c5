package raft

import "github.com/natsraft/natsraft/raft/quorum"

// readIndexState implements linearizable reads without log writes
// (dissertation §6.4). The leader records its commit index as the read
// index, confirms it is still leader by a heartbeat round acknowledged by a
// quorum, then lets the read be served once the state machine has applied
// the read index.
//
// Reads are grouped into rounds: every read stepped before the next Ready
// waits for the same heartbeat round, so a burst of reads costs one round.
//
// Invariant: pending is sorted by round; every pending round <= round+1.
type readIndexState struct {
	// round is the last heartbeat round broadcast by this leader.
	round uint64
	// roundPending: reads wait for round+1, to be broadcast at the next Ready.
	roundPending bool
	pending      []pendingRead
	// waitingForCommit holds reads that arrived before the leader committed
	// an entry of its term: until then it does not know the commit index
	// (dissertation §6.4 step 1).
	waitingForCommit []Message
	// states are confirmed reads for the local driver.
	states []ReadState
}

type pendingRead struct {
	round uint64
	index uint64
	from  uint64
	ctx   []byte
}

// reset drops every unconfirmed read: a new role or term invalidates them.
// Callers time out and retry.
func (rs *readIndexState) reset() {
	rs.pending = nil
	rs.waitingForCommit = nil
	rs.roundPending = false
}

// handleReadIndex is the leader's side of a read request (local or forwarded).
func (r *raft) handleReadIndex(m Message) {
	if !r.committedInCurrentTerm() {
		r.reads.waitingForCommit = append(r.reads.waitingForCommit, m)
		return
	}
	read := pendingRead{round: r.reads.round + 1, index: r.log.committed, from: m.From, ctx: m.Context}
	if len(r.members.current.Voters) == 1 && r.members.current.IsVoter(r.id) {
		r.answerRead(read) // alone, the leader is its own quorum
		return
	}
	r.reads.pending = append(r.reads.pending, read)
	r.reads.roundPending = true
}

func (r *raft) committedInCurrentTerm() bool {
	t, err := r.log.term(r.log.committed)
	return err == nil && t == r.term
}

// releaseWaitingForCommit re-steps reads held until the leader committed
// in its term.
func (rs *readIndexState) releaseWaitingForCommit(r *raft) {
	if len(rs.waitingForCommit) == 0 || !r.committedInCurrentTerm() {
		return
	}
	waiting := rs.waitingForCommit
	rs.waitingForCommit = nil
	for _, m := range waiting {
		r.handleReadIndex(m)
	}
}

// flushReadRound broadcasts the heartbeat round that confirms the reads
// stepped since the last Ready.
func (r *raft) flushReadRound() {
	if !r.reads.roundPending || r.role != RoleLeader {
		return
	}
	r.reads.roundPending = false
	r.reads.round++
	r.selfProgress().ReadRound = r.reads.round
	r.broadcastHeartbeat()
}

// confirm answers every read whose round a quorum of voters acknowledged.
func (rs *readIndexState) confirm(r *raft) {
	if len(rs.pending) == 0 || r.role != RoleLeader {
		return
	}
	confirmed := quorum.CommittedIndex(r.members.current.Voters, func(id uint64) uint64 {
		if pr := r.progress[id]; pr != nil {
			return pr.ReadRound
		}
		return 0
	}, nil)
	n := 0
	for n < len(rs.pending) && rs.pending[n].round <= confirmed {
		r.answerRead(rs.pending[n])
		n++
	}
	rs.pending = rs.pending[n:]
}

func (r *raft) answerRead(read pendingRead) {
	if read.from == None || read.from == r.id {
		r.reads.states = append(r.reads.states, ReadState{Index: read.index, RequestCtx: read.ctx})
		return
	}
	r.send(Message{To: read.from, Type: MsgReadIndexResp, Index: read.index, Context: read.ctx})
}
