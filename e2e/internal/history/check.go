package history

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// neverReturned is the return time of a write whose outcome is unknown.
const neverReturned = int64(1) << 62

// register is the state of one key.
type register struct {
	exists bool
	value  string
}

type input struct {
	kind               Kind
	key, value, expect string
}

type output struct {
	unknown, found, succeeded bool
	got                       string
}

// Model is a map of registers, checked one key at a time.
var Model = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() any { return register{} },
	Step:      step,
	DescribeOperation: func(in, out any) string {
		i, o := in.(input), out.(output)
		op := Op{Kind: i.kind, Key: i.key, Value: i.value, Expect: i.expect, Found: o.found, Got: o.got, Succeeded: o.succeeded}
		if o.unknown {
			op.Outcome = Unknown
		}
		return op.String()
	},
	DescribeState: func(s any) string {
		r := s.(register)
		return describeValue(r.exists, r.value)
	},
}

func step(state, in, out any) (bool, any) {
	s, i, o := state.(register), in.(input), out.(output)
	switch i.kind {
	case Get:
		return o.found == s.exists && (!o.found || o.got == s.value), s
	case Put:
		return true, register{exists: true, value: i.value}
	case Delete:
		return true, register{}
	}
	// CAS: with an unknown outcome it did whatever the state made it do.
	matches := s.exists && s.value == i.expect
	if !o.unknown && o.succeeded != matches {
		return false, s
	}
	if matches {
		return true, register{exists: true, value: i.value}
	}
	return true, s
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(input).key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

// Operations turns ops into porcupine's form: refused operations and
// unknown reads are left out, unknown writes never return.
func Operations(ops []Op) []porcupine.Operation {
	var out []porcupine.Operation
	for _, op := range ops {
		if op.Outcome == Refused || op.Outcome == Unknown && op.Kind == Get {
			continue
		}
		p := porcupine.Operation{
			ClientId: op.Client, Call: op.Call, Return: op.Return,
			Input:  input{kind: op.Kind, key: op.Key, value: op.Value, expect: op.Expect},
			Output: output{found: op.Found, got: op.Got, succeeded: op.Succeeded},
		}
		if op.Outcome == Unknown {
			p.Return = neverReturned
			p.Output = output{unknown: true}
		}
		out = append(out, p)
	}
	return out
}

// CheckTimeout bounds porcupine; an undecided check is an error.
const CheckTimeout = 2 * time.Minute

// Check checks ops for linearizability and for the real-time order of
// revisions. On a violation it writes porcupine's visualization into dir
// and names it in the error.
func Check(ops []Op, dir string) error {
	if err := CheckRevisionOrder(ops); err != nil {
		return err
	}
	history := Operations(ops)
	res, info := porcupine.CheckOperationsVerbose(Model, history, CheckTimeout)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return fmt.Errorf("porcupine could not decide within %v on %d operations", CheckTimeout, len(history))
	}
	path := filepath.Join(dir, "linearizability.html")
	if f, err := os.Create(path); err == nil {
		if err := porcupine.Visualize(Model, info, f); err != nil {
			path = fmt.Sprintf("(visualization failed: %v)", err)
		}
		f.Close()
	}
	return fmt.Errorf("the history of %d operations is not linearizable; visualization: %s", len(history), path)
}

// CheckRevisionOrder checks the store revisions of acknowledged operations
// against real time: an operation called after another returned answers at
// a revision at least as high, and strictly higher when it wrote (a put or
// a successful CAS moves the revision on).
func CheckRevisionOrder(ops []Op) error {
	var done []Op
	for _, op := range ops {
		if op.Outcome == OK {
			done = append(done, op)
		}
	}
	byReturn := slices.Clone(done)
	sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
	sort.Slice(done, func(i, j int) bool { return done[i].Call < done[j].Call })
	var highest Op // the highest revision returned before the current call
	next := 0
	for _, op := range done {
		for ; next < len(byReturn) && byReturn[next].Return < op.Call; next++ {
			if byReturn[next].Revision > highest.Revision {
				highest = byReturn[next]
			}
		}
		writes := op.Kind == Put || op.Kind == CAS && op.Succeeded
		if op.Revision < highest.Revision || writes && op.Revision == highest.Revision && highest.Revision != 0 {
			return fmt.Errorf("revision order: %v answered at revision %d after %v had returned revision %d",
				op, op.Revision, highest, highest.Revision)
		}
	}
	return nil
}
