package kubeapiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/e2e/internal/probe"
)

// watchEventTimeout bounds the wait for one watch event.
const watchEventTimeout = 30 * time.Second

// object is the part of a Kubernetes object the test reads and writes:
// namespaces, ConfigMaps (data), PodTemplates (template), and the
// metadata-only objects of bookmarks.
type object struct {
	APIVersion string            `json:"apiVersion,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Metadata   objectMeta        `json:"metadata"`
	Data       map[string]string `json:"data,omitempty"`
	Template   json.RawMessage   `json:"template,omitempty"`
}

type objectMeta struct {
	Name            string            `json:"name,omitempty"`
	Namespace       string            `json:"namespace,omitempty"`
	UID             string            `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
}

// rv is the object's resourceVersion: with an etcd store, the revision of
// its last write.
func (o object) rv(t *testing.T) int64 {
	t.Helper()
	return parseRV(t, o.Metadata.ResourceVersion)
}

func parseRV(t *testing.T, rv string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", rv, err)
	}
	return n
}

type objectList struct {
	Metadata struct {
		ResourceVersion    string `json:"resourceVersion"`
		Continue           string `json:"continue"`
		RemainingItemCount *int64 `json:"remainingItemCount"`
	} `json:"metadata"`
	Items []object `json:"items"`
}

func (l objectList) names() []string {
	var names []string
	for _, o := range l.Items {
		names = append(names, o.Metadata.Name)
	}
	return names
}

// status is a metav1.Status: the body of an error answer and the object
// of a watch ERROR event.
type status struct {
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Code    int    `json:"code"`
}

func configMap(name string, data map[string]string) object {
	return object{APIVersion: "v1", Kind: "ConfigMap", Metadata: objectMeta{Name: name}, Data: data}
}

func podTemplate(name string) object {
	return object{APIVersion: "v1", Kind: "PodTemplate", Metadata: objectMeta{Name: name},
		Template: json.RawMessage(`{"spec":{"containers":[{"name":"c","image":"registry.k8s.io/pause:3.10"}]}}`)}
}

// newObject is an object of resource named name.
func newObject(resource, name string) object {
	if resource == uncached {
		return podTemplate(name)
	}
	return configMap(name, map[string]string{"k": name})
}

// path is the API path of a namespaced resource's collection or, with a
// name, object; query, when not empty, is appended after "?".
func path(namespace, resource, name, query string) string {
	p := "/api/v1/namespaces/" + namespace + "/" + resource
	if name != "" {
		p += "/" + name
	}
	if query != "" {
		p += "?" + query
	}
	return p
}

// call sends a request (in, when not nil, as JSON) and returns the status
// code and body; it fails the test only when there is no answer.
func (a *apiServer) call(method, p string, in any) (int, []byte) {
	a.t.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			a.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	code, b, err := a.request(ctx, method, p, body)
	if err != nil {
		a.fatalf("%s %s: %v", method, p, err)
	}
	return code, b
}

// do is call that expects status code want and decodes the answer into
// out (when not nil).
func (a *apiServer) do(method, p string, in any, want int, out any) {
	a.t.Helper()
	code, b := a.call(method, p, in)
	if code != want {
		a.fatalf("%s %s: %d, want %d: %s", method, p, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.fatalf("%s %s: decoding %s: %v", method, p, b, err)
		}
	}
}

// failure is do for an expected error answer: it returns its Status.
func (a *apiServer) failure(method, p string, in any, want int) status {
	a.t.Helper()
	var st status
	a.do(method, p, in, want, &st)
	if st.Kind != "Status" || st.Code != want {
		a.fatalf("%s %s: %+v, want a Status with code %d", method, p, st, want)
	}
	return st
}

func (a *apiServer) create(namespace, resource string, o object) object {
	a.t.Helper()
	var got object
	a.do(http.MethodPost, path(namespace, resource, "", ""), o, http.StatusCreated, &got)
	return got
}

func (a *apiServer) createNamespace(name string) {
	a.t.Helper()
	a.do(http.MethodPost, "/api/v1/namespaces",
		object{APIVersion: "v1", Kind: "Namespace", Metadata: objectMeta{Name: name}}, http.StatusCreated, nil)
}

func (a *apiServer) list(namespace, resource, query string) objectList {
	a.t.Helper()
	var l objectList
	a.do(http.MethodGet, path(namespace, resource, "", query), nil, http.StatusOK, &l)
	return l
}

// watchEvent is one event of a watch stream, its object still encoded.
type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (e watchEvent) object(t *testing.T) object {
	t.Helper()
	var o object
	if err := json.Unmarshal(e.Object, &o); err != nil {
		t.Fatalf("%s event: %s: %v", e.Type, e.Object, err)
	}
	return o
}

func (e watchEvent) String() string {
	var o object
	_ = json.Unmarshal(e.Object, &o)
	return fmt.Sprintf("%s %s@%s", e.Type, o.Metadata.Name, o.Metadata.ResourceVersion)
}

// watchStream is an open watch: a goroutine decodes its events into a
// channel, closed when the stream ends.
type watchStream struct {
	a      *apiServer
	p      string
	events chan watchEvent
	err    error // why the stream ended; read after events is closed
}

// watch opens a watch on p (a path with its query, watch=1 included) and
// fails the test unless it is accepted. It ends with the test.
func (a *apiServer) watch(p string) *watchStream {
	a.t.Helper()
	w, code, body := a.openWatch(p)
	if w == nil {
		a.fatalf("watch %s: %d: %s", p, code, body)
	}
	return w
}

// openWatch opens a watch on p; when it is refused, the stream is nil and
// the status code and body are returned instead.
func (a *apiServer) openWatch(p string) (*watchStream, int, []byte) {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a.t.Cleanup(cancel)
	resp, err := a.send(ctx, http.MethodGet, p, nil)
	if err != nil {
		a.fatalf("watch %s: %v", p, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, resp.StatusCode, b
	}
	w := &watchStream{a: a, p: p, events: make(chan watchEvent, 1024)}
	go func() {
		defer resp.Body.Close()
		defer close(w.events)
		dec := json.NewDecoder(resp.Body)
		for {
			var ev watchEvent
			if w.err = dec.Decode(&ev); w.err != nil {
				return
			}
			select {
			case w.events <- ev:
			case <-ctx.Done():
				w.err = ctx.Err()
				return
			}
		}
	}()
	return w, resp.StatusCode, nil
}

// next is the stream's next event; the test fails when none comes within
// watchEventTimeout or the stream ends.
func (w *watchStream) next() watchEvent {
	w.a.t.Helper()
	timeout := time.NewTimer(watchEventTimeout)
	defer timeout.Stop()
	select {
	case ev, ok := <-w.events:
		if ok {
			return ev
		}
		w.a.fatalf("watch %s ended: %v", w.p, w.err)
	case <-timeout.C:
		w.a.fatalf("watch %s: no event for %v", w.p, watchEventTimeout)
	}
	return watchEvent{} // not reached: fatalf ends the test
}

// expect reads one event per element of want ("TYPE name") and fails
// unless they match in order; it returns their objects.
func (w *watchStream) expect(want ...string) []object {
	w.a.t.Helper()
	var objs []object
	for i, wantEv := range want {
		ev := w.next()
		o := ev.object(w.a.t)
		if got := ev.Type + " " + o.Metadata.Name; got != wantEv {
			w.a.fatalf("watch %s: event %d is %v, want %s", w.p, i, ev, wantEv)
		}
		objs = append(objs, o)
	}
	return objs
}

// metric sums the samples of kube-apiserver's metric name whose labels
// include every one of labels (each `key="value"`).
func (a *apiServer) metric(name string, labels ...string) float64 {
	a.t.Helper()
	code, body := a.call(http.MethodGet, "/metrics", nil)
	if code != http.StatusOK {
		a.fatalf("/metrics: %d %s", code, body)
	}
	var sum float64
	for line := range strings.Lines(string(body)) {
		if !strings.HasPrefix(line, name+"{") || !containsAll(line, labels) {
			continue
		}
		f := strings.Fields(line)
		n, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			a.fatalf("/metrics: %q: %v", line, err)
		}
		sum += n
	}
	return sum
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// createRetrying creates o, retrying while kube-apiserver answers 5xx
// (a write lost with a failed natsraft leader). When an attempt that
// failed was applied after all, the retry finds the object (409
// AlreadyExists) and returns it as stored.
func (a *apiServer) createRetrying(namespace, resource string, o object) object {
	a.t.Helper()
	var created object
	err := probe.Until(context.Background(), writeRetryTimeout, "create "+o.Metadata.Name, func(context.Context) (bool, string, error) {
		code, body := a.call(http.MethodPost, path(namespace, resource, "", ""), o)
		switch {
		case code == http.StatusCreated:
			return true, "", json.Unmarshal(body, &created)
		case code == http.StatusConflict:
			a.do(http.MethodGet, path(namespace, resource, o.Metadata.Name, ""), nil, http.StatusOK, &created)
			return true, "", nil
		case code >= 500:
			a.t.Logf("create %s/%s: %d %s (retrying)", resource, o.Metadata.Name, code, bytes.TrimSpace(body))
			return false, string(body), nil
		}
		return false, "", fmt.Errorf("%d %s", code, body)
	})
	if err != nil {
		a.fatalf("%v", err)
	}
	return created
}
