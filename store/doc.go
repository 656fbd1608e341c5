// Package store is the durable state of one natsraft node, in one Pebble
// database: the Raft log, the hard state, the latest snapshot's metadata,
// the applied index, and (under a prefix the store leaves alone) the state
// machine's key-value data, which is also the snapshot's data (see
// Snapshots). A *Store implements raft.Storage, the read-only view the
// Raft core consults; the node actor writes it through Batch.
//
// # Key layout
//
// The first byte of every key is a namespace: 'r' for the store, which
// touches no other key; 'k' (KVPrefix) for the state machine in kv/, 's'
// for server/'s own records. Integers in keys are big-endian so that
// Pebble's byte order is numeric order.
//
//	+-------------------+-----------------------+------------------------------------------+
//	| key               | value                 | meaning                                  |
//	+-------------------+-----------------------+------------------------------------------+
//	| 'r' 'i'           | identity              | format version, cluster ID, node ID      |
//	| 'r' 'h'           | hard state            | term, vote, commit (Raft Figure 2)       |
//	| 'r' 'a'           | applied index         | last entry the state machine applied     |
//	| 'r' 't'           | truncated state       | index and term of the entry before the   |
//	|                   |                       | first stored one (the "dummy" entry)     |
//	| 'r' 'e'           | log end               | index and term of the last entry         |
//	| 'r' 's'           | snapshot metadata     | index, term and membership of the        |
//	|                   |                       | truncated state: the latest snapshot     |
//	| 'r' 'l' index(8)  | log entry             | the entry at index                       |
//	| 'k' ...           | owned by kv/          | the replicated key-value data            |
//	| 's' ...           | owned by server/      | e.g. the membership with member names    |
//	+-------------------+-----------------------+------------------------------------------+
//
// Every 'r' key but the log exists from the moment the store is created; a
// missing one is corruption, not an empty state.
//
// # Value encoding
//
// Every store value begins with a crc32c (Castagnoli) checksum computed
// over the key bytes followed by the value bytes after the checksum, so a
// value read under the wrong key fails as surely as a flipped bit. All
// integers are big-endian.
//
//	log entry:        crc32c(4) | term(8) | type(1) | data
//	hard state:       crc32c(4) | term(8) | vote(8) | commit(8)
//	applied index:    crc32c(4) | index(8)
//	truncated state:  crc32c(4) | index(8) | term(8)
//	log end:          crc32c(4) | index(8) | term(8)
//	snapshot meta:    crc32c(4) | index(8) | term(8) |
//	                  voters: count(4) id(8)... | learners: count(4) id(8)...
//	identity:         crc32c(4) | format version(4) | node ID(8) | cluster ID
//
// The format version is 2. Version 1 also stored the snapshot's data, in
// chunks, and two more fields in the snapshot metadata; Open refuses it
// (ErrFormatVersion), as it refuses any version but its own.
//
// Checksums are verified on every read. Open reads and verifies everything:
// each checksum; that the log runs without a gap from the first index to
// the recorded log end and that its terms never decrease; that no entry
// lies below the first index; that commit <= last index and applied <=
// commit; that the snapshot metadata names the truncated entry (same index
// and term); and that applied >= the snapshot's index. Any failure is an
// ErrCorrupt naming the damaged key ("log entry 7", "hard state"), and the
// node does not start: it must not vote or serve from bad data. Damage
// Pebble itself detects (block checksums, a truncated table, a missing
// file or manifest) is also reported as ErrCorrupt.
//
// # Creating and opening
//
// Open creates a store only when Options.Create is set and the directory is
// missing or empty; a directory that holds other files is never written
// to. A mistyped --data-dir therefore gives ErrNotFound instead of an empty
// node that could vote and break a quorum's promises.
//
// # The write path
//
// The node actor is the only writer. For one Ready:
//
//	b := s.NewBatch()
//	b.InstallSnapshot(rd.Snapshot)   // if any: replaces log and snapshot;
//	                                 // the state machine's restore and
//	                                 // SetApplied(its index) go here too
//	b.Append(rd.Entries)             // truncates a conflicting suffix first
//	b.SetHardState(rd.HardState)     // if changed
//	err := b.Commit()                // one Pebble batch, one sync
//
// Commit syncs when the batch holds a hard state, entries or a snapshot,
// and only then may the messages that depend on them be sent (Raft §5.1,
// dissertation §3.8: a vote or an append acknowledgement must survive a
// crash). After Commit returns, the raft.Storage methods reflect the batch.
// An error from Commit leaves durability unknown; the node must stop.
//
// The state machine applies committed entries into a batch too, writing
// its keys through Batch.Pebble (keys under KVPrefix only) and the applied
// index with Batch.SetApplied in the same batch, so that on restart the
// data and the applied index agree exactly. Such a batch is not synced:
// Pebble writes its WAL in commit order, so any later synced commit makes
// it durable, and a crash before that loses it together with its applied
// index, and the entries are applied again from the log. The same argument
// lets Compact skip the sync (see Snapshots). The state machine reads with
// Store.DB (or NewIndexedBatch to read its own pending writes).
//
// # Snapshots
//
// The store keeps no snapshot data: the state machine's keys, in the same
// database, are the snapshot. They hold the effects of every entry up to
// Applied(), which is never below the snapshot's index. What the store
// keeps is the snapshot's metadata (index, term, and the membership in
// force at that index), and that is always the log's base: the truncated
// entry, just before FirstIndex(). Snapshot() returns this metadata with
// Data nil; InitialState's membership comes from it.
//
// Taking a snapshot is compacting the log: Compact(i, cs) discards the
// entries up to i and records (i, term of i, cs) as the snapshot. Like
// raft.MemoryStorage.Compact it returns ErrCompacted if i < FirstIndex and
// ErrUnavailable if i > LastIndex; it also refuses an i beyond Applied(),
// since nothing else would hold those entries' effects. A node compacts a
// few entries behind Applied(), keeping them for slow followers.
// Batch.Compact can share the state machine's apply batch: it checks i
// against that batch's own SetApplied. Compact needs no sync of its own.
// The batch that applied i committed before it (or is the same batch), and
// Pebble writes its WAL in commit order, so whenever the compaction is on
// disk the state machine's writes up to i are too: a crash loses only the
// newest unsynced batches, never an apply while keeping a later
// compaction.
//
// Sending a snapshot to a follower: the data is encoded when a follower
// needs it, never kept. The node actor takes a pebble.Snapshot of the
// database between two applies, so that it holds the state machine at
// exactly Applied() (ReadApplied on it reads that index). The state
// machine's keys are encoded from it off the actor, and sent with
// metadata naming that index, its term and the membership in force there.
// That index may lie beyond the store's snapshot; being applied, it is
// still in the log or is the log's base, so its term is known. server/
// does this.
//
// Installing a snapshot from the leader: InstallSnapshot(snap) empties the
// log and makes snap's metadata its base, in the Ready's batch with its
// hard state; the store ignores snap.Data. The state machine's restore
// (delete its key range, write the image from snap.Data, and
// SetApplied(snap's index)) must go in that same batch. The switch is then
// atomic under one sync, and a crash leaves either the old state and log or
// the new ones. Commit panics if the batch would leave Applied() below the
// snapshot's index, and Open refuses such a store (ErrCorrupt): otherwise,
// after a crash, the log would start after entries that the state machine
// never applied.
//
// # Memory
//
// The store keeps in memory the log's bounds, the term of every entry as a
// list of term runs (terms change only at elections, so Term never reads
// Pebble), and a tail cache of the most recent entries, bounded by
// Options.TailCacheBytes, that serves the leader's replication reads.
// Entries older than the cache are read from Pebble and verified.
//
// # Concurrency
//
// The writer is also the goroutine that makes the raft.Storage calls.
// Other goroutines may call the read methods (Status, HardState, Entries,
// ...) at any time: Store.mu guards the in-memory state, and a commit holds
// it from Pebble's commit until memory reflects the batch, so a reader may
// wait for one sync.
//
// # Safety checks
//
// Cheap checks always run and panic (fail-stop) rather than write a state
// Open would refuse or Raft forbids: the term or commit index decreasing,
// a vote changing within a term, an append removing or changing a
// committed entry, log terms decreasing, commit beyond the last index,
// applied beyond commit or decreasing, and applied below the snapshot (an
// install committed without the state machine's restore). Building with
// -tags invariants, or with -race, also checks every in-memory invariant
// after each commit.
//
// NB: Pebble replays its newest WAL up to the first damaged record and
// treats the rest as a torn write from a crash. Damage to that tail cannot
// be told apart from a crash before the sync, so it loses the writes after
// it silently (they were in the WAL only). Close flushes the memtables, so
// a cleanly closed store holds everything in checksummed sstables.
package store
