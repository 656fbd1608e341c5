package httpapi

import (
	"cmp"
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// Defaults of Options.
const (
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxBodyBytes leaves room for a value at kv's request limit
	// written as base64 inside a JSON transaction; kv then checks the
	// decoded request against its own limits.
	DefaultMaxBodyBytes          = 2 * kv.DefaultMaxRequestBytes
	DefaultWatchProgressInterval = 10 * time.Second
	DefaultWatchWriteTimeout     = 30 * time.Second
	DefaultMaxWatches            = 1024
)

// Options configure the HTTP API. The zero value means "all defaults".
type Options struct {
	// RequestTimeout bounds every request except watch streams: a read or
	// write still waiting then (a leader that vanished) answers 504.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a request body; a larger one answers 413.
	MaxBodyBytes int64
	// WatchProgressInterval: an idle watch stream gets a progress line
	// this often, so proxies keep it open and the client learns a resume
	// revision.
	WatchProgressInterval time.Duration
	// WatchWriteTimeout: a watch stream whose client takes no line for
	// this long is closed.
	WatchWriteTimeout time.Duration
	// MaxWatches bounds the open watch streams; one more answers 503.
	MaxWatches int
	// Shutdown, once closed, ends every watch stream with a final line.
	// Close it from http.Server.RegisterOnShutdown, so that Shutdown need
	// not wait for streams that never go idle.
	Shutdown <-chan struct{}
}

func (o Options) withDefaults() Options {
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.WatchProgressInterval <= 0 {
		o.WatchProgressInterval = DefaultWatchProgressInterval
	}
	if o.WatchWriteTimeout <= 0 {
		o.WatchWriteTimeout = DefaultWatchWriteTimeout
	}
	if o.MaxWatches <= 0 {
		o.MaxWatches = DefaultMaxWatches
	}
	return o
}

// api serves one node's HTTP API.
type api struct {
	n      *server.Node
	opts   Options
	status http.Handler // server.StatusHandler: /healthz, /readyz, /v1/status
	// routes by exact path, then method; keys under /v1/kv/ go to keyRoutes.
	routes    map[string]methods
	keyRoutes methods
	// watchSlots is a semaphore of MaxWatches open streams.
	watchSlots chan struct{}
}

// methods maps an HTTP method to its endpoint.
type methods map[string]endpoint

// endpoint is one method on one path: the query parameters it accepts
// (besides encoding) and its handler.
type endpoint struct {
	params []string
	serve  func(w http.ResponseWriter, r *http.Request, q *query)
}

// keyPathPrefix starts the paths that name one key.
const keyPathPrefix = "/v1/kv/"

var rangeParams = []string{"revision", "limit", "keys_only", "count_only", "serializable", "sort_order", "sort_target"}

// Handler serves the node's HTTP API: the endpoints of server.StatusHandler
// and the key-value, transaction, watch and membership endpoints
// documented in the package doc and in docs/api.md.
func Handler(n *server.Node, opts Options) http.Handler {
	a := &api{n: n, opts: opts.withDefaults(), status: server.StatusHandler(n)}
	a.watchSlots = make(chan struct{}, a.opts.MaxWatches)
	pathParams := []string{"prefix", "range_end"}
	a.keyRoutes = methods{
		http.MethodGet:    {slices.Concat(pathParams, rangeParams), a.unary(a.getKey)},
		http.MethodPut:    {[]string{"prev_kv", "lease"}, a.unary(a.putKey)},
		http.MethodDelete: {slices.Concat(pathParams, []string{"prev_kv"}), a.unary(a.deleteKey)},
	}
	queryParams := []string{"key", "prefix", "range_end"}
	a.routes = map[string]methods{
		"/v1/kv": {
			http.MethodGet:    {slices.Concat(queryParams, rangeParams), a.unary(a.getRange)},
			http.MethodDelete: {slices.Concat(queryParams, []string{"prev_kv"}), a.unary(a.deleteRange)},
		},
		"/v1/txn":     {http.MethodPost: {nil, a.unary(a.txn)}},
		"/v1/compact": {http.MethodPost: {nil, a.unary(a.compact)}},
		"/v1/watch": {http.MethodGet: {slices.Concat(queryParams,
			[]string{"start_revision", "prev_kv", "no_put", "no_delete"}), a.watch}},
		"/v1/members": {
			http.MethodGet:  {nil, a.unary(a.members)},
			http.MethodPost: {nil, a.unary(a.changeMembers)},
		},
	}
	return a
}

// ServeHTTP routes by hand rather than with http.ServeMux: the mux cleans
// paths, and a key may hold "//", "." or ".." (etcd keys often start
// with "/", so /v1/kv//registry/pods names the key "/registry/pods").
// Other paths go to server.StatusHandler.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ms, ok := a.routes[r.URL.Path]
	if !ok && strings.HasPrefix(r.URL.Path, keyPathPrefix) {
		ms, ok = a.keyRoutes, true
	}
	if !ok {
		a.serveStatus(w, r)
		return
	}
	ep, ok := ms[r.Method]
	if !ok {
		w.Header().Set("Allow", strings.Join(slices.Sorted(maps.Keys(ms)), ", "))
		a.fail(w, errorf(http.StatusMethodNotAllowed, server.CodeInvalidArgument,
			"%s does not take %s", r.URL.Path, r.Method))
		return
	}
	q, err := parseQuery(r, ep.params)
	if err != nil {
		a.fail(w, err)
		return
	}
	ep.serve(w, r, q)
}

// serveStatus serves the paths of server.StatusHandler (/healthz, /readyz,
// /v1/status), and a JSON 404 for paths no one serves.
func (a *api) serveStatus(w http.ResponseWriter, r *http.Request) {
	if mux, ok := a.status.(*http.ServeMux); ok {
		if _, pattern := mux.Handler(r); pattern == "" {
			a.fail(w, errorf(http.StatusNotFound, server.CodeInvalidArgument, "no endpoint %s %s", r.Method, r.URL.Path))
			return
		}
	}
	st := a.n.Status()
	w.Header().Set(revisionHeader, formatRevision(st.Revision))
	if r.Method == http.MethodGet && r.URL.Path == "/v1/status" {
		server.WriteStatus(w, st) // the status of the header's revision
		return
	}
	a.status.ServeHTTP(w, r)
}

// reply is a successful unary response: its status (0 is 200), the
// revision it was generated at, and its JSON body.
type reply struct {
	status   int
	revision int64
	body     headed
}

// unaryFunc serves a request that gets one JSON response.
type unaryFunc func(ctx context.Context, r *http.Request, q *query) (reply, error)

// unary adapts f: it bounds the body and the time, and writes the reply
// or the error.
func (a *api) unary(f unaryFunc) func(http.ResponseWriter, *http.Request, *query) {
	return func(w http.ResponseWriter, r *http.Request, q *query) {
		r.Body = http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), a.opts.RequestTimeout)
		defer cancel()
		rep, err := f(ctx, r, q)
		if err != nil {
			a.fail(w, err)
			return
		}
		rep.body.setRevision(rep.revision)
		writeJSON(w, cmp.Or(rep.status, http.StatusOK), rep.revision, rep.body)
	}
}
