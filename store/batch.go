package store

import (
	"fmt"

	"github.com/cockroachdb/pebble"
	"github.com/natsraft/natsraft/raft"
)

// Batch gathers the writes of one Ready — hard state, entries, an installed
// snapshot — and, if the node wishes, the state machine's writes with the
// applied index they produce, into one Pebble batch that Commit writes
// atomically with at most one sync. Operations see the effect of earlier
// ones in the same batch (an Append after InstallSnapshot appends to the
// snapshot); the store's readers see none of them until Commit returns.
//
// A Batch is used by one goroutine, the writer. Log operations (Append,
// InstallSnapshot, Compact) read the log's shape when the
// first of them runs: REQUIRES: no other batch that changes the log or
// snapshot commits between that moment and this batch's Commit (Commit
// panics if one did). A Batch must end with Commit or Close.
type Batch struct {
	s   *Store
	pb  *pebble.Batch
	key []byte // scratch

	// logOps is set by the first log operation, which copies the store's
	// log shape into view at generation gen; view then tracks the batch.
	logOps bool
	gen    uint64
	view   logView

	// durable is set when the batch holds state Raft needs on disk before
	// any message depending on it is sent: Commit then syncs.
	durable bool

	hardState    raft.HardState
	hasHardState bool
	applied      uint64
	hasApplied   bool

	// Changes to the in-memory log, applied by Commit in this order: reset
	// to installedAt (InstallSnapshot) or truncate from truncateFrom
	// (a conflict with stored entries), then append appended, then compact
	// to compactTo. Invariant: after them the memLog's bounds equal view's.
	installed    bool
	installedAt  entryID
	truncateFrom uint64 // 0: none
	appended     []raft.Entry
	compactTo    entryID // index 0: none
	snapChanged  bool
}

// logView is the log's shape as this batch leaves it.
// Invariant: snapshot.Index == dummy.index.
type logView struct {
	dummy    entryID
	last     uint64
	snapshot raft.SnapshotMetadata
}

// maxPooledEntries bounds the appended slice a pooled Batch keeps.
const maxPooledEntries = 4096

// NewBatch returns an empty write-only batch.
func (s *Store) NewBatch() *Batch { return s.newBatch(s.db.NewBatch()) }

// NewIndexedBatch returns an empty batch whose Pebble batch can also be
// read (pebble.Batch.Get, NewIter), for a state machine applying several
// entries that read each other's writes.
func (s *Store) NewIndexedBatch() *Batch { return s.newBatch(s.db.NewIndexedBatch()) }

func (s *Store) newBatch(pb *pebble.Batch) *Batch {
	b, _ := s.batches.Get().(*Batch)
	if b == nil {
		b = &Batch{}
	}
	b.s, b.pb = s, pb
	return b
}

// Pebble returns the underlying Pebble batch, for the state machine's
// writes. Keys whose first byte is 'r' belong to the store and must not be
// written; KVPrefix is kv's. Pair the writes with SetApplied.
func (b *Batch) Pebble() *pebble.Batch {
	b.mustBeOpen()
	return b.pb
}

// SetHardState records hs. It panics if hs breaks a rule no correct core
// breaks: the term decreases (§5.1), the vote changes within a term
// (§5.2: at most one vote per term), or the commit index decreases.
func (b *Batch) SetHardState(hs raft.HardState) {
	b.mustBeOpen()
	prev := b.hardStateNow()
	checkHardState(prev, hs)
	op := b.pb.SetDeferred(len(hardStateKey), hardStateValueBytes)
	copy(op.Key, hardStateKey)
	putHardState(op.Value, hs)
	mustPebble(op.Finish())
	b.hardState, b.hasHardState = hs, true
	// Term and vote must be on disk before any answer that depends on them
	// (Figure 2). The commit index alone need not: a lost commit index is
	// learned again from the leader, and Pebble's WAL order keeps it behind
	// the entries it covers.
	b.durable = b.durable || hs.Term != prev.Term || hs.Vote != prev.Vote
}

func checkHardState(prev, hs raft.HardState) {
	switch {
	case hs.Term < prev.Term:
		panic(fmt.Sprintf("store: hard state term regresses from %d to %d", prev.Term, hs.Term))
	case hs.Term == prev.Term && prev.Vote != raft.None && hs.Vote != prev.Vote:
		panic(fmt.Sprintf("store: vote in term %d changes from %d to %d", hs.Term, prev.Vote, hs.Vote))
	case hs.Commit < prev.Commit:
		panic(fmt.Sprintf("store: commit index regresses from %d to %d", prev.Commit, hs.Commit))
	}
}

// SetApplied records that the state machine has applied the log up to
// index. Write it in the batch that holds the state machine's changes for
// those entries, so a restart resumes exactly after them. It panics if the
// applied index would decrease.
func (b *Batch) SetApplied(index uint64) {
	b.mustBeOpen()
	if prev := b.appliedNow(); index < prev {
		panic(fmt.Sprintf("store: applied index regresses from %d to %d", prev, index))
	}
	op := b.pb.SetDeferred(len(appliedKey), appliedValueBytes)
	copy(op.Key, appliedKey)
	putApplied(op.Value, index)
	mustPebble(op.Finish())
	b.applied, b.hasApplied = index, true
}

// Append adds entries to the log with raft.MemoryStorage's semantics:
// stored entries at or after ents[0].Index are replaced (a conflict the
// leader resolved, §5.3), entries at or below the compacted prefix are
// ignored, and a gap after the last index is ErrUnavailable. The store
// keeps ents' Data without copying: the caller must not modify it.
//
// It panics if the append would remove or change a committed entry (Leader
// Completeness, §5.4, relies on committed entries never leaving a log).
func (b *Batch) Append(ents []raft.Entry) error {
	b.mustBeOpen()
	if len(ents) == 0 {
		return nil
	}
	b.startLog()
	first := b.view.dummy.index + 1
	if ents[len(ents)-1].Index < first {
		return nil
	}
	if ents[0].Index < first {
		ents = ents[first-ents[0].Index:]
	}
	if ents[0].Index > b.view.last+1 {
		return fmt.Errorf("%w: appending entry %d after last index %d", raft.ErrUnavailable, ents[0].Index, b.view.last)
	}
	if err := b.checkAppend(ents); err != nil {
		return err
	}
	if ents[0].Index <= b.view.last {
		b.truncate(ents)
	}
	b.writeEntries(ents)
	return nil
}

// checkAppend verifies that ents are contiguous and their terms never
// decrease, from the entry before them on.
// REQUIRES: b.view.dummy.index < ents[0].Index <= b.view.last+1.
func (b *Batch) checkAppend(ents []raft.Entry) error {
	prev := entryID{ents[0].Index - 1, b.termAt(ents[0].Index - 1)}
	for i := range ents {
		e := &ents[i]
		if e.Index != prev.index+1 || e.Term < prev.term {
			return fmt.Errorf("store: appending entry (index %d, term %d) after (index %d, term %d)",
				e.Index, e.Term, prev.index, prev.term)
		}
		prev = entryID{e.Index, e.Term}
	}
	return nil
}

// truncate deletes the entries from ents[0].Index on, which ents replace.
// REQUIRES: b.view.dummy.index < ents[0].Index <= b.view.last.
func (b *Batch) truncate(ents []raft.Entry) {
	b.checkTruncation(ents)
	from := ents[0].Index
	mustPebble(b.pb.DeleteRange(appendLogKey(nil, from), logSpanEnd, nil))
	if len(b.appended) > 0 && from >= b.appended[0].Index {
		b.appended = b.appended[:from-b.appended[0].Index]
	} else {
		clear(b.appended)
		b.appended = b.appended[:0]
		if !b.installed && (b.truncateFrom == 0 || from < b.truncateFrom) {
			b.truncateFrom = from
		}
	}
	b.view.last = from - 1
}

// checkTruncation panics if replacing the log from ents[0].Index on with
// ents would remove or change an entry at or below the commit index known
// before this batch. (A commit index set in this batch may already cover
// the entries that replace a stale suffix, so it must not be used: a
// deposed leader rejoining would be refused its new leader's entries.)
func (b *Batch) checkTruncation(ents []raft.Entry) {
	from, commit := ents[0].Index, b.s.HardState().Commit
	if from > commit {
		return
	}
	end := min(commit, b.view.last)
	if newLast := ents[len(ents)-1].Index; newLast < end {
		panic(fmt.Sprintf("store: append of [%d, %d] truncates committed entries up to %d", from, newLast, end))
	}
	for i := from; i <= end; i++ {
		if stored, given := b.termAt(i), ents[i-from].Term; stored != given {
			panic(fmt.Sprintf("store: append changes committed entry %d from term %d to %d", i, stored, given))
		}
	}
}

// writeEntries adds ents to the Pebble batch, encoding each directly into
// the batch's buffer: no allocation per entry.
func (b *Batch) writeEntries(ents []raft.Entry) {
	for i := range ents {
		e := &ents[i]
		op := b.pb.SetDeferred(logKeyBytes, entryHeaderBytes+len(e.Data))
		appendLogKey(op.Key[:0], e.Index)
		encodeEntry(op.Key, op.Value, e)
		mustPebble(op.Finish())
	}
	b.appended = append(b.appended, ents...)
	b.view.last = ents[len(ents)-1].Index
	b.durable = true
}

// InstallSnapshot replaces the log with a snapshot sent by the leader
// (§7): the log becomes empty after snap's last included entry, and snap's
// metadata becomes the log's base. ErrSnapOutOfDate if snap is not newer
// than the current snapshot. The store keeps only the metadata: the state
// machine's restore of snap.Data must go in this same batch (see the
// package documentation).
func (b *Batch) InstallSnapshot(snap raft.Snapshot) error {
	b.mustBeOpen()
	b.startLog()
	md := snap.Metadata
	if md.Index <= b.view.snapshot.Index {
		return fmt.Errorf("%w: installing snapshot %d over snapshot %d", raft.ErrSnapOutOfDate, md.Index, b.view.snapshot.Index)
	}
	at := entryID{md.Index, md.Term}
	mustPebble(b.pb.DeleteRange(logSpanStart, logSpanEnd, nil))
	b.putEntryID(truncatedKey, at)
	b.putSnapshotMeta(md)
	b.view = logView{dummy: at, last: at.index, snapshot: b.view.snapshot}
	b.installed, b.installedAt, b.durable = true, at, true
	b.truncateFrom, b.compactTo = 0, entryID{}
	clear(b.appended)
	b.appended = b.appended[:0]
	return nil
}

// Compact discards the entries up to and including i, whose effects the
// state machine holds, and makes i the log's base with membership cs; see
// Store.Compact.
func (b *Batch) Compact(i uint64, cs raft.ConfState) error {
	b.mustBeOpen()
	b.startLog()
	switch applied := b.appliedNow(); {
	case i <= b.view.dummy.index:
		return fmt.Errorf("%w: compacting to %d, first index is %d", raft.ErrCompacted, i, b.view.dummy.index+1)
	case i > b.view.last:
		return fmt.Errorf("%w: compacting to %d beyond last index %d", raft.ErrUnavailable, i, b.view.last)
	case i > applied:
		return fmt.Errorf("store: compacting to %d beyond the applied index %d would lose entries", i, applied)
	}
	to := entryID{i, b.termAt(i)}
	mustPebble(b.pb.DeleteRange(logSpanStart, appendLogKey(nil, i+1), nil))
	b.putEntryID(truncatedKey, to)
	b.putSnapshotMeta(raft.SnapshotMetadata{Index: to.index, Term: to.term, ConfState: cs})
	b.view.dummy, b.compactTo = to, to
	return nil
}

// putSnapshotMeta makes md the snapshot metadata.
func (b *Batch) putSnapshotMeta(md raft.SnapshotMetadata) {
	mustPebble(b.pb.Set(snapMetaKey, encodeSnapshotMeta(md), nil))
	b.view.snapshot, b.snapChanged = cloneMetadata(md), true
}

// putEntryID sets key to id without allocating.
func (b *Batch) putEntryID(key []byte, id entryID) {
	op := b.pb.SetDeferred(len(key), entryIDValueBytes)
	copy(op.Key, key)
	putEntryID(op.Key, op.Value, id)
	mustPebble(op.Finish())
}

// putLogEnd records the last entry when the batch moved it: Open checks
// the stored log against it, so a lost tail is caught, not silently served.
func (b *Batch) putLogEnd() {
	if b.installed || b.truncateFrom != 0 || len(b.appended) > 0 {
		b.putEntryID(logEndKey, entryID{b.view.last, b.termAt(b.view.last)})
	}
}

// Commit writes the batch atomically, syncing when it changes the term or
// vote, or holds entries or an installed snapshot (unless Options.NoSync),
// and then makes the store's readers see it. Other batches (the applied
// index with the state machine's writes, Compact) are not synced: Pebble's WAL
// is written in commit order, so the next synced commit makes them durable,
// and a crash before it loses them all together, consistently (the log
// still holds what they covered). An error leaves durability unknown: the
// node must stop (fail-stop). The batch cannot be used afterwards.
func (b *Batch) Commit() error {
	b.mustBeOpen()
	defer b.release()
	b.checkCommit()
	b.putLogEnd()
	opts := pebble.NoSync
	if b.durable && !b.s.noSync {
		opts = pebble.Sync
	}
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	if b.logOps && b.gen != s.mu.gen {
		panic("store: a batch that read the log commits after another batch changed it")
	}
	if err := b.pb.Commit(opts); err != nil {
		return fmt.Errorf("store: committing batch: %w", err)
	}
	s.applyLocked(b)
	return nil
}

// checkCommit panics if the batch would leave a state Open refuses.
func (b *Batch) checkCommit() {
	hs, applied := b.hardStateNow(), b.appliedNow()
	last := b.view.last
	if !b.logOps {
		b.s.mu.RLock()
		last = b.s.mu.log.last
		b.s.mu.RUnlock()
	}
	switch {
	case hs.Commit > last:
		panic(fmt.Sprintf("store: commit index %d beyond last index %d", hs.Commit, last))
	case applied > hs.Commit:
		panic(fmt.Sprintf("store: applied index %d beyond commit index %d", applied, hs.Commit))
	case applied < b.view.snapshot.Index:
		panic(fmt.Sprintf("store: applied index %d below snapshot %d: restore the state machine in the batch that installs the snapshot", applied, b.view.snapshot.Index))
	case !b.logOps:
		return
	}
	switch v := &b.view; {
	case v.snapshot.Index > v.last:
		panic(fmt.Sprintf("store: snapshot %d beyond last index %d", v.snapshot.Index, v.last))
	case v.snapshot.Index >= v.dummy.index && b.termAt(v.snapshot.Index) != v.snapshot.Term:
		panic(fmt.Sprintf("store: snapshot term %d differs from the log's term at %d", v.snapshot.Term, v.snapshot.Index))
	}
}

// applyLocked makes memory reflect the committed batch b.
// REQUIRES: s.mu is held exclusively.
func (s *Store) applyLocked(b *Batch) {
	if b.hasHardState {
		s.mu.hardState = b.hardState
	}
	if b.hasApplied {
		s.mu.applied = b.applied
	}
	if !b.logOps {
		return
	}
	l := &s.mu.log
	switch {
	case b.installed:
		l.reset(b.installedAt)
	case b.truncateFrom != 0:
		l.truncate(b.truncateFrom)
	}
	l.append(b.appended)
	if b.compactTo.index != 0 {
		l.compact(b.compactTo)
	}
	if b.snapChanged {
		s.mu.snapshot = b.view.snapshot
	}
	if b.installed || b.truncateFrom != 0 || len(b.appended) > 0 || b.compactTo.index != 0 || b.snapChanged {
		s.mu.gen++
	}
	if l.last != b.view.last || l.dummy != b.view.dummy {
		panic(fmt.Sprintf("store: memory log [%v, %d] disagrees with the batch's [%v, %d]",
			l.dummy, l.last, b.view.dummy, b.view.last))
	}
	if invariantsEnabled {
		if err := l.check(); err != nil {
			panic("store: memory log invariant: " + err.Error())
		}
	}
}

// startLog copies the store's log shape into b.view on first use.
func (b *Batch) startLog() {
	if b.logOps {
		return
	}
	s := b.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	b.view = logView{dummy: s.mu.log.dummy, last: s.mu.log.last, snapshot: s.mu.snapshot}
	b.gen, b.logOps = s.mu.gen, true
}

// termAt returns the term of entry i as this batch leaves the log.
// REQUIRES: b.logOps and b.view.dummy.index <= i <= b.view.last.
func (b *Batch) termAt(i uint64) uint64 {
	if i == b.view.dummy.index {
		return b.view.dummy.term
	}
	if len(b.appended) > 0 && i >= b.appended[0].Index {
		return b.appended[i-b.appended[0].Index].Term
	}
	b.s.mu.RLock()
	defer b.s.mu.RUnlock()
	return b.s.mu.log.term(i)
}

func (b *Batch) hardStateNow() raft.HardState {
	if b.hasHardState {
		return b.hardState
	}
	return b.s.HardState()
}

func (b *Batch) appliedNow() uint64 {
	if b.hasApplied {
		return b.applied
	}
	return b.s.Applied()
}

// Close abandons the batch if it was not committed; after Commit it does
// nothing.
func (b *Batch) Close() {
	if b.s != nil {
		b.release()
	}
}

func (b *Batch) mustBeOpen() {
	if b.s == nil {
		panic("store: use of a committed or closed Batch")
	}
}

// release closes the Pebble batch and returns b to the store's pool.
func (b *Batch) release() {
	s := b.s
	_ = b.pb.Close() // Close of a batch never fails.
	clear(b.appended)
	appended := b.appended[:0]
	if cap(appended) > maxPooledEntries {
		appended = nil
	}
	*b = Batch{key: b.key[:0], appended: appended}
	s.batches.Put(b)
}
