package client_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
	"github.com/natsraft/natsraft/server/natsapi/natsapitest"
)

// The linearizability test: concurrent clients put, get and compare-and-
// swap a few keys through the Go client while the leader is stopped and
// restarted again and again. The history must be linearizable (porcupine),
// and a watch on the keys must see every acknowledged write exactly once,
// in order.

const (
	linKeys        = 3
	linClients     = 4
	linLeaderKills = 5
	// linAcksPerPhase is how many writes must be acknowledged with the
	// leader down, and again after it restarted, before the next kill.
	linAcksPerPhase = 30
)

type opKind uint8

const (
	opGet opKind = iota
	opPut
	opCAS
)

// linInput is an operation on one key; values are unique per write.
type linInput struct {
	kind     opKind
	key      string
	value    string // put: the value; cas: the new value
	expected string // cas: the value compared
}

// linOutput is the outcome: unknown for a write whose outcome is unknown
// (its return is then at infinity: it may take effect at any later time).
type linOutput struct {
	value   string // get: the value read ("" for no key)
	ok      bool   // cas: swapped
	unknown bool
}

// linModel is a register per key. A value compare on a missing key fails
// (etcd's rule), and no write stores "".
var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(linInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(string), input.(linInput), output.(linOutput)
		switch in.kind {
		case opGet:
			return out.value == st, st
		case opPut:
			return true, in.value
		}
		swaps := st != "" && st == in.expected
		if out.unknown || out.ok == swaps {
			if swaps {
				return true, in.value
			}
			return true, st
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		return fmt.Sprintf("%d %s %q %q -> %+v", in.kind, in.key, in.value, in.expected, out)
	},
}

// linRecorder collects the history and the acknowledged writes.
type linRecorder struct {
	mu    sync.Mutex
	ops   []porcupine.Operation
	acked map[string]ackedWrite // by value
	tried map[string]bool       // every value a write carried
	start time.Time

	ackCount atomic.Int64
	acks     chan struct{} // nudged on every acknowledged write
}

type ackedWrite struct {
	key      string
	revision int64
}

func (r *linRecorder) now() int64 { return int64(time.Since(r.start)) }

func (r *linRecorder) record(client int, in linInput, call int64, out linOutput, ret int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

func (r *linRecorder) ack(in linInput, revision int64) {
	r.mu.Lock()
	r.acked[in.value] = ackedWrite{key: in.key, revision: revision}
	r.mu.Unlock()
	r.ackCount.Add(1)
	select {
	case r.acks <- struct{}{}:
	default:
	}
}

// waitAcks waits until n more writes are acknowledged.
func (r *linRecorder) waitAcks(t *testing.T, n int64) {
	t.Helper()
	target := r.ackCount.Load() + n
	timeout := time.After(20 * time.Second)
	for r.ackCount.Load() < target {
		select {
		case <-r.acks:
		case <-timeout:
			t.Fatalf("only %d of %d writes acknowledged in 20 s", r.ackCount.Load()-(target-n), n)
		}
	}
}

func TestLinearizableAcrossLeaderRestarts(t *testing.T) {
	c := natsapitest.Start(t, natsapi.Options{}, "n1", "n2", "n3")
	opts := client.Options{Timeout: 3 * time.Second, AttemptTimeout: 500 * time.Millisecond,
		WatchHeartbeat: 100 * time.Millisecond}
	watcher := newClient(t, c, opts)
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	st, err := watcher.Status(watchCtx)
	if err != nil {
		t.Fatal(err)
	}
	events := watcher.Watch(watchCtx, "lin/", client.WithPrefix(), client.WithRev(st.Revision+1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	rec := &linRecorder{acked: map[string]ackedWrite{}, tried: map[string]bool{}, start: time.Now(),
		acks: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	for id := range linClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runLinClient(ctx, t, rec, newClient(t, c, opts), id)
		}()
	}
	for range linLeaderKills {
		rec.waitAcks(t, linAcksPerPhase)
		lead := c.Leader()
		c.StopNode(lead)
		rec.waitAcks(t, linAcksPerPhase)
		c.StartNode(lead, server.Config{})
	}
	rec.waitAcks(t, linAcksPerPhase)
	cancel()
	wg.Wait()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	unknown := 0
	for _, op := range rec.ops {
		if op.Output.(linOutput).unknown {
			unknown++
		}
	}
	t.Logf("%d operations, %d writes acknowledged, %d of unknown outcome", len(rec.ops), len(rec.acked), unknown)
	result, info := porcupine.CheckOperationsVerbose(linModel, rec.ops, time.Minute)
	if result != porcupine.Ok {
		path := t.TempDir() + "/history.html"
		_ = porcupine.VisualizePath(linModel, info, path)
		t.Fatalf("history is %s (visualization: %s)", result, path)
	}
	checkWatch(t, c, rec, events, opts)
}

// runLinClient runs random operations until ctx is done.
func runLinClient(ctx context.Context, t *testing.T, rec *linRecorder, cl *client.Client, id int) {
	rng := rand.New(rand.NewPCG(uint64(id), 42))
	last := map[string]string{} // the last value this client saw per key
	for seq := 0; ctx.Err() == nil; seq++ {
		key := fmt.Sprintf("lin/%d", rng.IntN(linKeys))
		in := linInput{key: key, value: fmt.Sprintf("c%d-%d", id, seq)}
		switch n := rng.IntN(10); {
		case n < 4:
			in.kind = opGet
		case n < 7 || last[key] == "":
			in.kind = opPut
		default:
			in.kind, in.expected = opCAS, last[key]
		}
		rec.mu.Lock()
		if in.kind != opGet {
			rec.tried[in.value] = true
		}
		rec.mu.Unlock()
		call := rec.now()
		out, revision, err := doLinOp(ctx, cl, in)
		switch {
		case err == nil:
			rec.record(id, in, call, out, rec.now())
			if in.kind == opGet {
				last[key] = out.value
			} else if in.kind == opPut || out.ok {
				last[key] = in.value
				rec.ack(in, revision)
			}
		case in.kind != opGet && errors.Is(err, client.ErrTimeout):
			// Unknown outcome: it may take effect at any time from now on.
			rec.record(id, in, call, linOutput{unknown: true}, math.MaxInt64)
		case in.kind == opGet || ctx.Err() != nil || isRefusal(err):
			// A failed read, or a write refused at every attempt (a write
			// is retried only when refused): not part of the history.
		default:
			t.Errorf("client %d: %+v: %v", id, in, err)
			return
		}
	}
}

// isRefusal reports errors that mean the request did not take effect.
func isRefusal(err error) bool {
	return client.CodeOf(err).Retryable() || errors.Is(err, client.ErrUnavailable)
}

func doLinOp(ctx context.Context, cl *client.Client, in linInput) (linOutput, int64, error) {
	switch in.kind {
	case opGet:
		resp, err := cl.Get(ctx, in.key)
		if err != nil {
			return linOutput{}, 0, err
		}
		out := linOutput{}
		if len(resp.Kvs) > 0 {
			out.value = string(resp.Kvs[0].Value)
		}
		return out, resp.Header.Revision, nil
	case opPut:
		resp, err := cl.Put(ctx, in.key, in.value)
		if err != nil {
			return linOutput{}, 0, err
		}
		return linOutput{}, resp.Header.Revision, nil
	}
	resp, err := cl.Txn(ctx, &kv.TxnRequest{
		Compare: []kv.Compare{client.CompareValue(in.key, kv.CompareEqual, in.expected)},
		Success: []kv.RequestOp{client.OpPut(in.key, in.value)},
	})
	if err != nil {
		return linOutput{}, 0, err
	}
	return linOutput{ok: resp.Succeeded}, resp.Header.Revision, nil
}

// checkWatch reads the watch up to the final revision: every acknowledged
// write exactly once, at its revision, in revision order, and no event
// that no client wrote.
func checkWatch(t *testing.T, c *natsapitest.Cluster, rec *linRecorder, events client.WatchChan, opts client.Options) {
	cl := newClient(t, c, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	final, err := cl.Get(ctx, "lin/", client.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	last := int64(0)
	for last < final.Header.Revision {
		var resp client.WatchResponse
		select {
		case r, ok := <-events:
			if !ok || r.Canceled {
				t.Fatalf("the watch ended at revision %d: %v", last, r.Err())
			}
			resp = r
		case <-ctx.Done():
			t.Fatalf("the watch reached revision %d of %d in 20 s", last, final.Header.Revision)
		}
		for _, ev := range resp.Events {
			v, rev := string(ev.Kv.Value), ev.Kv.ModRevision
			a, acked := rec.acked[v]
			switch {
			case rev <= last:
				t.Fatalf("event at revision %d after %d", rev, last)
			case seen[v] || !rec.tried[v]:
				t.Fatalf("value %q seen twice, or never written", v)
			case acked && (a.revision != rev || a.key != string(ev.Kv.Key)):
				t.Fatalf("value %q at %s revision %d, acknowledged at %s %d", v, ev.Kv.Key, rev, a.key, a.revision)
			}
			last, seen[v] = rev, true
		}
	}
	for v, a := range rec.acked {
		if !seen[v] {
			t.Fatalf("acknowledged write %q at revision %d never seen by the watch", v, a.revision)
		}
	}
}
