package sim

import (
	"fmt"
	"io"
	"strings"

	"github.com/natsraft/natsraft/raft"
)

// tracer writes a line per event when a run is traced. Runs are not
// traced by default (formatting costs more than simulating); a failing
// seed is replayed with a trace, which determinism makes identical.
type tracer struct {
	on bool
	w  io.Writer
}

func newTracer(w io.Writer) *tracer { return &tracer{on: w != nil, w: w} }

func (t *tracer) printf(now int64, format string, args ...any) {
	if !t.on {
		return
	}
	fmt.Fprintf(t.w, "%6d  %s\n", now, fmt.Sprintf(format, args...))
}

// ready summarizes a Ready as it is handed out.
func (t *tracer) ready(now int64, id uint64, rd *raft.Ready) {
	if !t.on {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "node %d ready:", id)
	if rd.SoftState != nil {
		fmt.Fprintf(&b, " role=%s lead=%d", rd.SoftState.Role, rd.SoftState.Lead)
	}
	if !rd.HardState.IsEmpty() {
		fmt.Fprintf(&b, " hs=%+v", rd.HardState)
	}
	if len(rd.Entries) > 0 {
		fmt.Fprintf(&b, " entries=%s", describeEntries(rd.Entries))
	}
	if rd.Snapshot != nil {
		fmt.Fprintf(&b, " snapshot=%d/%d%v", rd.Snapshot.Metadata.Index, rd.Snapshot.Metadata.Term, rd.Snapshot.Metadata.ConfState)
	}
	if len(rd.CommittedEntries) > 0 {
		fmt.Fprintf(&b, " apply=%s", describeEntries(rd.CommittedEntries))
	}
	if len(rd.ReadStates) > 0 {
		fmt.Fprintf(&b, " reads=%d", len(rd.ReadStates))
	}
	t.printf(now, "%s", b.String())
}

// describeEntries prints entries as index/term, with a marker for conf
// changes (c) and no-ops (n).
func describeEntries(ents []raft.Entry) string {
	parts := make([]string, len(ents))
	for i, e := range ents {
		mark := ""
		switch {
		case e.Type == raft.EntryConfChange:
			cc, _ := raft.UnmarshalConfChange(e.Data)
			mark = fmt.Sprintf("(%s %d)", cc.Type, cc.NodeID)
		case len(e.Data) == 0:
			mark = "n"
		}
		parts[i] = fmt.Sprintf("%d/%d%s", e.Index, e.Term, mark)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func describeMessage(m raft.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d->%d term=%d", m.Type, m.From, m.To, m.Term)
	switch m.Type {
	case raft.MsgApp:
		fmt.Fprintf(&b, " prev=%d/%d commit=%d entries=%s", m.Index, m.LogTerm, m.Commit, describeEntries(m.Entries))
	case raft.MsgAppResp:
		fmt.Fprintf(&b, " index=%d reject=%t hint=%d/%d", m.Index, m.Reject, m.RejectHint, m.LogTerm)
	case raft.MsgVote, raft.MsgPreVote:
		fmt.Fprintf(&b, " last=%d/%d", m.Index, m.LogTerm)
	case raft.MsgVoteResp, raft.MsgPreVoteResp:
		fmt.Fprintf(&b, " reject=%t", m.Reject)
	case raft.MsgSnap:
		fmt.Fprintf(&b, " snapshot=%d/%d", m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term)
	case raft.MsgHeartbeat:
		fmt.Fprintf(&b, " commit=%d round=%d", m.Commit, m.Index)
	case raft.MsgHeartbeatResp, raft.MsgReadIndexResp:
		fmt.Fprintf(&b, " index=%d", m.Index)
	case raft.MsgProp:
		fmt.Fprintf(&b, " entries=%d", len(m.Entries))
	}
	return b.String()
}

// logger returns the core's logger for node id: into the trace, or none.
func (t *tracer) logger(id uint64) raft.Logger {
	if !t.on {
		return nil
	}
	return coreLogger{t: t, id: id}
}

// coreLogger puts the core's own log lines into the trace (without a
// tick: they belong to the surrounding events).
type coreLogger struct {
	t  *tracer
	id uint64
}

func (l coreLogger) Info(msg string, args ...any) { l.line(msg, args) }
func (l coreLogger) Warn(msg string, args ...any) { l.line("WARN "+msg, args) }

func (l coreLogger) line(msg string, args []any) {
	fmt.Fprintf(l.t.w, "        core %d: %s %v\n", l.id, msg, args)
}
