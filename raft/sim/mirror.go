package sim

import (
	"fmt"

	"github.com/natsraft/natsraft/raft"
)

// logMirror is the checker's copy of one node's log: the entries the node
// handed out in its Readys (the core's whole log once a Ready is taken),
// above a floor (the snapshot it restored, or the start of its durable log
// after a restart). Compaction does not trim it: compacted entries were
// still the node's log.
//
// Invariant: terms[i] and hashes[i] describe the entry at floorIndex+1+i.
type logMirror struct {
	floorIndex, floorTerm uint64
	terms                 []uint64
	hashes                []uint64
}

func (m *logMirror) lastIndex() uint64 { return m.floorIndex + uint64(len(m.terms)) }

func (m *logMirror) lastTerm() uint64 {
	if len(m.terms) == 0 {
		return m.floorTerm
	}
	return m.terms[len(m.terms)-1]
}

// term returns the term at index; ok is false outside [floorIndex, lastIndex].
func (m *logMirror) term(index uint64) (uint64, bool) {
	switch {
	case index == m.floorIndex:
		return m.floorTerm, true
	case index < m.floorIndex || index > m.lastIndex():
		return 0, false
	}
	return m.terms[index-m.floorIndex-1], true
}

// append adds ents, truncating what follows ents[0].Index-1 (a conflict
// resolved by the leader). Entries at or below the floor are skipped.
func (m *logMirror) append(ents []raft.Entry) {
	for len(ents) > 0 && ents[0].Index <= m.floorIndex {
		ents = ents[1:]
	}
	if len(ents) == 0 {
		return
	}
	if ents[0].Index > m.lastIndex()+1 {
		panic(fmt.Sprintf("sim: mirror gap: appending %d after %d", ents[0].Index, m.lastIndex()))
	}
	n := ents[0].Index - m.floorIndex - 1
	m.terms = m.terms[:n]
	m.hashes = m.hashes[:n]
	for _, e := range ents {
		m.terms = append(m.terms, e.Term)
		m.hashes = append(m.hashes, entryHash(e))
	}
}

// restore replaces the log by a snapshot's last entry (§7).
func (m *logMirror) restore(index, term uint64) {
	*m = logMirror{floorIndex: index, floorTerm: term}
}

// termLog is a frozen copy of a log's terms, for leader completeness.
type termLog struct {
	floorIndex uint64
	terms      []uint64
}

func (m *logMirror) freeze() termLog {
	return termLog{floorIndex: m.floorIndex, terms: append([]uint64(nil), m.terms...)}
}

func (l termLog) lastIndex() uint64 { return l.floorIndex + uint64(len(l.terms)) }
