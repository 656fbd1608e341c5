package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// query is a request's query string, checked against the parameters its
// endpoint accepts. The getters keep the first error in err, so a handler
// reads every parameter, then checks err once.
type query struct {
	firstError
	vals  url.Values
	codec codec
}

// firstError keeps the first error of a sequence of checks.
type firstError struct{ err error }

func (f *firstError) fail(err error) {
	if f.err == nil {
		f.err = err
	}
}

// parseQuery refuses unknown and repeated parameters: a typo such as
// ?prefx= must not silently widen or narrow a request.
func parseQuery(r *http.Request, accepted []string) (*query, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("malformed query string: %v", err)
	}
	for name, vs := range vals {
		if name != "encoding" && !slices.Contains(accepted, name) {
			return nil, badRequest("unknown query parameter %q for %s %s (accepted: %s)",
				name, r.Method, r.URL.Path, strings.Join(append(slices.Clone(accepted), "encoding"), ", "))
		}
		if len(vs) > 1 {
			return nil, badRequest("query parameter %q is given %d times", name, len(vs))
		}
	}
	q := &query{vals: vals}
	switch enc := vals.Get("encoding"); enc {
	case "", "text":
	case "base64":
		q.codec.base64 = true
	default:
		return nil, badRequest("encoding=%q: use text or base64", enc)
	}
	return q, nil
}

func (q *query) has(name string) bool { return q.vals.Has(name) }

// bool reads a flag: absent is false, present without a value is true.
func (q *query) bool(name string) bool {
	if !q.has(name) {
		return false
	}
	s := q.vals.Get(name)
	if s == "" {
		return true
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		q.fail(badRequest("%s=%q: want true or false", name, s))
	}
	return b
}

// int reads a non-negative integer, 0 when absent.
func (q *query) int(name string) int64 {
	if !q.has(name) {
		return 0
	}
	s := q.vals.Get(name)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		q.fail(badRequest("%s=%q: want a non-negative integer", name, s))
		return 0
	}
	return v
}

// bytes reads a key in the request's encoding.
func (q *query) bytes(name string) []byte {
	b, err := q.codec.decode(q.vals.Get(name))
	if err != nil {
		q.fail(badRequest("%s: %v", name, err))
	}
	return b
}

// choice reads a parameter whose values are the keys of table.
func choice[T any](q *query, name string, table map[string]T) T {
	return pick(&q.firstError, table, name, q.vals.Get(name))
}

// pick looks name up in table; an unknown name is a 400 that lists the
// names known.
func pick[T any](f *firstError, table map[string]T, what, name string) T {
	v, ok := table[name]
	if !ok {
		f.fail(badRequest("%s %q: want one of %s", what, name, keysOf(table)))
	}
	return v
}

func keysOf[T any](table map[string]T) string {
	var names []string
	for k := range table {
		if k != "" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// codec turns keys and values into JSON strings and back. As text (the
// default) a string is the bytes themselves; bytes that are not UTF-8 come
// out with U+FFFD in their place, so binary data needs ?encoding=base64,
// which makes every key, range end, prefix and value of the request (path,
// query and JSON) and of the response standard base64.
type codec struct{ base64 bool }

func (c codec) encode(b []byte) string {
	if c.base64 {
		return base64.StdEncoding.EncodeToString(b)
	}
	return string(b)
}

func (c codec) decode(s string) ([]byte, error) {
	if !c.base64 {
		return []byte(s), nil
	}
	return decodeBase64(s)
}

// base64URLSafe maps the URL-safe alphabet onto the standard one.
var base64URLSafe = strings.NewReplacer("-", "+", "_", "/")

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = base64URLSafe.Replace(strings.TrimRight(s, "="))
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %v", err)
	}
	return b, nil
}
