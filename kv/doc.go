// Package kv is the replicated state machine of natsraft: etcd's v3 data
// model (package mvcc of etcd's server) kept in Pebble. Every node applies the
// same committed requests in the same order and reaches byte-identical state
// under its key prefix: Apply depends on nothing but the state and the
// request (no clock, no randomness, no map order, no limit from Options).
//
// # Data model
//
// One global revision. A fresh store is at revision 1. Every request that
// changes something (a Put, a DeleteRange that deletes at least one key, a
// Txn with at least one change) adds exactly one revision; its changes share
// it, ordered by sub-revision (0, 1, ...) in the order they were made (a
// DeleteRange deletes in key order). Reads, compactions and writes that
// change nothing add none.
//
// Per key: CreateRevision (the revision of its last creation), ModRevision
// (of its last change), Version (puts since creation: 1 when created, reset
// by a delete) and Lease (0, or a lease that exists). A delete
// leaves a tombstone in the history. Compact(rev) drops the history below
// rev but keeps, for each key, its newest version <= rev unless that is a
// tombstone; reads and watches below rev then fail with ErrCompacted.
//
// Ranges follow etcd: an empty RangeEnd is the key alone, "\x00" is "every
// key >= Key" (Key "\x00" with RangeEnd "\x00" is every key); results are
// sorted by key with Count (all keys of the range) and More (cut by Limit).
// Txn compares are decided on the state before the Txn; a Txn may not write
// a key twice (ErrDuplicateKey).
//
// # Key layout
//
// Every key starts with Options.Prefix (P, default 'k'), then a space byte.
// esc(key) escapes 0x00 as 0x00 0xFF and ends with 0x00 0x01, so that
// (key, revision) sorts by key first; ^main is the bitwise complement of the
// revision, big-endian, so a key's versions sort newest first.
//
//	key                          value                        role
//	P 'L' key                    put record                   latest version of each live key
//	P 'H' esc(key) ^main         put record or tombstone      history of each key, newest first
//	P 'R' main(8) sub(8)         event type (1 byte), key     revision log, in revision order
//	P 'M' "compact"              main(8)                      compaction revision (absent: 0)
//	P 'E' id(8)                  uvarint(ttl)                 every lease and its granted TTL
//	P 'A' id(8) key              (empty)                      the keys attached to each lease
//
//	put record: 0x01 uvarint(create) uvarint(mod) uvarint(version) varint(lease) value
//	tombstone:  0x02
//
// Range at the current revision scans 'L'. Range at an older revision scans
// 'H', one seek per key to its newest version <= the revision. Watch replays
// 'R' from its start revision, reading values (and previous values, the
// next entry of 'H') from 'H'. The current revision is not stored: it is the
// newest 'R' entry (1 when there is none), which compaction never removes.
// A Put is three writes ('L', 'H', 'R') and no read: an in-memory index of
// the live keys (key -> create, mod, version, lease, like etcd's key index)
// gives the new version; the previous value is read from 'L' only when the
// request asks for it (prev_kv, ignore_value) or a watcher wants prev_kv.
// The index costs about 100 bytes plus the key per live key and is rebuilt
// by a scan of 'L' on Open, Restore and Discard. A delete is the same three
// writes with a tombstone. Compaction is proportional to the
// changes since the previous one: one range deletion per changed key in 'H'
// and one in 'R'. A Range count scans its whole range, as etcd's does.
//
// # Leases
//
// LeaseGrant, LeaseRevoke and LeaseRenew are requests like the others. A
// Put naming a lease that does not exist fails with ErrLeaseNotFound (in a
// Txn, before anything is written). A key is attached to the lease of its
// latest version; a revoke deletes the lease's keys in key order, all at one
// revision (none when it has no key), as etcd's lessor does.
//
// # Contract with the applier
//
// One goroutine applies:
//
//  1. Create an indexed batch (db.NewIndexedBatch) and call Apply for each
//     committed entry, in log order. Each Apply sees the ones before it.
//     A request error (ErrCompacted, ErrKeyNotFound, ...) is the client's
//     answer and writes nothing. A storage error panics (fail-stop).
//  2. Write the applied index into the same batch and commit it.
//  3. Call Committed: the new revision is published and the events go to
//     the watchers. Never before the commit: a watcher may read history
//     from Pebble as soon as a revision is published.
//
// A Raft snapshot is taken with Snapshot (or SnapshotFrom, with the caller's
// Pebble snapshot, to read the applied index from the same view) and
// installed with Restore into an indexed batch, then commit and Committed
// as above. If a batch is dropped instead of committed, call Discard.
//
// Validate checks a client request (structure and Options' limits) before
// it is proposed; Apply checks only the structure, so nodes with different
// limits never diverge.
//
// Range, Watch, Snapshot and Revision may be called from any goroutine.
// Range reads a Pebble snapshot of the committed state.
//
// # Watch
//
// A watcher is synced (it receives live events from Committed, which never
// blocks on it) or catching up (its own goroutine replays the revision log
// from Pebble until it reaches the published revision, then joins the synced
// set under the hub lock, so no revision is missed or repeated). A synced
// watcher whose buffer is full falls back to catching up; one that falls
// behind a compaction ends with a *CompactedError. This is etcd's synced /
// unsynced / victim scheme with bounded memory. ProgressAll is etcd's
// RequestProgressAll for the watchers of one stream: a marker on each at one
// revision, or nothing unless all are synced.
//
// # Divergences from etcd
//
//   - The duplicate-key rule of Txn is checked both ways between sibling
//     nested Txns, and a delete's range end "\x00" counts as unbounded there
//     (etcd misses both cases, which would let one revision change a key
//     twice).
//   - Keys are limited to Options.MaxKeyBytes (32 KiB by default).
//   - Range sorts stably (ties keep key order).
//   - Watch replay from the compaction revision itself includes a delete
//     made at that revision (etcd loses it with the tombstone).
//   - A nested TxnResponse's header holds the revision reached after it.
//   - Leases have no clock here (see lease.go): the server decides expiry
//     and proposes LeaseRevoke; a keep-alive is a LeaseRenew in the log.
//
// # Encoding
//
// Requests and responses are msgpack (see codec.go); MarshalRequest and
// UnmarshalRequest are the Raft payload codec, with a hand-written Put.
package kv
