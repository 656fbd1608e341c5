package client

import (
	"errors"
	"fmt"

	"github.com/natsraft/natsraft/actor"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/raft"
	"github.com/natsraft/natsraft/server"
)

// Errors, one per stable error code of the server (server.ErrorCode), the
// same values every transport and the service layer return: test them with
// errors.Is. An error that came from a node is an *Error, which also
// carries the code, the node and, for ErrCompacted, the compaction
// revision when the node knew it.
var (
	// ErrNoLeader: the cluster has no leader now. Retried until the call's
	// deadline; returned if no leader appeared by then.
	ErrNoLeader = server.ErrNoLeader
	// ErrBusy: the node refused the request under load. Retried.
	ErrBusy = actor.ErrBusy
	// ErrStopped: the node was shutting down. Retried on another node.
	ErrStopped = server.ErrStopped
	// ErrLeaderChanged: a read lost its leader. Retried.
	ErrLeaderChanged = server.ErrLeaderChanged
	// ErrTimeout: no answer in time. For a write the outcome is unknown:
	// it may have been applied, or may still be (see the package doc).
	ErrTimeout = errors.New("natsraft: request timed out")
	// ErrCompacted: the revision asked for is below the compaction.
	ErrCompacted = kv.ErrCompacted
	// ErrFutureRevision: the revision asked for is not reached yet.
	ErrFutureRevision = kv.ErrFutureRev
	// ErrInvalidArgument: the request is malformed; the message says how.
	ErrInvalidArgument = kv.ErrInvalidRequest
	// ErrTooLarge: a key, a value, the request or the response is too large.
	ErrTooLarge = errors.New("natsraft: too large")
	// ErrNotFound: a put with IgnoreValue or IgnoreLease on a missing key.
	ErrNotFound = kv.ErrKeyNotFound
	// ErrMembership: a membership change was refused.
	ErrMembership = raft.ErrConfChangeInvalid
	// ErrInternal: a bug or a storage failure on the node.
	ErrInternal = errors.New("natsraft: internal error")

	// ErrUnavailable: no node of the cluster answers on NATS (none runs the
	// service, or the cluster name is wrong). Retried until the deadline.
	ErrUnavailable = errors.New("natsraft: no node answers (is the cluster running, and named right?)")
)

// sentinels maps each code to its error value.
var sentinels = map[server.ErrorCode]error{
	server.CodeNoLeader: ErrNoLeader, server.CodeBusy: ErrBusy, server.CodeStopped: ErrStopped,
	server.CodeLeaderChanged: ErrLeaderChanged, server.CodeTimeout: ErrTimeout,
	server.CodeCompacted: ErrCompacted, server.CodeFutureRevision: ErrFutureRevision,
	server.CodeInvalidArgument: ErrInvalidArgument, server.CodeTooLarge: ErrTooLarge,
	server.CodeNotFound: ErrNotFound, server.CodeMembership: ErrMembership,
	server.CodeInternal: ErrInternal,
}

// Error is an error answered by a node.
type Error struct {
	Code    server.ErrorCode
	Message string // for people
	Node    string // the node that answered
	// Revision is the node's revision when it answered.
	Revision int64
	// CompactRevision is set on ErrCompacted when the node knew it.
	CompactRevision int64
}

func (e *Error) Error() string {
	return fmt.Sprintf("natsraft: %s (%s)", e.Message, e.Code)
}

// Is makes errors.Is(err, ErrNoLeader) (and so on) true for the code's value.
func (e *Error) Is(target error) bool {
	s, ok := sentinels[e.Code]
	if !ok {
		s = ErrInternal // a code this client does not know yet
	}
	return target == s
}

// CodeOf returns the code of an error returned by the client, or
// server.CodeInternal for an error that has none.
func CodeOf(err error) server.ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	for code, s := range sentinels {
		if errors.Is(err, s) {
			return code
		}
	}
	return server.CodeInternal
}

// unknownOutcome wraps the error of a write that may have been applied.
func unknownOutcome(cause error) error {
	return fmt.Errorf("%w, the write may or may not be applied: %w", ErrTimeout, cause)
}
