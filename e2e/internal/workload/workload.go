// Package workload runs concurrent clients against a natsraft cluster and
// records what they did in a history (package history):
//
//   - gets, puts, compare-and-swaps and deletes on a few shared registers
//     (reg/<n>), contended by every worker, for the linearizability check;
//   - puts of unique keys (ack/<worker>/<seq>), whose acknowledged values
//     must all be present after the faults heal.
//
// Every value written is unique, so a read names the write it saw.
package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/e2e/internal/history"
	"github.com/natsraft/natsraft/kv"
)

// Config shapes the load.
type Config struct {
	// Prefix starts every key, so that workloads on one cluster do not
	// share keys (each history starts from empty registers).
	Prefix string
	// Workers is the number of concurrent clients (default 4).
	Workers int
	// Registers is the number of shared keys (default 8).
	Registers int
	// OpTimeout bounds one operation (default 3s).
	OpTimeout time.Duration
	// Pace is the least time between two operations of one worker, to keep
	// histories small enough to check (default 10ms).
	Pace time.Duration
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Registers <= 0 {
		c.Registers = 8
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 3 * time.Second
	}
	if c.Pace <= 0 {
		c.Pace = 10 * time.Millisecond
	}
	return c
}

// AckPrefix and RegisterPrefix are the key spaces of the workload, after
// Config.Prefix.
const (
	AckPrefix      = "ack/"
	RegisterPrefix = "reg/"
)

func (w *Workload) registerKey(i int) string {
	return fmt.Sprintf("%s%s%d", w.cfg.Prefix, RegisterPrefix, i)
}

// Workload is the load of one scenario and its record.
type Workload struct {
	cfg Config
	Rec *history.Recorder
	mu  struct {
		sync.Mutex
		// ack holds the unique-key puts by key.
		ack map[string]history.Op
	}
}

// New prepares a workload; Start runs it.
func New(cfg Config) *Workload {
	w := &Workload{cfg: cfg.withDefaults(), Rec: history.NewRecorder()}
	w.mu.ack = map[string]history.Op{}
	return w
}

// Start runs the workers, worker i on clients[i%len(clients)], until the
// returned stop is called; stop waits for the operations in flight.
func (w *Workload) Start(clients []*client.Client) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range w.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.worker(ctx, i, clients[i%len(clients)])
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// worker runs operations until ctx ends. Operations run on their own
// contexts, so stopping never turns one into an unknown outcome.
func (w *Workload) worker(ctx context.Context, id int, c *client.Client) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	pace := time.NewTicker(w.cfg.Pace)
	defer pace.Stop()
	seen := map[string]string{} // the last value this worker saw per register
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
		key := w.registerKey(rng.IntN(w.cfg.Registers))
		value := fmt.Sprintf("w%d-%d", id, seq)
		switch p := rng.IntN(100); {
		case p < 30:
			if op := w.Get(c, id, key); op.Found {
				seen[key] = op.Got
			}
		case p < 50:
			w.Put(c, id, key, value)
		case p < 70:
			w.CAS(c, id, key, seen[key], value)
		case p < 75:
			w.Delete(c, id, key)
		default:
			op := w.Put(c, id, fmt.Sprintf("%s%s%d/%d", w.cfg.Prefix, AckPrefix, id, seq), value)
			w.mu.Lock()
			w.mu.ack[op.Key] = op
			w.mu.Unlock()
		}
	}
}

// Get reads key (linearizable) and records it.
func (w *Workload) Get(c *client.Client, clientID int, key string) history.Op {
	return w.do(clientID, history.Op{Kind: history.Get, Key: key}, func(ctx context.Context, op *history.Op) error {
		resp, err := c.Get(ctx, key)
		if err == nil {
			op.Revision = resp.Header.Revision
			if len(resp.Kvs) > 0 {
				op.Found, op.Got = true, string(resp.Kvs[0].Value)
			}
		}
		return err
	})
}

// Put writes key and records it.
func (w *Workload) Put(c *client.Client, clientID int, key, value string) history.Op {
	return w.do(clientID, history.Op{Kind: history.Put, Key: key, Value: value}, func(ctx context.Context, op *history.Op) error {
		resp, err := c.Put(ctx, key, value)
		if err == nil {
			op.Revision = resp.Header.Revision
		}
		return err
	})
}

// CAS replaces key's value with value if it is expect, and records it.
func (w *Workload) CAS(c *client.Client, clientID int, key, expect, value string) history.Op {
	return w.do(clientID, history.Op{Kind: history.CAS, Key: key, Value: value, Expect: expect}, func(ctx context.Context, op *history.Op) error {
		resp, err := c.Txn(ctx, &kv.TxnRequest{
			Compare: []kv.Compare{client.CompareValue(key, kv.CompareEqual, expect)},
			Success: []kv.RequestOp{client.OpPut(key, value)},
		})
		if err == nil {
			op.Revision, op.Succeeded = resp.Header.Revision, resp.Succeeded
		}
		return err
	})
}

// Delete deletes key and records it.
func (w *Workload) Delete(c *client.Client, clientID int, key string) history.Op {
	return w.do(clientID, history.Op{Kind: history.Delete, Key: key}, func(ctx context.Context, op *history.Op) error {
		resp, err := c.Delete(ctx, key)
		if err == nil {
			op.Revision = resp.Header.Revision
		}
		return err
	})
}

func (w *Workload) do(clientID int, op history.Op, call func(ctx context.Context, op *history.Op) error) history.Op {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.OpTimeout)
	defer cancel()
	op.Client = clientID
	op.Call = w.Rec.Now()
	err := call(ctx, &op)
	op.Return = w.Rec.Now()
	op.Outcome = Outcome(err)
	if err != nil {
		op.Err = err.Error()
	}
	w.Rec.Add(op)
	return op
}

// Outcome classifies a client error: nil is OK; a code the server uses for
// "refused before it could take effect", or no node answering at all, is
// Refused; anything else, a timeout first of all, is Unknown.
func Outcome(err error) history.Outcome {
	switch {
	case err == nil:
		return history.OK
	case errors.Is(err, client.ErrTimeout):
		return history.Unknown
	case client.CodeOf(err).Retryable(), errors.Is(err, client.ErrUnavailable):
		return history.Refused
	}
	return history.Unknown
}

// Acked returns the unique-key puts by outcome.
func (w *Workload) Acked() (ok, refused, unknown []history.Op) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, op := range w.mu.ack {
		switch op.Outcome {
		case history.OK:
			ok = append(ok, op)
		case history.Refused:
			refused = append(refused, op)
		default:
			unknown = append(unknown, op)
		}
	}
	return ok, refused, unknown
}
