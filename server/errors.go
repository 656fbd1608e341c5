package server

import (
	"context"
	"errors"

	"github.com/natsraft/natsraft/actor"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/raft"
)

// ErrorCode is the stable, transport-independent name of an error, used
// by the NATS API (micro error code), the HTTP API (with a status) and the
// Go client (which maps codes back to the same error values).
type ErrorCode string

// Error codes. A client may rely on them; the messages are for people.
const (
	CodeNoLeader        ErrorCode = "no_leader"        // retry later
	CodeBusy            ErrorCode = "busy"             // node overloaded: retry later
	CodeStopped         ErrorCode = "stopped"          // node shutting down: use another
	CodeLeaderChanged   ErrorCode = "leader_changed"   // retry
	CodeTimeout         ErrorCode = "timeout"          // outcome unknown for writes
	CodeCompacted       ErrorCode = "compacted"        // revision below the compaction
	CodeFutureRevision  ErrorCode = "future_revision"  // revision not reached yet
	CodeInvalidArgument ErrorCode = "invalid_argument" // the request is malformed
	CodeTooLarge        ErrorCode = "too_large"        // key, value or request too large
	CodeNotFound        ErrorCode = "not_found"        // no such key (IgnoreValue/IgnoreLease) or lease
	CodeMembership      ErrorCode = "membership"       // a membership change was refused
	CodeInternal        ErrorCode = "internal"         // a bug or a storage failure
)

// codeOf maps errors to codes; the first match wins.
var codeOf = []struct {
	err  error
	code ErrorCode
}{
	{ErrOutcomeUnknown, CodeTimeout}, // before ErrStopped, which it wraps
	{ErrLeaderLost, CodeTimeout},
	{ErrNoLeader, CodeNoLeader},
	{raft.ErrProposalDropped, CodeNoLeader},
	{ErrLeaderChanged, CodeLeaderChanged},
	{actor.ErrBusy, CodeBusy},
	{actor.ErrStopped, CodeStopped},
	{ErrStopped, CodeStopped},
	{context.DeadlineExceeded, CodeTimeout},
	{context.Canceled, CodeTimeout},
	{kv.ErrCompacted, CodeCompacted},
	{kv.ErrFutureRev, CodeFutureRevision},
	{kv.ErrKeyTooLarge, CodeTooLarge},
	{kv.ErrValueTooLarge, CodeTooLarge},
	{kv.ErrRequestTooLarge, CodeTooLarge},
	{kv.ErrKeyNotFound, CodeNotFound},
	{kv.ErrLeaseNotFound, CodeNotFound},
	{kv.ErrLeaseExists, CodeInvalidArgument},
	{kv.ErrLeaseTTLTooLarge, CodeInvalidArgument},
	{kv.ErrEmptyKey, CodeInvalidArgument},
	{kv.ErrTooManyOps, CodeInvalidArgument},
	{kv.ErrDuplicateKey, CodeInvalidArgument},
	{kv.ErrValueProvided, CodeInvalidArgument},
	{kv.ErrLeaseProvided, CodeInvalidArgument},
	{kv.ErrInvalidRequest, CodeInvalidArgument},
	{raft.ErrConfChangePending, CodeMembership},
	{raft.ErrConfChangeInvalid, CodeMembership},
}

// CodeOf returns the stable code of err (CodeInternal if unknown).
func CodeOf(err error) ErrorCode {
	for _, c := range codeOf {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return CodeInternal
}

// Retryable reports whether a client may retry the request elsewhere or
// later without risk: the node refused it before it could take effect.
func (c ErrorCode) Retryable() bool {
	switch c {
	case CodeNoLeader, CodeBusy, CodeStopped, CodeLeaderChanged:
		return true
	}
	return false
}
