// Package httpapi is the HTTP adapter of a node's service layer
// (server.Node): a small JSON API for curl and scripts, next to the
// health and status endpoints of server.StatusHandler. docs/api.md is the
// user's reference, with examples; this comment is the contract in brief.
//
// # Endpoints
//
//	GET    /v1/kv/{key}     read one key (404 when absent); ?prefix=true or ?range_end= for a range
//	PUT    /v1/kv/{key}     body = value; ?prev_kv=true, ?lease=N
//	DELETE /v1/kv/{key}     ?prev_kv=true; ?prefix=true or ?range_end= for a range
//	GET    /v1/kv           ?prefix=P or ?key=K[&range_end=E]: a range (200 even when empty)
//	DELETE /v1/kv           the same selectors
//	POST   /v1/txn          a JSON transaction
//	POST   /v1/compact      {"revision":N,"physical":bool}
//	GET    /v1/watch        ?key= or ?prefix=, start_revision, prev_kv, no_put, no_delete: a stream
//	GET    /v1/members      the applied membership and the leader
//	POST   /v1/members      {"action":"add-learner|promote|remove|transfer-leader","name":"n4"}: 202
//	GET    /healthz, /readyz, /v1/status   server.StatusHandler
//
// Reads take limit, keys_only, count_only, revision, sort_order,
// sort_target and serializable (a local read; linearizable otherwise).
// Unknown or repeated query parameters and unknown JSON fields are refused:
// a typo must not change what a request does.
//
// The key of /v1/kv/{key} is the rest of the path after percent-decoding,
// byte for byte: this handler routes by hand because http.ServeMux would
// clean "//" and ".." out of keys such as "/registry/pods".
//
// # Encoding
//
// Keys and values are JSON strings. As text (the default) a string is the
// bytes; with ?encoding=base64 every key, range end, prefix and value in
// the path, the query, the JSON request and the JSON response is standard
// base64 (URL-safe and unpadded are accepted on input). A PUT body is the
// value's raw bytes in both modes.
//
// # Responses
//
// Every response carries the revision it was generated at in the
// X-Natsraft-Revision header and, in a JSON body, in "header":
// {"revision":N}. An error is {"header":…,"error":{"code":…,"message":…,
// "retryable":…}} with the code of server.ErrorCode and the status of
// statusOfCode: 400 invalid_argument and future_revision, 404 not_found,
// 405 (wrong method), 409 membership, 410 compacted, 413 too_large,
// 503 no_leader, busy, stopped and leader_changed (with Retry-After),
// 504 timeout (a write's outcome is then unknown), 500 internal.
// Requests other than watches end after Options.RequestTimeout.
//
// # Watch streams
//
// JSON lines (application/x-ndjson), or server-sent events when the
// client accepts text/event-stream, each line one of
//
//	{"header":{"revision":R},"created":true}                 first
//	{"header":{"revision":R},"events":[{"type":"put","kv":{…},"prev_kv":{…}}]}
//	{"header":{"revision":R},"progress":true}                 every event <= R was sent
//	{"header":{"revision":R},"canceled":true,"error":{…}}     last
//
// An idle stream gets a progress line every WatchProgressInterval. An
// SSE's id is the revision up to which every event was sent (the last
// event's mod_revision, or a progress revision); a reconnecting
// EventSource sends it back as Last-Event-ID and resumes after it. A
// client resumes on any node with start_revision = that revision + 1.
package httpapi
