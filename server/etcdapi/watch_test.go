package etcdapi_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/natsraft/natsraft/server/etcdapi"
)

const watchStall = 20 * time.Second

// next returns the next response of a clientv3 watch channel.
func next(t *testing.T, wch clientv3.WatchChan) clientv3.WatchResponse {
	t.Helper()
	select {
	case resp, ok := <-wch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return resp
	case <-time.After(watchStall):
		t.Fatalf("no watch response in %v", watchStall)
	}
	return clientv3.WatchResponse{}
}

// collect reads events until n arrived, failing on gaps: each response's
// events must be in revision order.
func collect(t *testing.T, wch clientv3.WatchChan, n int) []*clientv3.Event {
	t.Helper()
	var evs []*clientv3.Event
	for len(evs) < n {
		resp := next(t, wch)
		if err := resp.Err(); err != nil {
			t.Fatalf("after %d events: %v", len(evs), err)
		}
		evs = append(evs, resp.Events...)
	}
	return evs
}

func evString(evs []*clientv3.Event) string {
	s := ""
	for _, ev := range evs {
		s += fmt.Sprintf("%s %s=%s@%d", ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
		if ev.PrevKv != nil {
			s += fmt.Sprintf(" prev %s", ev.PrevKv.Value)
		}
		s += "\n"
	}
	return s
}

func TestWatch(t *testing.T) {
	e := newEnv(t, etcdapi.Options{})
	cli := e.client()
	c := ctx(t)
	// History: w/a=1 @2, w/b=1 @3, w/a=2 @4, delete w/b @5.
	for _, op := range []clientv3.Op{
		clientv3.OpPut("w/a", "1"), clientv3.OpPut("w/b", "1"), clientv3.OpPut("w/a", "2"), clientv3.OpDelete("w/b"),
	} {
		if _, err := cli.Do(c, op); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("replay with prev_kv", func(t *testing.T) {
		wch := cli.Watch(c, "w/", clientv3.WithPrefix(), clientv3.WithRev(2), clientv3.WithPrevKV())
		want := "PUT w/a=1@2\nPUT w/b=1@3\nPUT w/a=2@4 prev 1\nDELETE w/b=@5 prev 1\n"
		if got := evString(collect(t, wch, 4)); got != want {
			t.Fatalf("events:\n%swant:\n%s", got, want)
		}
	})
	t.Run("filters and live events", func(t *testing.T) {
		wctx, cancel := context.WithCancel(c)
		defer cancel()
		wch := cli.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithCreatedNotify())
		created := next(t, wch)
		if !created.Created || created.Header.Revision != 5 {
			t.Fatalf("created: %+v", created)
		}
		if _, err := cli.Put(c, "w/c", "1"); err != nil { // 6, filtered out
			t.Fatal(err)
		}
		if _, err := cli.Delete(c, "w/c"); err != nil { // 7
			t.Fatal(err)
		}
		if got := evString(collect(t, wch, 1)); got != "DELETE w/c=@7\n" {
			t.Fatalf("no-put watch: %s", got)
		}
	})
	t.Run("compacted start revision", func(t *testing.T) {
		if _, err := cli.Compact(c, 4); err != nil {
			t.Fatal(err)
		}
		wch := cli.Watch(c, "w/", clientv3.WithPrefix(), clientv3.WithRev(2))
		resp := next(t, wch)
		if !resp.Canceled || resp.CompactRevision != 4 || !errors.Is(resp.Err(), rpctypes.ErrCompacted) {
			t.Fatalf("watch below the compaction: %+v, %v", resp, resp.Err())
		}
		from := cli.Watch(c, "w/", clientv3.WithPrefix(), clientv3.WithRev(4))
		if got := evString(collect(t, from, 4)); got != "PUT w/a=2@4\nDELETE w/b=@5\nPUT w/c=1@6\nDELETE w/c=@7\n" {
			t.Fatalf("watch from the compaction revision: %s", got)
		}
	})
	t.Run("raw stream protocol", func(t *testing.T) { testRawWatchStream(t, e) })
}

// testRawWatchStream speaks the Watch protocol directly: server-assigned
// IDs, Created first with the current revision, cancel, progress.
func testRawWatchStream(t *testing.T, e *env) {
	c := ctx(t)
	cli := e.client("n1")
	stream, err := pb.NewWatchClient(cli.ActiveConnection()).Watch(c)
	if err != nil {
		t.Fatal(err)
	}
	create := func(key string) *pb.WatchResponse {
		t.Helper()
		if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{
			CreateRequest: &pb.WatchCreateRequest{Key: []byte(key)}}}); err != nil {
			t.Fatal(err)
		}
		return recvWatch(t, stream)
	}
	rev := e.node("n1").Revision()
	a, b := create("raw/a"), create("raw/b")
	if !a.Created || a.WatchId != 0 || b.WatchId != 1 || a.Header.Revision != rev {
		t.Fatalf("created replies: %v / %v (revision %d)", a, b, rev)
	}
	put, err := cli.Put(c, "raw/b", "1")
	if err != nil {
		t.Fatal(err)
	}
	ev := recvWatch(t, stream)
	if ev.WatchId != 1 || len(ev.Events) != 1 || ev.Events[0].Type != mvccpb.PUT || ev.Header.Revision != put.Header.Revision {
		t.Fatalf("event: %v", ev)
	}
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
		t.Fatal(err)
	}
	progress := recvWatch(t, stream)
	if progress.WatchId != -1 || len(progress.Events) != 0 || progress.Header.Revision != put.Header.Revision {
		t.Fatalf("stream progress: %v", progress)
	}
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 0}}}); err != nil {
		t.Fatal(err)
	}
	if canceled := recvWatch(t, stream); !canceled.Canceled || canceled.WatchId != 0 {
		t.Fatalf("cancel reply: %v", canceled)
	}
	if again := create("raw/c"); again.WatchId != 2 {
		t.Fatalf("IDs are not reused: %v", again)
	}
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{
		CreateRequest: &pb.WatchCreateRequest{Key: []byte("x"), StartRevision: -1}}}); err != nil {
		t.Fatal(err)
	}
	if bad := recvWatch(t, stream); !bad.Created || !bad.Canceled || bad.WatchId != -1 || bad.CancelReason != rpctypes.ErrCompacted.Error() {
		t.Fatalf("negative start revision: %v", bad)
	}
}

func recvWatch(t *testing.T, stream pb.Watch_WatchClient) *pb.WatchResponse {
	t.Helper()
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestWatchProgress: a progress request on a stream with several watchers
// gets one answer for all at a revision no lower than their events; a
// progress_notify watcher hears about progress periodically.
func TestWatchProgress(t *testing.T) {
	e := newEnv(t, etcdapi.Options{ProgressNotifyInterval: 100 * time.Millisecond})
	cli := e.client("n2")
	c := ctx(t)
	a := cli.Watch(c, "pa", clientv3.WithCreatedNotify())
	b := cli.Watch(c, "pb", clientv3.WithCreatedNotify())
	next(t, a)
	next(t, b)
	put, err := cli.Put(c, "pa", "1")
	if err != nil {
		t.Fatal(err)
	}
	collect(t, a, 1)
	if err := cli.RequestProgress(c); err != nil {
		t.Fatal(err)
	}
	for name, wch := range map[string]clientv3.WatchChan{"a": a, "b": b} {
		resp := next(t, wch)
		if !resp.IsProgressNotify() || resp.Header.Revision < put.Header.Revision {
			t.Fatalf("watcher %s: %+v", name, resp)
		}
	}
	notify := cli.Watch(c, "pn", clientv3.WithProgressNotify())
	if resp := next(t, notify); !resp.IsProgressNotify() {
		t.Fatalf("periodic progress: %+v", resp)
	}
}

// TestWatchResumesAfterNodeStops: a watch whose node stops resumes on
// another member from its last revision, without gap or duplicate.
func TestWatchResumesAfterNodeStops(t *testing.T) {
	e := newEnv(t, etcdapi.Options{})
	c := ctx(t)
	watcher := e.client()
	wch := watcher.Watch(c, "res/", clientv3.WithPrefix())
	writer := e.client()
	const before, after = 20, 20
	for i := range before {
		if _, err := writer.Put(c, fmt.Sprintf("res/%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	evs := collect(t, wch, before)
	var on string
	for name, api := range e.apis {
		if api.WatchStreams() > 0 {
			on = name
		}
	}
	if on == "" {
		t.Fatal("no member serves the watch")
	}
	e.stop(on)
	e.c.Leader() // writes go on once the others agree on a leader
	var others []string
	for _, n := range e.c.Names {
		if n != on {
			others = append(others, n)
		}
	}
	writer2 := e.client(others...)
	for i := before; i < before+after; i++ {
		if _, err := writer2.Put(c, fmt.Sprintf("res/%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	evs = append(evs, collect(t, wch, after)...)
	for i, ev := range evs {
		if want := fmt.Sprintf("res/%d", i); string(ev.Kv.Key) != want || (i > 0 && ev.Kv.ModRevision != evs[i-1].Kv.ModRevision+1) {
			t.Fatalf("event %d: %s at %d, want %s right after %d", i, ev.Kv.Key, ev.Kv.ModRevision, want, evs[max(i-1, 0)].Kv.ModRevision)
		}
	}
}
