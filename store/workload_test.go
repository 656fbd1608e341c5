package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"

	"github.com/cockroachdb/pebble"
	"github.com/natsraft/natsraft/raft"
)

// workload drives a store the way a node does, for the crash tests: Ready
// batches (entries and hard state, synced), apply batches (a state
// machine key with the applied index, not synced), compactions of the
// applied prefix (alone or in an apply batch, not synced), snapshots
// installed from a leader with the state machine's restore (synced), and
// new terms that rewrite the uncommitted tail. Entry data names its index
// and term; the state machine key holds the applied index, so a check can
// tell whether the two were written together.
type workload struct {
	s    *Store
	rng  *rand.Rand
	term uint64
}

// workloadConfState is the membership of every snapshot the workload
// makes.
var workloadConfState = raft.ConfState{Voters: []uint64{1, 2, 3}}

// appliedKVKey is the state machine key every apply batch writes.
var appliedKVKey = []byte{KVPrefix, 'a'}

// ack is what a synced Ready batch made durable, and so what must survive
// any crash after it: the last entry, the hard state, and (by Pebble's WAL
// order) the applied index and snapshot committed before it.
type ack struct {
	last, term, commit, applied, snapshot uint64
}

func (a ack) String() string {
	return fmt.Sprintf("ack %d %d %d %d %d", a.last, a.term, a.commit, a.applied, a.snapshot)
}

func parseAck(line string) (a ack, err error) {
	_, err = fmt.Sscanf(line, "ack %d %d %d %d %d", &a.last, &a.term, &a.commit, &a.applied, &a.snapshot)
	return a, err
}

// startWorkload begins a new term, as a restarted node that wins an
// election would: the uncommitted tail is rewritten in the new term.
func startWorkload(s *Store, rng *rand.Rand) (*workload, ack, error) {
	w := &workload{s: s, rng: rng}
	a, err := w.newTerm()
	return w, a, err
}

func (w *workload) newTerm() (ack, error) {
	hs := w.s.HardState()
	w.term = hs.Term + 1
	return w.ready(hs.Commit + 1)
}

// step runs one random batch; synced says whether it was a Ready batch,
// whose ack then holds.
func (w *workload) step() (a ack, synced bool, err error) {
	switch r := w.rng.IntN(40); {
	case r <= 1:
		return ack{}, false, w.compact()
	case r <= 7:
		return ack{}, false, w.apply()
	case r <= 9:
		a, err = w.newTerm()
		return a, true, err
	case r == 10:
		a, err = w.install()
		return a, true, err
	default:
		last, _ := w.s.LastIndex()
		a, err = w.ready(last + 1)
		return a, true, err
	}
}

// ready appends entries from index from on in the current term and
// advances the commit index over some of them, in one synced batch.
func (w *workload) ready(from uint64) (ack, error) {
	ents := entries(from, from+uint64(w.rng.IntN(16)), w.term)
	hs := w.s.HardState()
	last := ents[len(ents)-1].Index
	hs = raft.HardState{Term: w.term, Vote: 1, Commit: hs.Commit + w.rng.Uint64N(last-hs.Commit+1)}
	b := w.s.NewBatch()
	defer b.Close()
	if err := b.Append(ents); err != nil {
		return ack{}, err
	}
	b.SetHardState(hs)
	if err := b.Commit(); err != nil {
		return ack{}, err
	}
	return w.ack(last, hs.Commit), nil
}

// ack describes the state a synced batch just made durable.
func (w *workload) ack(last, commit uint64) ack {
	st := w.s.Status()
	return ack{last: last, term: w.term, commit: commit, applied: st.Applied, snapshot: st.SnapshotIndex}
}

// apply applies up to a random committed index and, one time in four,
// compacts the log in the same batch up to a few entries behind it.
func (w *workload) apply() error {
	st := w.s.Status()
	applied := st.Applied + w.rng.Uint64N(st.HardState.Commit-st.Applied+1)
	b := w.s.NewBatch()
	defer b.Close()
	b.SetApplied(applied)
	if err := b.Pebble().Set(appliedKVKey, binary.BigEndian.AppendUint64(nil, applied), nil); err != nil {
		return err
	}
	if to := w.compactionIndex(applied); w.rng.IntN(4) == 0 && to > st.SnapshotIndex {
		if err := b.Compact(to, workloadConfState); err != nil {
			return err
		}
	}
	return b.Commit()
}

// compact compacts the log, alone in its batch, up to a few entries
// behind the applied index (the state machine's keys are the snapshot).
func (w *workload) compact() error {
	st := w.s.Status()
	if to := w.compactionIndex(st.Applied); to > st.SnapshotIndex {
		return w.s.Compact(to, workloadConfState)
	}
	return nil
}

// compactionIndex keeps up to five applied entries for slow followers.
func (w *workload) compactionIndex(applied uint64) uint64 {
	return applied - min(applied, w.rng.Uint64N(6))
}

// install installs a snapshot from the leader beyond the log's end, with
// the state machine's restore, the applied index and the commit index in
// the same synced batch, as a lagging follower does.
func (w *workload) install() (ack, error) {
	last, _ := w.s.LastIndex()
	index := last + 1 + w.rng.Uint64N(10)
	snap := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: index, Term: w.term, ConfState: workloadConfState}}
	b := w.s.NewBatch()
	defer b.Close()
	if err := b.InstallSnapshot(snap); err != nil {
		return ack{}, err
	}
	if err := b.Pebble().Set(appliedKVKey, binary.BigEndian.AppendUint64(nil, index), nil); err != nil {
		return ack{}, err
	}
	b.SetApplied(index)
	b.SetHardState(raft.HardState{Term: w.term, Vote: 1, Commit: index})
	if err := b.Commit(); err != nil {
		return ack{}, err
	}
	return w.ack(index, index), nil
}

// checkRecovered verifies a reopened store against the last ack before a
// crash: everything acknowledged is there, unless a later synced write in
// a newer term replaced the acknowledged but uncommitted tail (as a
// follower's log is by a new leader), and the state is consistent (see
// checkConsistent).
func checkRecovered(s *Store, a ack) error {
	st := s.Status()
	hs := st.HardState
	switch {
	case hs.Term < a.term || hs.Commit < a.commit:
		return fmt.Errorf("hard state %+v lost the acknowledged %v", hs, a)
	case st.Applied < a.applied || st.SnapshotIndex < a.snapshot:
		return fmt.Errorf("status %+v lost the acknowledged %v", st, a)
	case hs.Term == a.term && st.LastIndex < a.last:
		return fmt.Errorf("last index %d lost the acknowledged %v", st.LastIndex, a)
	}
	if hs.Term == a.term && a.last >= st.FirstIndex-1 {
		if t, err := s.Term(a.last); err != nil || t != a.term {
			return fmt.Errorf("term of acknowledged entry %d is %d (%v), want %d", a.last, t, err, a.term)
		}
	}
	return checkConsistent(s)
}

// checkConsistent verifies that every entry's data names its own index
// and term, that the state machine key agrees with the applied index, and
// that the snapshot is the log's base, without data, covered by the
// applied index.
func checkConsistent(s *Store) error {
	st := s.Status()
	ents, err := s.Entries(st.FirstIndex, st.LastIndex+1, math.MaxUint64)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !bytes.Equal(e.Data, entryData(e.Index, e.Term)) {
			return fmt.Errorf("entry %d (term %d) holds %q", e.Index, e.Term, e.Data)
		}
	}
	if kv := readAppliedKV(s); kv != st.Applied {
		return fmt.Errorf("state machine says applied %d, applied index is %d", kv, st.Applied)
	}
	snap, err := s.Snapshot()
	if err != nil {
		return err
	}
	md := snap.Metadata
	term, err := s.Term(st.FirstIndex - 1)
	switch {
	case err != nil:
		return err
	case md.Index != st.FirstIndex-1 || md.Term != term:
		return fmt.Errorf("snapshot %d (term %d) is not the log's base %d (term %d)", md.Index, md.Term, st.FirstIndex-1, term)
	case st.Applied < md.Index:
		return fmt.Errorf("applied index %d below the snapshot %d", st.Applied, md.Index)
	case snap.Data != nil:
		return fmt.Errorf("snapshot %d has %d bytes of data", md.Index, len(snap.Data))
	case md.Index > 0 && !sameConfState(md.ConfState, workloadConfState):
		return fmt.Errorf("snapshot %d has membership %v", md.Index, md.ConfState)
	}
	return nil
}

func readAppliedKV(s *Store) uint64 {
	v, closer, err := s.DB().Get(appliedKVKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0
	}
	if err != nil {
		panic(err)
	}
	defer closer.Close()
	return binary.BigEndian.Uint64(v)
}

// digest summarises everything the store holds, to compare a recovered
// store with the states it went through.
func digest(s *Store) string {
	st := s.Status()
	h := crc32.New(castagnoli)
	ents, err := s.Entries(st.FirstIndex, st.LastIndex+1, math.MaxUint64)
	if err != nil {
		return "entries: " + err.Error()
	}
	for _, e := range ents {
		fmt.Fprintf(h, "%d/%d/%d;", e.Index, e.Term, e.Type)
		h.Write(e.Data)
	}
	snap, err := s.Snapshot()
	if err != nil {
		return "snapshot: " + err.Error()
	}
	fmt.Fprintf(h, "snap %v", snap.Metadata)
	return fmt.Sprintf("hs=%+v applied=%d kv=%d log=[%d,%d] snap=%d/%d sum=%x",
		st.HardState, st.Applied, readAppliedKV(s), st.FirstIndex, st.LastIndex,
		st.SnapshotIndex, st.SnapshotTerm, h.Sum32())
}
