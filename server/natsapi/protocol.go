package natsapi

import (
	"strconv"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// Every subject, header and wire type of the NATS API is here, shared by the
// service and the Go client (package client).
const (
	// ServiceName is the micro service name every node registers.
	ServiceName = "natsraft"
	// ServiceVersion is the version of the API shown by `nats micro info`.
	ServiceVersion = "0.1.0"
	// QueueGroup is the queue group of every endpoint: one node answers.
	QueueGroup = "natsraft"

	subjectRoot         = "natsraft"
	subjectAPI          = "api"
	subjectWatchControl = "watchctl"
)

// Endpoints, named as micro endpoints; the subject is
// natsraft.<cluster>.api.<subject token(s)> (see Subject).
const (
	EndpointRange      = "range"
	EndpointPut        = "put"
	EndpointDelete     = "delete"
	EndpointTxn        = "txn"
	EndpointCompact    = "compact"
	EndpointWatch      = "watch"
	EndpointStatus     = "status"
	EndpointMembers    = "members"
	EndpointAddLearner = "members.add-learner"
	EndpointPromote    = "members.promote"
	EndpointRemove     = "members.remove"
	EndpointTransfer   = "members.transfer-leader"
)

// Endpoints lists every endpoint (for documentation and tests).
var Endpoints = []string{
	EndpointRange, EndpointPut, EndpointDelete, EndpointTxn, EndpointCompact, EndpointWatch,
	EndpointStatus, EndpointMembers, EndpointAddLearner, EndpointPromote, EndpointRemove, EndpointTransfer,
}

// Subject is the subject of an endpoint of cluster.
func Subject(cluster, endpoint string) string {
	return subjectRoot + "." + cluster + "." + subjectAPI + "." + endpoint
}

// NodeSubject is endpoint on one node only:
// natsraft.<cluster>.api.node.<member name>.<endpoint>. A client that
// knows the leader (HeaderLeader) sends writes and linearizable reads
// there, saving the hop a follower would add by forwarding; the queue
// subject stays the fallback.
func NodeSubject(cluster, node, endpoint string) string {
	return subjectRoot + "." + cluster + "." + subjectAPI + ".node." + node + "." + endpoint
}

// watchControlSubject is where a watch's client sends credits and cancels:
// natsraft.<cluster>.api.watchctl.<node id>.<watch id>. It is under
// natsraft.<cluster>.api.> like every subject a client publishes to, so
// one permission covers the API.
func watchControlSubject(cluster string, node uint64, id string) string {
	return watchControlPrefix(cluster, node) + id
}

func watchControlPrefix(cluster string, node uint64) string {
	return Subject(cluster, subjectWatchControl) + "." + strconv.FormatUint(node, 10) + "."
}

// Headers.
const (
	// HeaderContentType selects the body encoding of a request (and so of
	// its response): ContentTypeMsgpack, or JSON when absent.
	HeaderContentType  = "Content-Type"
	ContentTypeJSON    = "application/json"
	ContentTypeMsgpack = "application/msgpack"

	// HeaderRevision is on every response: the node's store revision the
	// response was made at (for an error, the node's current revision).
	HeaderRevision = "Natsraft-Revision"
	// HeaderCompactRevision is on a compacted error when the compaction
	// revision is known.
	HeaderCompactRevision = "Natsraft-Compact-Revision"
	// HeaderNode names the node that answered.
	HeaderNode = "Natsraft-Node"
	// HeaderLeader names the leader as the answering node knows it
	// (absent when it knows none).
	HeaderLeader = "Natsraft-Leader"
	// HeaderTimeout is how long, in milliseconds, the client waits for the
	// answer; the node answers "timeout" before then.
	HeaderTimeout = "Natsraft-Timeout"
	// HeaderErrorCode and HeaderError are micro's error headers: the code is
	// a stable server.ErrorCode string, the description is for people.
	HeaderErrorCode = "Nats-Service-Error-Code"
	HeaderError     = "Nats-Service-Error"

	// Watch message headers.
	HeaderWatchID   = "Natsraft-Watch-Id"
	HeaderWatchSeq  = "Natsraft-Watch-Seq"
	HeaderWatchKind = "Natsraft-Watch-Kind"
	// HeaderWatchMore marks a message whose response continues in the next
	// message (a response larger than the NATS max payload is split).
	HeaderWatchMore = "Natsraft-Watch-More"
)

// Kinds of watch messages (HeaderWatchKind).
const (
	// WatchKindEvents carries a WatchResponse with events (one credit).
	WatchKindEvents = "events"
	// WatchKindProgress carries a WatchResponse without events: every event
	// up to its header revision has been sent (one credit).
	WatchKindProgress = "progress"
	// WatchKindHeartbeat has no body and costs no credit: the node is alive.
	WatchKindHeartbeat = "heartbeat"
	// WatchKindCanceled ends the watch: the error headers say why; a body,
	// when present, is the final WatchResponse (compact revision). No credit.
	WatchKindCanceled = "canceled"
)

// WatchCreate asks a node to start a watch publishing to Inbox.
type WatchCreate struct {
	Watch kv.WatchRequest `msgpack:"watch"`
	// Inbox is the subject the node publishes the watch's messages to.
	Inbox string `msgpack:"inbox"`
	// Credits is the initial number of messages the node may send
	// (heartbeats and the final cancel are free).
	Credits int `msgpack:"credits"`
	// HeartbeatMillis is how often each side shows it is alive; either
	// side gives up on the other after three intervals of silence.
	HeartbeatMillis int `msgpack:"heartbeat_ms"`
}

// WatchCreated answers a WatchCreate.
type WatchCreated struct {
	ID string `msgpack:"watch_id" json:"watch_id"`
	// Control is the subject for WatchControl messages.
	Control string `msgpack:"control" json:"control"`
	Node    string `msgpack:"node" json:"node"`
	// StartRevision is the first revision the watch sends events of (a
	// request for "from now" is resolved to the node's revision + 1).
	StartRevision   int64 `msgpack:"start_revision" json:"start_revision"`
	Credits         int   `msgpack:"credits" json:"credits"`
	HeartbeatMillis int   `msgpack:"heartbeat_ms" json:"heartbeat_ms"`
}

// WatchControl is what a watch's client publishes to the Control subject:
// more credits, a keep-alive (no credits), or a cancel. Always JSON, or
// msgpack when the message carries the msgpack Content-Type.
type WatchControl struct {
	Credits int  `msgpack:"credits,omitempty" json:"credits,omitempty"`
	Cancel  bool `msgpack:"cancel,omitempty" json:"cancel,omitempty"`
}

// MemberRequest names the member of a membership change or the target of a
// leadership transfer.
type MemberRequest struct {
	Name string `msgpack:"name" json:"name"`
}

// MembersResponse lists the applied membership.
type MembersResponse struct {
	Members []server.Member `msgpack:"members" json:"members"`
}

// OKResponse answers a membership change or transfer the node accepted.
type OKResponse struct {
	OK bool `msgpack:"ok" json:"ok"`
}

// ErrorBody is the JSON body of every error response (the headers carry the
// same code and message).
type ErrorBody struct {
	Code            server.ErrorCode `json:"code"`
	Message         string           `json:"message"`
	Revision        int64            `json:"revision,omitempty"`
	CompactRevision int64            `json:"compact_revision,omitempty"`
}
