package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// apiError is an error the HTTP layer decides itself, such as a malformed
// query, with its status.
type apiError struct {
	status int
	code   server.ErrorCode
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code server.ErrorCode, format string, args ...any) error {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, server.CodeInvalidArgument, format, args...)
}

// statusOfCode is the HTTP status of each error code. A compacted revision
// is gone for good (410); a future one is a client error (400) that a
// serializable read on a lagging follower may also see.
var statusOfCode = map[server.ErrorCode]int{
	server.CodeNoLeader:        http.StatusServiceUnavailable,
	server.CodeBusy:            http.StatusServiceUnavailable,
	server.CodeStopped:         http.StatusServiceUnavailable,
	server.CodeLeaderChanged:   http.StatusServiceUnavailable,
	server.CodeTimeout:         http.StatusGatewayTimeout,
	server.CodeCompacted:       http.StatusGone,
	server.CodeFutureRevision:  http.StatusBadRequest,
	server.CodeInvalidArgument: http.StatusBadRequest,
	server.CodeTooLarge:        http.StatusRequestEntityTooLarge,
	server.CodeNotFound:        http.StatusNotFound,
	server.CodeMembership:      http.StatusConflict,
	server.CodeInternal:        http.StatusInternalServerError,
}

// retryAfterSeconds is the Retry-After of a retryable error: about an
// election timeout, after which a new leader is usually known.
const retryAfterSeconds = "1"

// errorBody is the JSON of every error response.
type errorBody struct {
	withHeader
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    server.ErrorCode `json:"code"`
	Message string           `json:"message"`
	// Retryable: the request did not take effect; retry it (after
	// Retry-After, or on another node).
	Retryable bool `json:"retryable"`
	// CompactRevision is set on a watch refused or ended by a compaction.
	CompactRevision int64 `json:"compact_revision,omitempty"`
}

// describe maps err to its status and JSON detail.
func describe(err error) (int, errorDetail) {
	var ae *apiError
	var tooLarge *http.MaxBytesError
	var d errorDetail
	switch {
	case errors.As(err, &ae):
		d = errorDetail{Code: ae.code, Message: ae.msg}
	case errors.As(err, &tooLarge):
		d = errorDetail{Code: server.CodeTooLarge,
			Message: fmt.Sprintf("the request body is larger than %d bytes", tooLarge.Limit)}
	default:
		d = errorDetail{Code: server.CodeOf(err), Message: err.Error()}
		if errors.Is(err, kv.ErrClosed) {
			d.Code = server.CodeStopped
		}
	}
	d.Retryable = d.Code.Retryable()
	var compacted *kv.CompactedError
	if errors.As(err, &compacted) {
		d.CompactRevision = compacted.CompactRevision
	}
	status, ok := statusOfCode[d.Code]
	if ae != nil {
		status, ok = ae.status, true
	}
	if !ok {
		status = http.StatusInternalServerError
	}
	return status, d
}

// fail answers err as a JSON error, with the node's current revision.
func (a *api) fail(w http.ResponseWriter, err error) {
	status, d := describe(err)
	if d.Retryable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	rev := a.n.Status().Revision
	body := &errorBody{Error: d}
	body.setRevision(rev)
	writeJSON(w, status, rev, body)
}
