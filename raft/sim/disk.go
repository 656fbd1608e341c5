package sim

import (
	"errors"
	"fmt"

	"github.com/natsraft/natsraft/raft"
)

// disk is a node's durable state: exactly what survives a crash. Writes of
// a Ready reach it only at the sync (node.finishReady); a crash before the
// sync loses them. The durable state machine is the latest snapshot in
// storage, with its applied index: a restart resumes from it and
// re-applies the committed entries after it.
type disk struct {
	// storage is also the Storage the core reads: the core only reads
	// indices it knows are durable.
	storage *raft.MemoryStorage
	// synced is the last HardState synced, for the monotonicity check.
	synced raft.HardState
}

func newDisk() *disk { return &disk{storage: raft.NewMemoryStorage()} }

// bootstrap writes the initial log of a new cluster.
func (d *disk) bootstrap(voters []uint64) error {
	ents, hs, err := raft.Bootstrap(voters)
	if err != nil {
		return err
	}
	if err := d.storage.Append(ents); err != nil {
		return err
	}
	d.storage.SetHardState(hs)
	d.synced = hs
	return nil
}

// sync makes one Ready's HardState, Entries and Snapshot durable, in one
// batch. It returns an error if the HardState goes backwards: the term
// never decreases, a vote is never changed within a term (one vote per
// term, Figure 2), and the commit index never decreases.
func (d *disk) sync(rd *raft.Ready, checkMonotonic bool) error {
	if checkMonotonic && !rd.HardState.IsEmpty() {
		if err := checkHardStateMonotonic(d.synced, rd.HardState); err != nil {
			return err
		}
	}
	if rd.Snapshot != nil {
		if err := d.storage.ApplySnapshot(*rd.Snapshot); err != nil {
			return fmt.Errorf("installing snapshot %d: %v", rd.Snapshot.Metadata.Index, err)
		}
	}
	if err := d.storage.Append(rd.Entries); err != nil {
		return fmt.Errorf("appending entries: %v", err)
	}
	if !rd.HardState.IsEmpty() {
		d.storage.SetHardState(rd.HardState)
		d.synced = rd.HardState
	}
	return nil
}

func checkHardStateMonotonic(old, hs raft.HardState) error {
	switch {
	case hs.Term < old.Term:
		return fmt.Errorf("durable term goes back from %d to %d", old.Term, hs.Term)
	case hs.Term == old.Term && old.Vote != raft.None && hs.Vote != old.Vote:
		return fmt.Errorf("durable vote in term %d changes from %d to %d", hs.Term, old.Vote, hs.Vote)
	case hs.Commit < old.Commit:
		return fmt.Errorf("durable commit goes back from %d to %d", old.Commit, hs.Commit)
	}
	return nil
}

// snapshot records sm as the durable snapshot at its applied index and
// compacts the log up to keep entries below it. It reports the snapshot
// index, or 0 if there was nothing new to snapshot.
func (d *disk) snapshot(sm *stateMachine, keep uint64) (uint64, error) {
	snap, err := d.storage.Snapshot()
	if err != nil {
		return 0, err
	}
	if sm.Applied <= snap.Metadata.Index {
		return 0, nil
	}
	if _, err := d.storage.CreateSnapshot(sm.Applied, sm.Conf, sm.encode()); err != nil {
		return 0, fmt.Errorf("snapshot at %d: %v", sm.Applied, err)
	}
	first, _ := d.storage.FirstIndex()
	if sm.Applied > keep && sm.Applied-keep >= first {
		if err := d.storage.Compact(sm.Applied - keep); err != nil {
			return 0, fmt.Errorf("compact to %d: %v", sm.Applied-keep, err)
		}
	}
	return sm.Applied, nil
}

// restoreStateMachine reads the durable state machine: the snapshot's, or
// an empty one.
func (d *disk) restoreStateMachine() (*stateMachine, error) {
	snap, err := d.storage.Snapshot()
	if err != nil {
		return nil, err
	}
	if snap.IsEmpty() {
		return newStateMachine(), nil
	}
	sm, err := decodeStateMachine(snap.Data)
	if err != nil {
		return nil, err
	}
	if sm.Applied != snap.Metadata.Index {
		return nil, fmt.Errorf("snapshot %d holds a state machine at %d", snap.Metadata.Index, sm.Applied)
	}
	return sm, nil
}

// readMirror reads the durable log into a mirror, for a restarted node.
func (d *disk) readMirror() (logMirror, error) {
	first, _ := d.storage.FirstIndex()
	last, _ := d.storage.LastIndex()
	floorTerm, err := d.storage.Term(first - 1)
	if err != nil {
		return logMirror{}, err
	}
	m := logMirror{floorIndex: first - 1, floorTerm: floorTerm}
	if last < first {
		return m, nil
	}
	ents, err := d.storage.Entries(first, last+1, 1<<62)
	if err != nil {
		return logMirror{}, err
	}
	m.append(ents)
	return m, nil
}

// durableConf is the configuration a restart would use: the snapshot's,
// with the conf changes of the durable log applied (dissertation §4.1:
// the latest in the log, committed or not).
func (d *disk) durableConf() (raft.ConfState, error) {
	snap, err := d.storage.Snapshot()
	if err != nil {
		return raft.ConfState{}, err
	}
	cs := snap.Metadata.ConfState
	first, _ := d.storage.FirstIndex()
	last, _ := d.storage.LastIndex()
	if last < first {
		return cs, nil
	}
	ents, err := d.storage.Entries(first, last+1, 1<<62)
	if err != nil {
		return raft.ConfState{}, err
	}
	for _, e := range ents {
		if e.Type != raft.EntryConfChange {
			continue
		}
		cc, err := raft.UnmarshalConfChange(e.Data)
		if err != nil {
			return raft.ConfState{}, err
		}
		cs = cs.Apply(cc)
	}
	return cs, nil
}

// durableTerm returns the term of the durable entry at index, or ok=false
// if the durable log does not hold it (compacted entries count as held:
// they are in the snapshot).
func (d *disk) durableTerm(index uint64) (term uint64, compacted, ok bool) {
	t, err := d.storage.Term(index)
	switch {
	case err == nil:
		return t, false, true
	case errors.Is(err, raft.ErrCompacted):
		return 0, true, true
	default:
		return 0, false, false
	}
}
