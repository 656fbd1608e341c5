// Package natsapi serves a node's key-value and cluster operations over
// NATS, as a micro service (github.com/nats-io/nats.go/micro) named
// "natsraft": `nats micro ls` lists one instance per node, `nats micro info
// natsraft` its endpoints. Any NATS client in any language can use the
// cluster without knowing where its nodes are.
//
// # Endpoints
//
// Every endpoint subscribes in the queue group "natsraft", so exactly one
// node answers each request, whichever it is: writes are forwarded to the
// leader by Raft, reads are linearizable (ReadIndex, confirmed with the
// leader) unless they ask to be serializable (served from the node's own
// state, possibly stale).
//
//	subject                                    body                      answer
//	natsraft.<cluster>.api.range               RangeRequestJSON          RangeResponseJSON
//	natsraft.<cluster>.api.put                 PutRequestJSON            PutResponseJSON
//	natsraft.<cluster>.api.delete              DeleteRequestJSON         DeleteResponseJSON
//	natsraft.<cluster>.api.txn                 TxnRequestJSON            TxnResponseJSON
//	natsraft.<cluster>.api.compact             {"revision":N}            CompactResponseJSON
//	natsraft.<cluster>.api.watch               WatchCreateJSON           WatchCreated (see Watch)
//	natsraft.<cluster>.api.status              (none)                    server.Status
//	natsraft.<cluster>.api.members             (none)                    MembersResponse
//	natsraft.<cluster>.api.members.add-learner {"name":"n4"}             {"ok":true}
//	natsraft.<cluster>.api.members.promote     {"name":"n4"}             {"ok":true}
//	natsraft.<cluster>.api.members.remove      {"name":"n4"}             {"ok":true}
//	natsraft.<cluster>.api.members.transfer-leader {"name":"n2"}         {"ok":true}
//
// A membership change or transfer answers once the cluster accepted it;
// it then commits, or completes, shortly (watch `members` or `status`).
//
// # Bodies: JSON, or msgpack
//
// Bodies are JSON unless the request has the header
// "Content-Type: application/msgpack"; the answer uses the request's
// encoding. By hand:
//
//	nats req natsraft.dev.api.put '{"key":"greeting","value":"hello"}'
//	nats req natsraft.dev.api.range '{"key":"greeting"}'
//	nats req natsraft.dev.api.range '{"key":"app/","prefix":true,"serializable":true}'
//	nats req natsraft.dev.api.txn '{"compare":[{"key":"greeting","version":0}],
//	    "success":[{"put":{"key":"greeting","value":"first"}}]}'
//
// In JSON, keys, range ends and values are strings. Bytes that are not
// UTF-8 go base64-encoded (standard alphabet, padded) in the field of the
// same name with the suffix _b64: a request may give "value_b64" instead of
// "value" (not both); an answer gives "key_b64" / "value_b64" instead of
// "key" / "value" for a key or value that is not valid UTF-8. A range is
// "key" alone, "key" and "range_end" ([key, range_end)), "key" with
// "prefix": true, "prefix": true alone (every key), or "key" with
// "from_key": true (every key >= key). Unknown fields are an error, so
// that a typo does not silently change a request. The Go types
// RangeRequestJSON ... WatchResponseJSON document every field.
//
// In msgpack (the Go client's encoding), a request body is the kv type
// itself (kv.RangeRequest with its Serializable field, kv.PutRequest,
// kv.DeleteRangeRequest, kv.TxnRequest, kv.CompactionRequest, WatchCreate,
// MemberRequest), and an answer is kv's response type (or server.Status,
// MembersResponse, WatchCreated, OKResponse).
//
// # Headers and errors
//
// Every answer carries Natsraft-Revision (the store revision it was made
// at; on an error, the node's current revision) and Natsraft-Node (who
// answered). A request may carry Natsraft-Timeout (milliseconds): the node
// answers "timeout" before it expires; without it the node waits
// Options.RequestTimeout.
//
// An error is a micro error: the headers Nats-Service-Error-Code, a stable
// code (server.ErrorCode: no_leader, busy, stopped, leader_changed,
// timeout, compacted, future_revision, invalid_argument, too_large,
// not_found, membership, internal), and Nats-Service-Error, a message for
// people; the body repeats them as JSON (ErrorBody), with
// compact_revision (and the header Natsraft-Compact-Revision) when a
// compacted error knows it. no_leader, busy, stopped and leader_changed
// mean the node refused the request before it took effect: retry it. A
// write answered "timeout" may or may not be applied.
//
// Nothing a client sends can stop a node: bodies are bounded
// (Options.MaxRequestBytes, and the NATS max payload), msgpack is checked
// for well-formedness and bounded lengths and depth before it is decoded
// (checkMsgpack), every value is validated, at most Options.MaxInflight
// requests are served at once (one more is answered "busy"), and a panic in
// a handler is answered "internal" instead of crashing the process. An
// answer too large for a NATS message is a too_large error (ask with a
// limit). A request needs a reply subject; a plain publish is ignored.
//
// # Watch
//
// A watch streams events to the client's inbox, with credit-based flow
// control and heartbeats both ways:
//
//  1. The client subscribes to an inbox of its own, then requests
//     natsraft.<cluster>.api.watch with the range, start_revision (0: from
//     now), prev_kv, no_put, no_delete, "inbox", "credits" (how many
//     messages the node may send ahead, default 64) and "heartbeat_ms"
//     (default 5000):
//
//     nats sub '_INBOX.me' &
//     nats req natsraft.dev.api.watch '{"key":"app/","prefix":true,"inbox":"_INBOX.me","credits":1000}'
//
//  2. The answer (WatchCreated) gives the watch's "watch_id", its
//     "control" subject (natsraft.<cluster>.api.watchctl.<node id>.<watch
//     id>), the serving "node", and "start_revision", the first revision
//     it sends (a watch from now is resolved to the node's revision + 1).
//
//  3. The node publishes to the inbox. Each message has the headers
//     Natsraft-Watch-Id, Natsraft-Watch-Seq (1, 2, 3... with no gap: a gap
//     means a lost message) and Natsraft-Watch-Kind: "events" (a
//     WatchResponse with events, in revision order), "progress" (a
//     WatchResponse without events: every event up to its header revision
//     was sent), "heartbeat" (no body), or "canceled" (the end: the error
//     headers say why, and the body, if any, is the final WatchResponse).
//     A response too large for one message is split in several, each but
//     the last with Natsraft-Watch-More: 1; join their events.
//
//  4. Flow control: each events or progress message costs a credit;
//     heartbeats and the end are free. With no credit left the node sends
//     nothing but heartbeats (the events wait in the node's bounded buffer,
//     then in history). The client grants credits by publishing
//     {"credits":N} to the control subject as it consumes, {} as a
//     keep-alive, and {"cancel":true} to end the watch.
//
//  5. Liveness: the node sends something at least every heartbeat
//     interval, and asks for a progress notification when idle with
//     credits. The client must publish to the control subject at least
//     every interval. Either side that hears nothing for three intervals
//     considers the other gone: the node cancels the watch; the client
//     resumes. By hand, a long "heartbeat_ms" (at most 600000) keeps a
//     watch alive for three intervals without keep-alives.
//
//  6. Resume: a client that loses the node (silence, a sequence gap, or a
//     "canceled" with a retryable code such as "stopped") starts a new
//     watch, on whichever node answers, from the revision after the last
//     it received in full (after an events message: the last event's
//     revision + 1; after a progress message: its revision + 1). Every node
//     applies the same log, so nothing is missed or repeated. A start below
//     the compaction is refused with "compacted" and the compaction
//     revision.
//
// The Go client (package client) implements all of this.
package natsapi
