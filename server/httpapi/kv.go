package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// errNoResponse: the node answered a request without the response it
// implies. A bug, answered as an internal error rather than a panic.
var errNoResponse = errors.New("httpapi: the node returned no response for the request")

// write replicates req and returns the part of the response pick selects.
func write[T any](ctx context.Context, n *server.Node, req *kv.Request, pick func(*kv.Response) *T) (*T, error) {
	resp, err := n.Write(ctx, req)
	switch {
	case err != nil:
		return nil, err
	case resp == nil || pick(resp) == nil:
		return nil, errNoResponse
	}
	return pick(resp), nil
}

// span is the keys a request names: key alone (end empty) or [key, end).
type span struct{ key, end []byte }

// pathKey is the key of /v1/kv/{key}: the rest of the path, exactly, after
// percent-decoding, then in the request's encoding.
func (q *query) pathKey(r *http.Request) []byte {
	key, err := q.codec.decode(strings.TrimPrefix(r.URL.Path, keyPathPrefix))
	if err != nil {
		q.fail(badRequest("the key in the path: %v", err))
	}
	return key
}

// pathSpan is the key of /v1/kv/{key}; ?prefix=true makes it a prefix,
// ?range_end= the start of a range.
func (q *query) pathSpan(r *http.Request) span {
	key := q.pathKey(r)
	prefix := q.bool("prefix")
	switch {
	case prefix && q.has("range_end"):
		q.fail(badRequest("give prefix or range_end, not both"))
	case prefix:
		return prefixSpan(key)
	}
	return span{key: key, end: q.bytes("range_end")}
}

// querySpan is the keys of /v1/kv and /v1/watch: ?prefix=P, or ?key=K with
// an optional ?range_end=E.
func (q *query) querySpan() span {
	switch {
	case q.has("prefix") && (q.has("key") || q.has("range_end")):
		q.fail(badRequest("give prefix, or key with an optional range_end, not both"))
	case q.has("prefix"):
		return prefixSpan(q.bytes("prefix"))
	case !q.has("key"):
		q.fail(badRequest("key or prefix is required (prefix with no value names every key)"))
	}
	return span{key: q.bytes("key"), end: q.bytes("range_end")}
}

// prefixSpan is every key that starts with p; the empty prefix is every
// key (etcd's key "\x00" with range end "\x00").
func prefixSpan(p []byte) span {
	if len(p) == 0 {
		return span{key: []byte{0}, end: []byte{0}}
	}
	return span{key: p, end: prefixEnd(p)}
}

// prefixEnd is the first key after every key that starts with p, as
// clientv3.GetPrefixRangeEnd: p up to its last byte below 0xff, that byte
// incremented; "\x00" (no end) when every byte is 0xff.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

var sortOrders = map[string]kv.SortOrder{
	"": kv.SortNone, "none": kv.SortNone, "ascend": kv.SortAscend, "descend": kv.SortDescend,
}

var sortTargets = map[string]kv.SortTarget{
	"": kv.SortByKey, "key": kv.SortByKey, "version": kv.SortByVersion,
	"create_revision": kv.SortByCreate, "mod_revision": kv.SortByMod, "value": kv.SortByValue,
}

func (q *query) rangeRequest(s span) *kv.RangeRequest {
	return &kv.RangeRequest{
		Key: s.key, RangeEnd: s.end, Limit: q.int("limit"), Revision: q.int("revision"),
		KeysOnly: q.bool("keys_only"), CountOnly: q.bool("count_only"),
		SortOrder: choice(q, "sort_order", sortOrders), SortTarget: choice(q, "sort_target", sortTargets),
	}
}

// getKey: GET /v1/kv/{key}. One key that does not exist answers 404.
func (a *api) getKey(ctx context.Context, r *http.Request, q *query) (reply, error) {
	s := q.pathSpan(r)
	return a.rangeReply(ctx, q, s, len(s.end) == 0)
}

// getRange: GET /v1/kv?prefix=… or ?key=…&range_end=….
func (a *api) getRange(ctx context.Context, _ *http.Request, q *query) (reply, error) {
	return a.rangeReply(ctx, q, q.querySpan(), false)
}

func (a *api) rangeReply(ctx context.Context, q *query, s span, single bool) (reply, error) {
	req, serializable := q.rangeRequest(s), q.bool("serializable")
	if q.err != nil {
		return reply{}, q.err
	}
	resp, err := a.n.Range(ctx, req, serializable)
	if err != nil {
		return reply{}, err
	}
	if resp == nil {
		return reply{}, errNoResponse
	}
	rev := resp.Header.Revision
	if single && resp.Count == 0 {
		return reply{status: http.StatusNotFound, revision: rev, body: &errorBody{Error: errorDetail{
			Code: server.CodeNotFound, Message: "key " + strconv.Quote(q.codec.encode(s.key)) + " not found",
		}}}, nil
	}
	return reply{revision: rev, body: q.codec.rangeResponse(resp)}, nil
}

// putKey: PUT /v1/kv/{key}, the body being the value.
func (a *api) putKey(ctx context.Context, r *http.Request, q *query) (reply, error) {
	req := &kv.PutRequest{Key: q.pathKey(r), Lease: q.int("lease"), PrevKv: q.bool("prev_kv")}
	if q.err != nil {
		return reply{}, q.err
	}
	value, err := readBody(r)
	if err != nil {
		return reply{}, err
	}
	req.Value = value
	resp, err := write(ctx, a.n, &kv.Request{Put: req}, func(r *kv.Response) *kv.PutResponse { return r.Put })
	if err != nil {
		return reply{}, err
	}
	return reply{revision: resp.Header.Revision, body: q.codec.putResponse(resp)}, nil
}

// deleteKey: DELETE /v1/kv/{key}.
func (a *api) deleteKey(ctx context.Context, r *http.Request, q *query) (reply, error) {
	return a.deleteReply(ctx, q, q.pathSpan(r))
}

// deleteRange: DELETE /v1/kv?prefix=… or ?key=…&range_end=….
func (a *api) deleteRange(ctx context.Context, _ *http.Request, q *query) (reply, error) {
	return a.deleteReply(ctx, q, q.querySpan())
}

func (a *api) deleteReply(ctx context.Context, q *query, s span) (reply, error) {
	req := &kv.DeleteRangeRequest{Key: s.key, RangeEnd: s.end, PrevKv: q.bool("prev_kv")}
	if q.err != nil {
		return reply{}, q.err
	}
	resp, err := write(ctx, a.n, &kv.Request{DeleteRange: req},
		func(r *kv.Response) *kv.DeleteRangeResponse { return r.DeleteRange })
	if err != nil {
		return reply{}, err
	}
	return reply{revision: resp.Header.Revision, body: q.codec.deleteResponse(resp)}, nil
}

// readBody reads the whole body, which unary bounds to MaxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, readError(err)
	}
	return body, nil
}

// readError is the answer to a failed body read: 413 past the limit.
func readError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	return badRequest("reading the request body: %v", err)
}
