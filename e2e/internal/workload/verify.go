package workload

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/client"
	"github.com/natsraft/natsraft/e2e/internal/history"
)

// Report sums up a verified workload.
type Report struct {
	history.Counts
	// AckedWrites is the number of acknowledged unique-key puts found.
	AckedWrites int
}

func (r Report) String() string {
	return fmt.Sprintf("%v; %d acknowledged unique writes present", r.Counts, r.AckedWrites)
}

// Verify runs the checks of a scenario once the load has stopped and the
// faults have healed: a final read of every register (recorded), every
// acknowledged unique put present with its value and no refused one
// present, and the whole history linearizable. The history is written to
// dir/history.jsonl when a check fails.
func (w *Workload) Verify(ctx context.Context, c *client.Client, dir string) (Report, error) {
	err := errors.Join(w.finalReads(ctx, c), w.checkAcked(ctx, c))
	ops := w.Rec.Ops()
	rep := Report{Counts: history.Count(ops)}
	if err == nil {
		err = history.Check(ops, dir)
	}
	if err != nil {
		path := filepath.Join(dir, "history.jsonl")
		if werr := history.WriteFile(path, ops); werr != nil {
			path = "(not written: " + werr.Error() + ")"
		}
		return rep, fmt.Errorf("%w\n(%v; history: %s)", err, rep.Counts, path)
	}
	acked, _, _ := w.Acked()
	rep.AckedWrites = len(acked)
	return rep, nil
}

// finalReads reads every register until the read succeeds, so the history
// ends with the state the cluster kept.
func (w *Workload) finalReads(ctx context.Context, c *client.Client) error {
	for i := range w.cfg.Registers {
		key := w.registerKey(i)
		err := retry(ctx, func() error {
			if op := w.Get(c, -1, key); op.Outcome != history.OK {
				return errors.New(op.Err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("final read of %s: %w", key, err)
		}
	}
	return nil
}

// checkAcked lists the unique keys and compares them with the record.
func (w *Workload) checkAcked(ctx context.Context, c *client.Client) error {
	stored := map[string]string{}
	err := retry(ctx, func() error {
		opCtx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
		defer cancel()
		resp, err := c.Get(opCtx, w.cfg.Prefix+AckPrefix, client.WithPrefix())
		if err != nil {
			return err
		}
		if resp.More {
			return errors.New("the listing of acknowledged writes was cut short")
		}
		for _, kv := range resp.Kvs {
			stored[string(kv.Key)] = string(kv.Value)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing %s%s: %w", w.cfg.Prefix, AckPrefix, err)
	}
	ok, refused, _ := w.Acked()
	var problems []string
	for _, op := range ok {
		if v, found := stored[op.Key]; !found || v != op.Value {
			problems = append(problems, fmt.Sprintf("acknowledged %v: stored %q (found %v)", op, v, found))
		}
	}
	for _, op := range refused {
		if v, found := stored[op.Key]; found {
			problems = append(problems, fmt.Sprintf("refused %v (%s) was applied: stored %q", op, op.Err, v))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems with unique writes:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	return nil
}

// KeepOnFailure writes the history to dir/history.jsonl when t has failed
// by the time it ends, whatever check failed.
func (w *Workload) KeepOnFailure(t testing.TB, dir string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		path := filepath.Join(dir, "history.jsonl")
		if err := history.WriteFile(path, w.Rec.Ops()); err != nil {
			t.Logf("writing the history: %v", err)
			return
		}
		t.Logf("the history of %s is in %s", t.Name(), path)
	})
}

// retry calls f until it succeeds or ctx ends.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// AwaitWritable puts a probe key until a put is acknowledged and returns
// how long that took (from the call).
func AwaitWritable(ctx context.Context, c *client.Client, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := retry(ctx, func() error {
		opCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := c.Put(opCtx, "probe/writable", start.String())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("the cluster took no write within %v: %w", timeout, err)
	}
	return time.Since(start), nil
}
