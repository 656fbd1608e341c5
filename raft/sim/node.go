package sim

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/natsraft/natsraft/raft"
)

// crashStage is where a crash interrupts a Ready cycle.
type crashStage uint8

const (
	crashNone crashStage = iota
	// crashBeforeSync: Messages went out, the writes were never synced.
	crashBeforeSync
	// crashAfterSync: durable, but no acknowledgement left.
	crashAfterSync
	// crashBeforeApply: acknowledged, but nothing applied.
	crashBeforeApply
)

var crashStageNames = [...]string{"none", "before sync", "after sync", "before apply"}

func (c crashStage) String() string { return crashStageNames[c] }

// pendingReady is a Ready handed out and not yet synced (disk latency).
type pendingReady struct {
	rd       raft.Ready
	syncTick int64
	crash    crashStage
}

// report is a transport callback for the sender: a message it could not
// send, or the end of a snapshot transfer.
type report struct {
	to       uint64
	snapshot bool
	failed   bool
}

// simNode is one node process and its disk. The process (core, state
// machine, pending writes) is lost at a crash; the disk is not.
type simNode struct {
	id uint64
	// incarnation counts the process's starts.
	incarnation uint64
	up          bool
	// removed: its removal is committed; it never restarts.
	removed bool
	// restartTick and stopTick schedule a restart or the final stop.
	restartTick, stopTick int64

	disk    *disk
	node    *raft.Node
	sm      *stateMachine
	mirror  logMirror
	pending *pendingReady
	reports []report
	// reads are client read ops waiting for their ReadState or for the
	// state machine to reach their read index.
	reads []uint64
	// ss and hs are as of the last Ready handed out.
	ss         raft.SoftState
	hs         raft.HardState
	commitSeen uint64
	// durableConf is, while the node is down, the configuration it will
	// restart with.
	durableConf raft.ConfState
}

// config builds the core's configuration for one start of node n.
func (s *Sim) config(n *simNode, applied uint64) raft.Config {
	o := &s.opts
	return raft.Config{
		ID: n.id, ElectionTicks: o.ElectionTicks, HeartbeatTicks: o.HeartbeatTicks,
		Storage: n.disk.storage, Applied: applied,
		MaxMsgBytes: o.MaxMsgBytes, MaxInflightMsgs: o.MaxInflightMsgs, MaxCommittedBytes: o.MaxCommittedBytes,
		PreVote: o.PreVote, CheckQuorum: o.CheckQuorum, DisableProposalForwarding: o.DisableProposalForwarding,
		Rand:   rand.New(rand.NewPCG(s.rng.Uint64(), n.id)),
		Logger: s.trace.logger(n.id),
	}
}

// start starts n's process from its disk: the durable state machine (its
// snapshot), the durable log, and the core restarted with NewNode.
func (s *Sim) start(n *simNode) error {
	sm, err := n.disk.restoreStateMachine()
	if err != nil {
		return err
	}
	mirror, err := n.disk.readMirror()
	if err != nil {
		return err
	}
	node, err := raft.NewNode(s.config(n, sm.Applied))
	if err != nil {
		return fmt.Errorf("restarting node %d: %v", n.id, err)
	}
	st := node.Status()
	n.incarnation++
	n.up, n.node, n.sm, n.mirror = true, node, sm, mirror
	n.ss, n.hs, n.commitSeen = st.SoftState, st.HardState, st.Commit
	n.pending, n.reports, n.reads = nil, nil, nil
	if snap, _ := n.disk.storage.Snapshot(); !snap.IsEmpty() {
		if err := s.check.onRestore(n.id, sm, snap.Metadata); err != nil {
			return err
		}
	}
	return s.check.onRestart(n.id, &n.mirror, st.Commit)
}

// crash kills n's process: everything not synced is lost.
func (s *Sim) crash(n *simNode, why string) {
	s.trace.printf(s.now, "node %d crashes (%s); durable %+v", n.id, why, n.disk.synced)
	n.up = false
	n.node, n.sm, n.pending, n.reports = nil, nil, nil, nil
	cs, err := n.disk.durableConf()
	if err != nil {
		s.fail("node %d: reading its durable configuration: %v", n.id, err)
	}
	n.durableConf = cs
	n.mirror = logMirror{}
	s.clients.onCrash(s, n)
	n.reads = nil
	s.stats.Crashes++
}

// tick advances n's clock, unless its slow clock skips this tick.
func (s *Sim) tick(n *simNode) {
	if s.opts.TickSkipRate > 0 && s.rng.Float64() < s.opts.TickSkipRate {
		return
	}
	n.node.Tick()
}

// deliverReports hands n the transport's callbacks.
func (s *Sim) deliverReports(n *simNode) {
	reports := n.reports
	n.reports = nil
	for _, r := range reports {
		if r.snapshot {
			n.node.ReportSnapshot(r.to, r.failed)
		} else {
			n.node.ReportUnreachable(r.to)
		}
	}
}

// deliver steps one message into n.
func (s *Sim) deliver(n *simNode, m raft.Message) {
	err := n.node.Step(m)
	if s.trace.on {
		s.trace.printf(s.now, "deliver %s -> %v", describeMessage(m), err)
	}
	if errors.Is(err, raft.ErrInvalidMessage) || errors.Is(err, raft.ErrStepLocalMsg) {
		s.fail("node %d refuses %s: %v", n.id, describeMessage(m), err)
	}
}

// processReady runs n's Ready cycle: finish a pending sync that is due,
// then take the next Ready if there is one.
func (s *Sim) processReady(n *simNode) {
	if n.pending != nil && s.now >= n.pending.syncTick {
		s.finishReady(n)
	}
	if !n.up || n.pending != nil || !n.node.HasReady() || s.err != nil {
		return
	}
	s.startReady(n)
}

// startReady hands out a Ready: check it, send Messages (they may leave
// before the sync, dissertation §10.2.1), and write; the sync follows
// after the disk's latency.
func (s *Sim) startReady(n *simNode) {
	rd := n.node.Ready()
	sortMessages(rd.Messages)
	sortMessages(rd.MessagesAfterSync)
	s.trace.ready(s.now, n.id, &rd)
	wasLeader := n.ss.Role == raft.RoleLeader
	if err := s.checkReady(n, &rd); err != nil {
		s.fail("%v", err)
		return
	}
	if !wasLeader && n.ss.Role == raft.RoleLeader {
		s.onElected(n)
	}
	for _, m := range rd.Messages {
		s.send(n, m)
	}
	n.pending = &pendingReady{rd: rd, syncTick: s.now}
	if l := s.opts.DiskLatencyTicksMax; l > 0 && s.phase == phaseSafety {
		n.pending.syncTick += int64(s.rng.IntN(l + 1))
	}
	if s.phase == phaseSafety && s.opts.CrashInReadyRate > 0 && s.rng.Float64() < s.opts.CrashInReadyRate && s.canCrash(n) {
		n.pending.crash = crashStage(1 + s.rng.IntN(3))
	}
	if n.pending.crash == crashBeforeSync {
		s.crash(n, "in Ready, "+crashBeforeSync.String())
		return
	}
	if n.pending.syncTick == s.now {
		s.finishReady(n)
	}
}

// checkReady runs the checker on a Ready and records the node's new state.
func (s *Sim) checkReady(n *simNode, rd *raft.Ready) error {
	v := readyView{id: n.id, mirror: &n.mirror, prevRole: n.ss.Role, prevHS: n.hs, commitSeen: &n.commitSeen}
	if rd.SoftState != nil {
		n.ss = *rd.SoftState
	}
	if !rd.HardState.IsEmpty() {
		n.hs = rd.HardState
	}
	v.role, v.hs = n.ss.Role, n.hs
	return s.check.onReady(v, rd)
}

// finishReady syncs the pending Ready, sends MessagesAfterSync, applies
// CommittedEntries, serves reads, and calls Advance.
func (s *Sim) finishReady(n *simNode) {
	p := n.pending
	if err := n.disk.sync(&p.rd, s.check.rules); err != nil {
		s.fail("node %d sync: %v", n.id, err)
		return
	}
	if p.crash == crashAfterSync {
		s.crash(n, "in Ready, "+p.crash.String())
		return
	}
	for _, m := range p.rd.MessagesAfterSync {
		s.send(n, m)
	}
	if p.crash == crashBeforeApply {
		s.crash(n, "in Ready, "+p.crash.String())
		return
	}
	if err := s.apply(n, &p.rd); err != nil {
		s.fail("%v", err)
		return
	}
	for _, rs := range p.rd.ReadStates {
		s.clients.onReadState(s, n, rs)
	}
	s.clients.serveReads(s, n)
	n.node.Advance()
	n.pending = nil
}

// apply restores an installed snapshot, then applies committed entries.
func (s *Sim) apply(n *simNode, rd *raft.Ready) error {
	if rd.Snapshot != nil {
		sm, err := decodeStateMachine(rd.Snapshot.Data)
		if err != nil {
			return err
		}
		if err := s.check.onRestore(n.id, sm, rd.Snapshot.Metadata); err != nil {
			return err
		}
		n.sm = sm
		s.stats.SnapshotsInstalled++
	}
	for _, e := range rd.CommittedEntries {
		res, err := n.sm.apply(e)
		if err != nil {
			return fmt.Errorf("state machine safety: node %d: %v", n.id, err)
		}
		if err := s.check.onApply(n.id, e, n.sm.Digest, n.hs.Term); err != nil {
			return err
		}
		s.onApplied(n, e, res)
	}
	return nil
}

// onApplied reacts to an applied entry: client completions and the end of
// removed members.
func (s *Sim) onApplied(n *simNode, e raft.Entry, res applyResult) {
	if res.put != nil {
		s.clients.onApplied(s, n, res.put)
	}
	if res.confCC != nil && res.confCC.Type == raft.ConfChangeRemove {
		if s.retire(res.confCC.NodeID) {
			s.stats.Removed++
		}
	}
}

// send checks that what m acknowledges is durable and that a granted
// vote obeys §5.4.1, then hands m to the network; a message that cannot
// leave (link cut, destination down) is reported back to n as a transport
// would.
func (s *Sim) send(n *simNode, m raft.Message) {
	if err := checkDurableBeforeSend(n.id, n.disk, &n.mirror, m); err != nil && s.check.rules {
		s.fail("%v", err)
		return
	}
	switch {
	case m.Type == raft.MsgVote:
		s.check.onVoteRequest(m)
	case m.Type == raft.MsgVoteResp && !m.Reject:
		if err := s.check.checkVoteGrant(n.id, n.hs.Term, &n.mirror, m); err != nil {
			s.fail("%v", err)
			return
		}
	}
	if s.trace.on {
		s.trace.printf(s.now, "send %s", describeMessage(m))
	}
	if m.Type == raft.MsgSnap {
		s.stats.SnapshotsSent++
	}
	result := linkDown
	if dest := s.node(m.To); dest != nil && dest.up {
		result = s.net.send(m, n.incarnation, s.now)
	}
	switch {
	case result == linkDown:
		// The connection is down: the transport tells the sender.
		n.reports = append(n.reports, report{to: m.To, snapshot: m.Type == raft.MsgSnap, failed: true})
	case result == lost && m.Type == raft.MsgSnap:
		// A snapshot stream that breaks is reported failed.
		n.reports = append(n.reports, report{to: m.To, snapshot: true, failed: true})
	}
}

// sortMessages orders messages by destination, keeping each destination's
// order: the core builds them iterating maps, and a run must replay.
func sortMessages(msgs []raft.Message) {
	slices.SortStableFunc(msgs, func(a, b raft.Message) int { return cmp.Compare(a.To, b.To) })
}

// snapshotNode snapshots n's state machine and compacts its log.
func (s *Sim) snapshotNode(n *simNode) {
	keep := uint64(0)
	if s.opts.CompactLagMax > 0 {
		keep = uint64(s.rng.IntN(s.opts.CompactLagMax + 1))
	}
	index, err := n.disk.snapshot(n.sm, keep)
	if err != nil {
		s.fail("node %d: %v", n.id, err)
		return
	}
	if index > 0 {
		s.trace.printf(s.now, "node %d snapshots at %d, keeps %d entries below", n.id, index, keep)
		s.stats.Snapshots++
	}
}
