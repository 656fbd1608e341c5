package kubeapiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/natsraft/natsraft/e2e/internal/probe"
	"github.com/natsraft/natsraft/server/etcdapi/etcdapitest"
)

// TestKubeAPIServer runs kube-apiserver on a 3-node natsraft cluster and
// checks what it needs from etcd, through its own REST API.
func TestKubeAPIServer(t *testing.T) {
	bin := kubeAPIServerBinary(t)
	nr := startNatsraft(t)
	a := startAPIServer(t, bin, nr.Endpoints())

	t.Run("ReadyzEtcd", func(t *testing.T) { testReadyzEtcd(a.forTest(t)) })
	t.Run("CRUD", func(t *testing.T) { testCRUD(a.forTest(t)) })
	t.Run("Pagination", func(t *testing.T) { testPagination(a.forTest(t)) })
	t.Run("Watch", func(t *testing.T) { testWatch(a.forTest(t)) })
	t.Run("Bookmarks", func(t *testing.T) { testBookmarks(a.forTest(t)) })
	t.Run("ConsistentReads", func(t *testing.T) { testConsistentReads(a.forTest(t)) })
	t.Run("Compaction", func(t *testing.T) { testCompaction(a.forTest(t), nr) })
	t.Run("LeaderLoss", func(t *testing.T) { testLeaderLoss(a.forTest(t), nr) })
}

// testReadyzEtcd: kube-apiserver's etcd readiness check passes.
func testReadyzEtcd(a *apiServer) {
	code, body := a.call(http.MethodGet, "/readyz/etcd", nil)
	if code != http.StatusOK || string(body) != "ok" {
		a.fatalf("/readyz/etcd: %d %s", code, body)
	}
}

// testCRUD: create, get, update with the current and a stale
// resourceVersion, delete with preconditions.
func testCRUD(a *apiServer) {
	const ns = "crud"
	a.createNamespace(ns)
	created := a.create(ns, cached, configMap("cm", map[string]string{"k": "v1"}))
	if created.Metadata.UID == "" || created.rv(a.t) == 0 {
		a.fatalf("created: %+v", created)
	}
	if st := a.failure(http.MethodPost, path(ns, cached, "", ""), configMap("cm", nil), http.StatusConflict); st.Reason != "AlreadyExists" {
		a.fatalf("second create: %+v", st)
	}
	var got object
	a.do(http.MethodGet, path(ns, cached, "cm", ""), nil, http.StatusOK, &got)
	if got.Metadata.ResourceVersion != created.Metadata.ResourceVersion || got.Data["k"] != "v1" {
		a.fatalf("get: %+v, want %+v", got, created)
	}

	update := got
	update.Data = map[string]string{"k": "v2"}
	var updated object
	a.do(http.MethodPut, path(ns, cached, "cm", ""), update, http.StatusOK, &updated)
	if updated.rv(a.t) <= created.rv(a.t) || updated.Data["k"] != "v2" {
		a.fatalf("update: %+v after %+v", updated, created)
	}
	stale := got // still carries the created resourceVersion
	stale.Data = map[string]string{"k": "stale"}
	if st := a.failure(http.MethodPut, path(ns, cached, "cm", ""), stale, http.StatusConflict); st.Reason != "Conflict" {
		a.fatalf("update with a stale resourceVersion: %+v", st)
	}

	deleteWith := func(uid, rv string) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "DeleteOptions",
			"preconditions": map[string]string{"uid": uid, "resourceVersion": rv}}
	}
	a.failure(http.MethodDelete, path(ns, cached, "cm", ""), deleteWith(created.Metadata.UID, created.Metadata.ResourceVersion), http.StatusConflict)
	a.failure(http.MethodDelete, path(ns, cached, "cm", ""), deleteWith("not-"+created.Metadata.UID, updated.Metadata.ResourceVersion), http.StatusConflict)
	a.do(http.MethodGet, path(ns, cached, "cm", ""), nil, http.StatusOK, &got)
	if got.Data["k"] != "v2" {
		a.fatalf("after the refused update and deletes: %+v", got)
	}
	a.do(http.MethodDelete, path(ns, cached, "cm", ""), deleteWith(created.Metadata.UID, updated.Metadata.ResourceVersion), http.StatusOK, nil)
	if st := a.failure(http.MethodGet, path(ns, cached, "cm", ""), nil, http.StatusNotFound); st.Reason != "NotFound" {
		a.fatalf("get after delete: %+v", st)
	}
}

// testPagination: limit/continue pages form one snapshot, the first
// page's, even when objects are created and deleted between pages. The
// uncached resource's pages are read with etcd 3.7's RangeStream, which
// natsraft serves.
func testPagination(a *apiServer) {
	const ns = "pages"
	a.createNamespace(ns)
	for _, resource := range []string{cached, uncached} {
		var want []string
		for i := range 7 {
			name := fmt.Sprintf("p%d", i)
			a.create(ns, resource, newObject(resource, name))
			want = append(want, name)
		}
		first := a.list(ns, resource, "limit=3")
		if first.Metadata.Continue == "" || first.Metadata.RemainingItemCount == nil || *first.Metadata.RemainingItemCount != 4 {
			a.fatalf("%s first page: continue %q, remainingItemCount %v", resource, first.Metadata.Continue, first.Metadata.RemainingItemCount)
		}
		// Written after the first page: the next pages do not show it.
		a.create(ns, resource, newObject(resource, "p9"))
		a.do(http.MethodDelete, path(ns, resource, "p5", ""), nil, http.StatusOK, nil)

		got := first.names()
		for l := first; l.Metadata.Continue != ""; {
			l = a.list(ns, resource, "limit=3&continue="+url.QueryEscape(l.Metadata.Continue))
			if l.Metadata.ResourceVersion != first.Metadata.ResourceVersion {
				a.fatalf("%s page at resourceVersion %s, the first at %s", resource, l.Metadata.ResourceVersion, first.Metadata.ResourceVersion)
			}
			got = append(got, l.names()...)
		}
		if !slices.Equal(got, want) {
			a.fatalf("%s pages: %v, want %v", resource, got, want)
		}
		if now := a.list(ns, resource, "").names(); !slices.Equal(now, []string{"p0", "p1", "p2", "p3", "p4", "p6", "p9"}) {
			a.fatalf("%s after the writes: %v", resource, now)
		}
	}
	if n := a.metric("apiserver_storage_list_duration_seconds_count", `resource="`+uncached+`"`, `streamed="true"`); n == 0 {
		a.fatalf("no %s list was streamed (RangeStream)", uncached)
	}
}

// testWatch: a watch from a list's resourceVersion sees ADDED, MODIFIED
// and DELETED in order, each at the resourceVersion of its write.
func testWatch(a *apiServer) {
	const ns = "watch"
	a.createNamespace(ns)
	for _, resource := range []string{cached, uncached} {
		from := a.list(ns, resource, "").Metadata.ResourceVersion
		w := a.watch(path(ns, resource, "", "watch=1&resourceVersion="+from))
		created := a.create(ns, resource, newObject(resource, "w"))
		update := created
		update.Metadata.Annotations = map[string]string{"natsraft.io/step": "2"}
		var updated object
		a.do(http.MethodPut, path(ns, resource, "w", ""), update, http.StatusOK, &updated)
		// The answer to a delete is a Status, without the revision.
		a.do(http.MethodDelete, path(ns, resource, "w", ""), nil, http.StatusOK, nil)

		evs := w.expect("ADDED w", "MODIFIED w", "DELETED w")
		for i, want := range []object{created, updated} {
			if evs[i].Metadata.ResourceVersion != want.Metadata.ResourceVersion {
				a.fatalf("%s event %d at resourceVersion %s, its write at %s", resource, i, evs[i].Metadata.ResourceVersion, want.Metadata.ResourceVersion)
			}
		}
		if evs[2].rv(a.t) <= updated.rv(a.t) {
			a.fatalf("%s DELETED at resourceVersion %s, the update at %s", resource, evs[2].Metadata.ResourceVersion, updated.Metadata.ResourceVersion)
		}
		if evs[2].Metadata.Annotations["natsraft.io/step"] != "2" {
			a.fatalf("%s DELETED carries %+v, not the last state", resource, evs[2])
		}
	}
}

// testBookmarks: a watch with allowWatchBookmarks gets a BOOKMARK before
// its timeout, and a watch with sendInitialEvents gets every object, then
// the bookmark that ends the initial events, at a resourceVersion that
// covers the last write (a consistent read).
func testBookmarks(a *apiServer) {
	const ns = "bookmarks"
	a.createNamespace(ns)
	from := a.list(ns, cached, "").Metadata.ResourceVersion
	// The watch cache sends a bookmark 2 s before the watch times out.
	w := a.watch(path(ns, cached, "", "watch=1&allowWatchBookmarks=true&timeoutSeconds=5&resourceVersion="+from))
	added := a.create(ns, cached, newObject(cached, "b0"))
	w.expect("ADDED b0")
	ev := w.next()
	if ev.Type != "BOOKMARK" || ev.object(a.t).rv(a.t) < added.rv(a.t) {
		a.fatalf("after ADDED at %s: %v, want a BOOKMARK at or after it", added.Metadata.ResourceVersion, ev)
	}

	for _, resource := range []string{cached, uncached} {
		var last object
		var want []string
		for i := range 3 {
			name := fmt.Sprintf("i%d", i)
			last = a.create(ns, resource, newObject(resource, name))
			want = append(want, "ADDED "+name)
		}
		if resource == cached {
			want = append([]string{"ADDED b0"}, want...)
		}
		w := a.watch(path(ns, resource, "", "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"))
		w.expect(want...)
		end := w.next()
		bookmark := end.object(a.t)
		if end.Type != "BOOKMARK" || bookmark.Metadata.Annotations["k8s.io/initial-events-end"] != "true" || bookmark.rv(a.t) < last.rv(a.t) {
			a.fatalf("%s initial events: then %v %+v, want the initial-events-end BOOKMARK at or after %s", resource, end, bookmark.Metadata, last.Metadata.ResourceVersion)
		}
	}
}

// testConsistentReads: a list without resourceVersion (served from the
// watch cache once it has caught up with natsraft's current revision) and
// one NotOlderThan the last write both show that write; an Exact list of
// the uncached resource reads natsraft's history. The watch cache learns
// that it has caught up from a progress notification it asks natsraft for:
// without one it would wait 3 s and fall back to reading natsraft, which
// its metrics would tell.
func testConsistentReads(a *apiServer) {
	const ns = "reads"
	a.createNamespace(ns)
	for _, resource := range []string{cached, uncached} {
		for i := range 5 {
			name := fmt.Sprintf("r%d", i)
			written := a.create(ns, resource, newObject(resource, name))
			for _, query := range []string{"", "resourceVersionMatch=NotOlderThan&resourceVersion=" + written.Metadata.ResourceVersion} {
				l := a.list(ns, resource, query)
				if parseRV(a.t, l.Metadata.ResourceVersion) < written.rv(a.t) || len(l.Items) != i+1 || l.Items[i].Metadata.ResourceVersion != written.Metadata.ResourceVersion {
					a.fatalf("%s list %q after writing %s at %s: at %s %v", resource, query, name, written.Metadata.ResourceVersion, l.Metadata.ResourceVersion, l.names())
				}
			}
		}
		a.list(ns, resource, "resourceVersion=0") // any resourceVersion: may be stale, must be served
	}
	gone := a.create(ns, uncached, newObject(uncached, "gone"))
	a.do(http.MethodDelete, path(ns, uncached, "gone", ""), nil, http.StatusOK, nil)
	before := a.list(ns, uncached, "resourceVersionMatch=Exact&resourceVersion="+gone.Metadata.ResourceVersion)
	after := a.list(ns, uncached, "resourceVersionMatch=Exact&resourceVersion="+strconv.FormatInt(gone.rv(a.t)+1, 10))
	if !slices.Contains(before.names(), "gone") || slices.Contains(after.names(), "gone") {
		a.fatalf("exact lists around the delete at %d: %v, then %v", gone.rv(a.t)+1, before.names(), after.names())
	}

	const reads = "apiserver_watch_cache_consistent_read_total"
	fromCache := a.metric(reads, `resource="`+cached+`"`, `success="true"`, `fallback="false"`)
	fallbacks := a.metric(reads, `resource="`+cached+`"`, `fallback="true"`)
	if fromCache < 5 || fallbacks > 0 {
		a.fatalf("%s consistent reads: %v from the watch cache, %v fell back to natsraft", cached, fromCache, fallbacks)
	}
}

// testCompaction: once kube-apiserver's compactor has compacted natsraft
// past a resourceVersion, a watch from it, an Exact list at it and a
// continue token of it are all 410 Gone (Expired). The resource is the
// uncached one, so the answers come from natsraft, not the watch cache.
func testCompaction(a *apiServer, nr *etcdapitest.Cluster) {
	const ns = "compaction"
	a.createNamespace(ns)
	a.create(ns, uncached, newObject(uncached, "c0"))
	old := a.create(ns, uncached, newObject(uncached, "c1"))
	page := a.list(ns, uncached, "limit=1")
	// A watch from old asks natsraft for old+1 on, which is refused once the
	// compaction revision is above it; this write makes such a revision.
	a.create(ns, uncached, newObject(uncached, "c2"))
	err := probe.Until(context.Background(), 4*compactionInterval+time.Minute, "kube-apiserver's compaction", func(context.Context) (bool, string, error) {
		rev := compactRevision(nr)
		return rev > old.rv(a.t)+1, fmt.Sprintf("compact revision %d, want above %d", rev, old.rv(a.t)+1), nil
	})
	if err != nil {
		a.fatalf("%v", err)
	}

	p := path(ns, uncached, "", "watch=1&resourceVersion="+old.Metadata.ResourceVersion)
	if w, code, body := a.openWatch(p); w != nil {
		ev := w.next()
		var st status
		if err := json.Unmarshal(ev.Object, &st); ev.Type != "ERROR" || err != nil || st.Code != http.StatusGone || st.Reason != "Expired" {
			a.fatalf("watch from a compacted resourceVersion: %v %s", ev, ev.Object)
		}
	} else if code != http.StatusGone {
		a.fatalf("watch from a compacted resourceVersion: %d %s", code, body)
	}
	if st := a.failure(http.MethodGet, path(ns, uncached, "", "resourceVersionMatch=Exact&resourceVersion="+old.Metadata.ResourceVersion), nil, http.StatusGone); st.Reason != "Expired" {
		a.fatalf("exact list at a compacted resourceVersion: %+v", st)
	}
	if st := a.failure(http.MethodGet, path(ns, uncached, "", "limit=1&continue="+url.QueryEscape(page.Metadata.Continue)), nil, http.StatusGone); st.Reason != "Expired" {
		a.fatalf("continue at a compacted resourceVersion: %+v", st)
	}
	if names := a.list(ns, uncached, "").names(); !slices.Equal(names, []string{"c0", "c1", "c2"}) {
		a.fatalf("list after the compaction: %v", names)
	}
}

// testLeaderLoss: the natsraft leader stops (connections dropped, as in a
// crash) between writes while watches are open; kube-apiserver goes on
// taking writes, each watch delivers every write in order, before and after
// the loss, and /readyz/etcd is healthy again.
//
// A write sent in the moments after the loss may fail as it would with
// etcd: a follower that still takes the stopped member for its leader
// forwards the proposal there, where it is lost, and the request times out
// (500 "etcdserver: request timed out"). Such a write is retried, as
// Kubernetes clients retry.
func testLeaderLoss(a *apiServer, nr *etcdapitest.Cluster) {
	const ns = "failover"
	const objects = 10 // per resource; the leader stops after half of them
	a.createNamespace(ns)
	watches := map[string]*watchStream{}
	for _, resource := range []string{cached, uncached} {
		from := a.list(ns, resource, "").Metadata.ResourceVersion
		watches[resource] = a.watch(path(ns, resource, "", "watch=1&resourceVersion="+from))
	}
	written := map[string][]object{}
	for i := range objects {
		if i == objects/2 {
			leader := nr.Leader()
			nr.StopNode(leader)
			a.t.Logf("stopped the leader, %s", leader)
		}
		for _, resource := range []string{cached, uncached} {
			written[resource] = append(written[resource], a.createRetrying(ns, resource, newObject(resource, fmt.Sprintf("f%d", i))))
		}
	}
	a.t.Logf("new leader: %s", nr.Leader())
	for _, resource := range slices.Sorted(maps.Keys(watches)) {
		for i, want := range written[resource] {
			got := watches[resource].expect("ADDED " + want.Metadata.Name)[0]
			if got.Metadata.ResourceVersion != want.Metadata.ResourceVersion {
				a.fatalf("%s event %d at resourceVersion %s, its write at %s", resource, i, got.Metadata.ResourceVersion, want.Metadata.ResourceVersion)
			}
		}
		if n := len(a.list(ns, resource, "").Items); n != objects {
			a.fatalf("%s: %d objects listed, %d written", resource, n, objects)
		}
	}
	err := probe.Until(context.Background(), time.Minute, "/readyz/etcd", func(ctx context.Context) (bool, string, error) {
		code, body, err := a.request(ctx, http.MethodGet, "/readyz/etcd", nil)
		return err == nil && code == http.StatusOK, fmt.Sprintf("%d %s %v", code, body, err), nil
	})
	if err != nil {
		a.fatalf("%v", err)
	}
}
