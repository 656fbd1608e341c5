package natsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/natsraft/natsraft/actor"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// Defaults of Options.
const (
	DefaultMaxInflight       = 1024
	DefaultRequestTimeout    = 5 * time.Second
	DefaultMaxRequestTimeout = time.Minute
	DefaultMaxWatches        = 10000
)

// Options configure the service of one node. The zero value means "all
// defaults".
type Options struct {
	// Cluster scopes the subjects; default: the node's cluster name.
	Cluster string
	// MaxInflight bounds the requests a node serves at once; one more is
	// answered "busy" at once (backpressure, never unbounded memory).
	MaxInflight int
	// RequestTimeout bounds a request that carries no Natsraft-Timeout
	// header (a request by hand); MaxRequestTimeout bounds any request.
	RequestTimeout    time.Duration
	MaxRequestTimeout time.Duration
	// MaxRequestBytes bounds a request body; default: the connection's max
	// payload (the NATS server refuses larger messages anyway).
	MaxRequestBytes int
	// MaxWatches bounds the watches a node serves at once.
	MaxWatches int
	// Logger receives the service's logs; nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults(nc *nats.Conn, st server.Status) {
	if o.Cluster == "" {
		o.Cluster = st.Cluster
	}
	setDefault(&o.MaxInflight, DefaultMaxInflight)
	setDefault(&o.MaxWatches, DefaultMaxWatches)
	setDefault(&o.MaxRequestBytes, int(nc.MaxPayload()))
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxRequestTimeout <= 0 {
		o.MaxRequestTimeout = DefaultMaxRequestTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

func setDefault(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

// backend is the service layer the API adapts; *server.Node implements it.
type backend interface {
	Write(ctx context.Context, req *kv.Request) (*kv.Response, error)
	Range(ctx context.Context, req *kv.RangeRequest, serializable bool) (*kv.RangeResponse, error)
	Watch(req kv.WatchRequest) (*kv.Watcher, error)
	Status() server.Status
	Members() []server.Member
	AddLearner(ctx context.Context, name string) error
	PromoteMember(ctx context.Context, name string) error
	RemoveMember(ctx context.Context, name string) error
	TransferLeadership(ctx context.Context, name string) error
	Done() <-chan struct{}
	ID() uint64
}

// api serves one node's endpoints.
type api struct {
	nc       *nats.Conn
	node     backend
	opts     Options
	name     string // the node's member name
	log      *slog.Logger
	inflight chan struct{} // a token per request being served
	idle     chan work     // workers waiting for a request (see worker)
	stopped  chan struct{} // closed when the service stops
	watches  *watchTable
	svc      micro.Service
	nodeSubs []*nats.Subscription // NodeSubject of every endpoint
}

// Register starts the natsraft micro service of node on nc: every endpoint
// of Endpoints on natsraft.<cluster>.api.<endpoint> in queue group
// "natsraft", so that one node of the cluster answers each request. The
// service stops with Stop or when nc closes; its watches end then.
func Register(nc *nats.Conn, node *server.Node, opts Options) (micro.Service, error) {
	a, err := register(nc, node, opts)
	if err != nil {
		return nil, err
	}
	return a.svc, nil
}

func register(nc *nats.Conn, node backend, opts Options) (*api, error) {
	st := node.Status()
	opts.setDefaults(nc, st)
	a := &api{nc: nc, node: node, opts: opts, name: st.Name,
		log:      opts.Logger.With("component", "natsapi"),
		inflight: make(chan struct{}, opts.MaxInflight), idle: make(chan work), stopped: make(chan struct{})}
	a.watches = newWatchTable(a)
	svc, err := micro.AddService(nc, micro.Config{
		Name: ServiceName, Version: ServiceVersion, QueueGroup: QueueGroup,
		Description: "natsraft key-value store: range, put, delete, txn, compact, watch, status, members",
		Metadata:    map[string]string{"cluster": opts.Cluster, "node": st.Name},
		DoneHandler: func(micro.Service) { a.watches.closeAll(); a.unsubscribeNode(); close(a.stopped) },
	})
	if err != nil {
		return nil, fmt.Errorf("natsapi: %w", err)
	}
	if err := a.addEndpoints(svc); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	if err := a.watches.subscribe(); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	a.svc = svc
	// On return the endpoints are known to the NATS server: a request sent
	// next finds them.
	if err := nc.Flush(); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("natsapi: %w", err)
	}
	return a, nil
}

func (a *api) addEndpoints(svc micro.Service) error {
	handlers := map[string]func(*call) (reply, error){
		EndpointRange: a.rangeKeys, EndpointPut: a.put, EndpointDelete: a.deleteRange,
		EndpointTxn: a.txn, EndpointCompact: a.compact, EndpointWatch: a.watch,
		EndpointStatus: a.status, EndpointMembers: a.members,
		EndpointAddLearner: a.memberChange(backend.AddLearner),
		EndpointPromote:    a.memberChange(backend.PromoteMember),
		EndpointRemove:     a.memberChange(backend.RemoveMember),
		EndpointTransfer:   a.memberChange(backend.TransferLeadership),
	}
	for _, endpoint := range Endpoints {
		name := strings.ReplaceAll(endpoint, ".", "-") // micro names have no dots
		err := svc.AddEndpoint(name, a.handler(handlers[endpoint]),
			micro.WithEndpointSubject(Subject(a.opts.Cluster, endpoint)))
		if err != nil {
			return fmt.Errorf("natsapi: endpoint %s: %w", endpoint, err)
		}
		sub, err := a.nc.Subscribe(NodeSubject(a.opts.Cluster, a.name, endpoint), a.nodeHandler(handlers[endpoint]))
		if err != nil {
			return fmt.Errorf("natsapi: node endpoint %s: %w", endpoint, err)
		}
		a.nodeSubs = append(a.nodeSubs, sub)
	}
	return nil
}

// unsubscribeNode ends the node-only subscriptions with the service.
func (a *api) unsubscribeNode() {
	for _, sub := range a.nodeSubs {
		_ = sub.Unsubscribe()
	}
}

// call is one request being served. It is answered by publishing to its
// reply subject: micro's Request may not be used once its handler has
// returned, and the handlers run on goroutines of their own.
type call struct {
	ctx     context.Context
	subject string
	reply   string
	data    []byte
	header  micro.Headers
	msgpack bool     // the request (and so the response) is msgpack
	scratch *scratch // of the worker serving the call; nil until then
}

// reply is a handler's answer: the msgpack value (its JSON form: see
// jsonForm).
type reply struct {
	revision int64
	value    any
}

// handler runs h for each request on its own goroutine, at most
// MaxInflight at once: micro calls handlers one at a time per endpoint,
// and a write waits for a Raft commit.
func (a *api) handler(h func(*call) (reply, error)) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		a.accept(r.Subject(), r.Reply(), r.Data(), r.Headers(), h)
	})
}

// nodeHandler serves the same endpoint on this node's own subject.
func (a *api) nodeHandler(h func(*call) (reply, error)) nats.MsgHandler {
	return func(m *nats.Msg) {
		a.accept(m.Subject, m.Reply, m.Data, micro.Headers(m.Header), h)
	}
}

func (a *api) accept(subject, replyTo string, data []byte, header micro.Headers, h func(*call) (reply, error)) {
	if replyTo == "" {
		return // a publish, not a request: nobody to answer
	}
	w := work{h: h, c: call{subject: subject, reply: replyTo, data: data, header: header,
		msgpack: header.Get(HeaderContentType) == ContentTypeMsgpack}}
	select {
	case a.inflight <- struct{}{}:
	default:
		a.refuseBusy(w.c)
		return
	}
	select {
	case a.idle <- w:
	default:
		go a.worker(w)
	}
}

// refuseBusy answers a request beyond MaxInflight; it takes the call by
// value so that only this path allocates it.
func (a *api) refuseBusy(c call) {
	a.respondError(&c, busyError{inflight: cap(a.inflight)})
}

// errMismatchedResponse: the service layer answered a write with a
// response of another kind (a bug, reported as internal).
var errMismatchedResponse = errors.New("natsapi: the node answered with a response of another kind")

// busyError refuses a request beyond MaxInflight; it is the server's busy
// error (errors.Is actor.ErrBusy), so its code is "busy".
type busyError struct{ inflight int }

func (e busyError) Error() string {
	return fmt.Sprintf("node busy: %d requests in flight; retry later", e.inflight)
}

func (e busyError) Is(target error) bool { return target == actor.ErrBusy }

func (a *api) serve(c *call, h func(*call) (reply, error)) {
	defer a.recoverPanic(c)
	if n := len(c.data); n > a.opts.MaxRequestBytes {
		a.respondError(c, fmt.Errorf("%w: a body of %d bytes, limit %d", kv.ErrRequestTooLarge, n, a.opts.MaxRequestBytes))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout(c.header))
	defer cancel()
	c.ctx = ctx
	rep, err := h(c)
	if err != nil {
		a.respondError(c, err)
		return
	}
	a.respond(c, rep)
}

// timeout is the request's own (Natsraft-Timeout), bounded.
func (a *api) timeout(h micro.Headers) time.Duration {
	ms, err := strconv.ParseInt(h.Get(HeaderTimeout), 10, 64)
	switch {
	case err != nil || ms <= 0:
		return a.opts.RequestTimeout
	case ms > a.opts.MaxRequestTimeout.Milliseconds():
		return a.opts.MaxRequestTimeout
	}
	return time.Duration(ms) * time.Millisecond
}

// recoverPanic answers instead of crashing the process: nothing a client
// sends may stop a node. A panic here is a bug (or a read racing the
// node's shutdown), never half-updated node state: the node actor is
// elsewhere.
func (a *api) recoverPanic(c *call) {
	v := recover()
	if v == nil {
		return
	}
	select {
	case <-a.node.Done():
		a.respondError(c, server.ErrStopped)
		return
	default:
	}
	a.log.Error("request handler panicked", "subject", c.subject, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	a.respondError(c, fmt.Errorf("internal error: %v", v))
}

// respond answers a worker's call with rep.
func (a *api) respond(c *call, rep reply) {
	data, err := a.encode(c, rep.value)
	if err != nil {
		a.respondError(c, err)
		return
	}
	a.publish(c, data, a.headers(c, rep.revision))
}

func (a *api) publish(c *call, data []byte, h nats.Header) {
	if err := a.nc.PublishMsg(&nats.Msg{Subject: c.reply, Data: data, Header: h}); err != nil {
		a.log.Debug("responding failed", "subject", c.subject, "err", err)
	}
}

// encode encodes a reply's value, refusing one that NATS could not carry.
func (a *api) encode(c *call, v any) ([]byte, error) {
	var data []byte
	var err error
	if c.msgpack {
		data, err = c.scratch.marshal(v)
	} else {
		data, err = marshal(false, jsonForm(v))
	}
	if err != nil {
		return nil, err
	}
	if limit := a.payloadLimit(); len(data) > limit {
		return nil, fmt.Errorf("%w: the response is %d bytes, more than a NATS message carries (%d): "+
			"ask for less (limit, keys_only, a narrower range)", kv.ErrRequestTooLarge, len(data), limit)
	}
	return data, nil
}

// payloadLimit is the largest body a message may carry, with room left
// for the headers.
func (a *api) payloadLimit() int {
	const headerRoomBytes = 1024
	return int(a.nc.MaxPayload()) - headerRoomBytes
}

// headers are a response's headers, in the worker's map: valid until the
// worker's next response.
func (a *api) headers(c *call, revision int64) nats.Header {
	st := a.node.Status() // a copy of the latest published status, no lock
	return c.scratch.responseHeader(c.msgpack, revision, st.Leader, st.LeaderID != 0)
}

// respondError answers with a micro error: the stable code, a message for
// people, the node's revision, and the same as a JSON ErrorBody.
func (a *api) respondError(c *call, err error) {
	body := errorBody(err, a.node.Status().Revision)
	if body.Code == server.CodeInternal {
		a.log.Warn("request failed", "subject", c.subject, "err", err)
	}
	h := errorHeaders(body)
	h[HeaderNode] = []string{a.name}
	h[HeaderContentType] = []string{ContentTypeJSON}
	data, _ := marshal(false, body)
	a.publish(c, data, h)
}

// errorBody describes err for a client.
func errorBody(err error, revision int64) ErrorBody {
	err = normalizeError(err)
	body := ErrorBody{Code: server.CodeOf(err), Message: err.Error(), Revision: revision}
	var ce *kv.CompactedError
	if errors.As(err, &ce) {
		body.CompactRevision = ce.CompactRevision
	}
	if body.Code == server.CodeTimeout {
		body.Message = "the request timed out on the node: a write may or may not have been applied (" + body.Message + ")"
	}
	return body
}

// normalizeError gives the errors of this package and of kv that the
// server's code table does not know their codes' errors.
func normalizeError(err error) error {
	switch {
	case errors.Is(err, errMsgpack):
		return fmt.Errorf("%w: %w", kv.ErrInvalidRequest, err)
	case errors.Is(err, kv.ErrClosed):
		return fmt.Errorf("%w: %w", server.ErrStopped, err)
	}
	return err
}

// errorHeaders are micro's error headers (Nats-Service-Error-Code with our
// stable code, Nats-Service-Error) and the revisions.
func errorHeaders(body ErrorBody) nats.Header {
	h := nats.Header{
		HeaderErrorCode: {string(body.Code)},
		HeaderError:     {headerSafe(body.Message)},
		HeaderRevision:  {strconv.FormatInt(body.Revision, 10)},
	}
	if body.CompactRevision > 0 {
		h[HeaderCompactRevision] = []string{strconv.FormatInt(body.CompactRevision, 10)}
	}
	return h
}

// headerSafe makes s a valid NATS header value: one line, bounded.
func headerSafe(s string) string {
	const maxBytes = 1024
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxBytes {
		s = s[:maxBytes]
	}
	return s
}
