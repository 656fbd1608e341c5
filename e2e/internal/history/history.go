// Package history records what concurrent clients did to a natsraft cluster
// and checks it: linearizability with porcupine (a register per key, with
// put, get, compare-and-swap and delete), and the real-time order of the
// revisions the cluster returned.
//
// Every operation is recorded with its call and return times. An operation
// ends in one of three ways:
//
//	OK       acknowledged; its output is checked
//	Refused  the node refused it before it could take effect (a retryable
//	         code: no leader, busy, stopped, leader changed): no effect,
//	         left out of the check
//	Unknown  timed out or failed otherwise: a write may or may not have
//	         taken effect, so it is checked as if it returned never (it may
//	         be linearized anywhere after its call, including after every
//	         other operation); an unknown read is left out
package history

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// Kind is what an operation does.
type Kind uint8

const (
	Get Kind = iota
	Put
	CAS    // put Value if the key's value is Expect
	Delete // delete the key
)

func (k Kind) String() string {
	return [...]string{"get", "put", "cas", "delete"}[k]
}

// Outcome is how an operation ended.
type Outcome uint8

const (
	OK Outcome = iota
	Refused
	Unknown
)

func (o Outcome) String() string {
	return [...]string{"ok", "refused", "unknown"}[o]
}

// Op is one operation of one client.
type Op struct {
	Client int    `json:"client"`
	Kind   Kind   `json:"kind"`
	Key    string `json:"key"`
	// Value is written by Put and CAS; Expect is what CAS compares with.
	Value  string `json:"value,omitempty"`
	Expect string `json:"expect,omitempty"`
	// Call and Return are nanoseconds since the recorder started.
	Call    int64   `json:"call"`
	Return  int64   `json:"return"`
	Outcome Outcome `json:"outcome"`
	// Found and Got are a Get's result; Succeeded is a CAS's.
	Found     bool   `json:"found,omitempty"`
	Got       string `json:"got,omitempty"`
	Succeeded bool   `json:"succeeded,omitempty"`
	// Revision is the store revision the response was made at (OK only).
	Revision int64  `json:"revision,omitempty"`
	Err      string `json:"err,omitempty"`
}

func (o Op) String() string {
	var s string
	switch o.Kind {
	case Get:
		s = fmt.Sprintf("get(%s) -> %s", o.Key, describeValue(o.Found, o.Got))
	case Put:
		s = fmt.Sprintf("put(%s, %q)", o.Key, o.Value)
	case CAS:
		s = fmt.Sprintf("cas(%s, %q -> %q) -> %v", o.Key, o.Expect, o.Value, o.Succeeded)
	case Delete:
		s = fmt.Sprintf("delete(%s)", o.Key)
	}
	return fmt.Sprintf("client %d: %s [%s rev %d, %d..%d]", o.Client, s, o.Outcome, o.Revision, o.Call, o.Return)
}

func describeValue(found bool, v string) string {
	if !found {
		return "<none>"
	}
	return fmt.Sprintf("%q", v)
}

// Recorder collects the operations of all clients. It is safe for
// concurrent use.
type Recorder struct {
	start time.Time
	mu    struct {
		sync.Mutex
		ops []Op
	}
}

// NewRecorder starts the clock of a history.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the time since the recorder started, in nanoseconds.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Add records a finished operation.
func (r *Recorder) Add(op Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.ops = append(r.mu.ops, op)
}

// Ops returns a copy of the operations recorded so far, by call time.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	ops := append([]Op(nil), r.mu.ops...)
	r.mu.Unlock()
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	return ops
}

// Counts tallies operations by outcome.
type Counts struct{ OK, Refused, Unknown int }

func (c Counts) Total() int { return c.OK + c.Refused + c.Unknown }

func (c Counts) String() string {
	return fmt.Sprintf("%d operations (%d ok, %d refused, %d unknown)", c.Total(), c.OK, c.Refused, c.Unknown)
}

// Count tallies ops by outcome.
func Count(ops []Op) Counts {
	var c Counts
	for _, op := range ops {
		switch op.Outcome {
		case OK:
			c.OK++
		case Refused:
			c.Refused++
		default:
			c.Unknown++
		}
	}
	return c
}

// WriteFile writes ops as JSON lines, for diagnosis.
func WriteFile(path string, ops []Op) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// LongestWriteGap is the longest time, from since on, between two
// acknowledged writes (or from since to the first one): how long the
// clients saw the cluster take no write.
func LongestWriteGap(ops []Op, since int64) time.Duration {
	var returns []int64
	for _, op := range ops {
		if op.Outcome == OK && op.Kind != Get && op.Return >= since {
			returns = append(returns, op.Return)
		}
	}
	sort.Slice(returns, func(i, j int) bool { return returns[i] < returns[j] })
	var gap int64
	last := since
	for _, r := range returns {
		gap = max(gap, r-last)
		last = r
	}
	return time.Duration(gap)
}
