package server

import (
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/natsraft/natsraft/raft"
	"github.com/natsraft/natsraft/store"
)

// TestSplitDurable: committed entries may be applied before the Ready's
// sync only if the store holds them already and this Ready does not
// replace them. A follower whose uncommitted suffix (term 1, indexes 4-5)
// is replaced by the leader's entries (term 2), some of them committed in
// the same Ready, must not apply the new entry 4 early: the store still
// holds the old one, and recording commit 4 before the new entry is
// written made the append look like it changed a committed entry (found
// by the docker fault suite's PauseLeader). A follower applies nothing
// early: it acknowledges first.
func TestSplitDurable(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{
		Create: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := st.NewBatch()
	old := []raft.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 1}, {Index: 4, Term: 1}, {Index: 5, Term: 1}}
	if err := b.Append(old); err != nil {
		t.Fatal(err)
	}
	b.SetHardState(raft.HardState{Term: 2, Commit: 2})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	n := &Node{store: st}
	replacing := []raft.Entry{{Index: 4, Term: 2}, {Index: 5, Term: 2}}
	cases := []struct {
		name            string
		rd              raft.Ready
		durable, rest   []uint64
		commitRecording uint64 // the commit the early batch records; 0: none
	}{
		{"stored entries, nothing appended",
			raft.Ready{CommittedEntries: old[2:5]}, []uint64{3, 4, 5}, nil, 5},
		{"a suffix replaced in this Ready",
			raft.Ready{Entries: replacing, CommittedEntries: []raft.Entry{old[2], replacing[0]}}, []uint64{3}, []uint64{4}, 3},
		{"entries appended after the stored ones",
			raft.Ready{Entries: []raft.Entry{{Index: 6, Term: 2}}, CommittedEntries: []raft.Entry{old[2], {Index: 6, Term: 2}}}, []uint64{3}, []uint64{6}, 3},
		{"a term change applies nothing early",
			raft.Ready{HardState: raft.HardState{Term: 3, Commit: 3}, CommittedEntries: old[2:3]}, nil, []uint64{3}, 0},
		{"already covered by the stored commit",
			raft.Ready{CommittedEntries: old[1:2]}, []uint64{2}, nil, 0},
	}
	indexes := func(ents []raft.Entry) (out []uint64) {
		for _, e := range ents {
			out = append(out, e.Index)
		}
		return out
	}
	follower := &Node{store: st, id: 1, lead: 2}
	if durable, rest := follower.splitDurable(&cases[0].rd); len(durable) != 0 || len(rest) != 3 {
		t.Errorf("a follower applies %d entries early and %d after the sync, want 0 and 3", len(durable), len(rest))
	}
	for _, c := range cases {
		durable, rest := n.splitDurable(&c.rd)
		if !slices.Equal(indexes(durable), c.durable) || !slices.Equal(indexes(rest), c.rest) {
			t.Errorf("%s: durable %v rest %v, want %v and %v", c.name, indexes(durable), indexes(rest), c.durable, c.rest)
		}
		var got uint64
		if hs := n.commitFor(durable); hs != nil {
			got = hs.Commit
		}
		if got != c.commitRecording {
			t.Errorf("%s: early commit %d, want %d", c.name, got, c.commitRecording)
		}
	}
}
