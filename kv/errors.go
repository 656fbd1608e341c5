package kv

import (
	"errors"
	"fmt"
)

// Errors returned to clients. Where etcd has the same error, the text is
// etcd's, so that the etcd API layer can map them one to one (errors.Is).
var (
	// ErrCompacted: the requested revision is below the compaction revision.
	// A watch refused for this reason returns a *CompactedError that also
	// carries the compaction revision.
	ErrCompacted = errors.New("mvcc: required revision has been compacted")
	// ErrFutureRev: the requested revision is above the current revision.
	ErrFutureRev = errors.New("mvcc: required revision is a future revision")
	// ErrEmptyKey: a key is required and was empty.
	ErrEmptyKey = errors.New("etcdserver: key is not provided")
	// ErrKeyTooLarge: a key (or range end) is longer than Options.MaxKeyBytes.
	ErrKeyTooLarge = errors.New("kv: key is too large")
	// ErrValueTooLarge: a value is longer than Options.MaxValueBytes.
	ErrValueTooLarge = errors.New("kv: value is too large")
	// ErrRequestTooLarge: the request is larger than Options.MaxRequestBytes.
	ErrRequestTooLarge = errors.New("etcdserver: request is too large")
	// ErrTooManyOps: a Txn has more compares, or more ops in a branch, than
	// Options.MaxTxnOps, or is nested deeper than maxTxnDepth.
	ErrTooManyOps = errors.New("etcdserver: too many operations in txn request")
	// ErrDuplicateKey: a Txn writes the same key twice (two puts, or a put
	// inside a deleted range) on one path.
	ErrDuplicateKey = errors.New("etcdserver: duplicate key given in txn request")
	// ErrKeyNotFound: a Put with IgnoreValue or IgnoreLease names a key that
	// does not exist.
	ErrKeyNotFound = errors.New("etcdserver: key not found")
	// ErrValueProvided: a Put with IgnoreValue also carries a value.
	ErrValueProvided = errors.New("etcdserver: value is provided")
	// ErrLeaseProvided: a Put with IgnoreLease also carries a lease.
	ErrLeaseProvided = errors.New("etcdserver: lease is provided")
	// ErrLeaseNotFound: a Put, LeaseRevoke or LeaseRenew names a lease that
	// does not exist (etcd's rpctypes text).
	ErrLeaseNotFound = errors.New("etcdserver: requested lease not found")
	// ErrLeaseExists: a LeaseGrant names a lease that exists.
	ErrLeaseExists = errors.New("etcdserver: lease already exists")
	// ErrLeaseTTLTooLarge: a LeaseGrant's TTL is above MaxLeaseTTL.
	ErrLeaseTTLTooLarge = errors.New("etcdserver: too large lease TTL")
	// ErrInvalidRequest: a request is malformed (no operation or several, an
	// unknown enum value). The wrapped text says what.
	ErrInvalidRequest = errors.New("kv: invalid request")
	// ErrWatchCanceled: the watcher was canceled by its owner.
	ErrWatchCanceled = errors.New("kv: watch canceled")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("kv: store closed")
	// ErrCorruptSnapshot: a snapshot stream is truncated or fails its checksum.
	ErrCorruptSnapshot = errors.New("kv: corrupt snapshot")
)

// CompactedError is ErrCompacted with the compaction revision, returned when a
// watch starts (or falls back to history) below it. etcd reports that
// revision to the client in WatchResponse.CompactRevision.
type CompactedError struct {
	CompactRevision int64
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("%v (compact revision %d)", ErrCompacted, e.CompactRevision)
}

// Is makes errors.Is(err, ErrCompacted) true.
func (e *CompactedError) Is(target error) bool { return target == ErrCompacted }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}
