package sim

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// kvInput and kvOutput are an operation on the replicated map as porcupine
// sees it.
type kvInput struct {
	put        bool
	key, value string
}

type kvOutput struct{ value string }

// neverReturned is the return time of a write whose outcome is unknown: it
// may take effect at any point after its call, or never (porcupine may
// linearize it after everything else).
const neverReturned = int64(1) << 62

// linearizabilityTimeout bounds porcupine; histories are kept small
// enough that it is never reached (Stats.LinearizabilityUnknown says so).
const linearizabilityTimeout = 60 * time.Second

// kvModel is a map of registers, checked one key at a time.
var kvModel = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.put {
			return true, in.value
		}
		return output.(kvOutput).value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(%s, %q)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %q", in.key, output.(kvOutput).value)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range history {
		k := op.Input.(kvInput).key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	slices.Sort(keys)
	out := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

// history turns the operations into porcupine's form. A write's return is
// the tick it first took effect on any node: it was committed by then,
// whether or not its client heard back (and a client hears back later).
// A write that has not taken effect never returned, unless a later write
// of its client took effect: the state machine then ignores it forever
// (deduplication by sequence number), so it is left out, as are reads
// that never answered and calls refused at once: they had no effect.
// Leaving them out keeps porcupine's search small.
func (c *clients) history() ([]porcupine.Operation, int) {
	fence := make([]uint64, c.opts.Clients)
	for _, op := range c.ops {
		if op.kind == opPut && op.applied != 0 {
			fence[op.client] = max(fence[op.client], op.seq)
		}
	}
	var out []porcupine.Operation
	unknown := 0
	for _, op := range c.ops {
		in := kvInput{put: op.kind == opPut, key: op.key, value: op.value}
		switch {
		case op.state == opDropped || op.state == opPending && op.kind == opGet:
		case op.kind == opGet:
			out = append(out, porcupine.Operation{ClientId: op.client, Input: in, Output: kvOutput{op.value}, Call: op.call, Return: op.ret})
		case op.applied != 0:
			out = append(out, porcupine.Operation{ClientId: op.client, Input: in, Output: kvOutput{}, Call: op.call, Return: op.applied})
		case op.seq > fence[op.client]:
			unknown++
			out = append(out, porcupine.Operation{ClientId: op.client, Input: in, Output: kvOutput{}, Call: op.call, Return: neverReturned})
		}
	}
	return out, unknown
}

// checkLinearizability checks the whole history; on a violation it writes
// porcupine's visualization to a file and names it in the error.
func (s *Sim) checkLinearizability() {
	history, unknown := s.clients.history()
	s.stats.Ops, s.stats.OpsUnknown = len(history), unknown
	switch porcupine.CheckOperationsTimeout(kvModel, history, linearizabilityTimeout) {
	case porcupine.Ok:
		return
	case porcupine.Unknown:
		s.stats.LinearizabilityUnknown = true
		return
	}
	_, info := porcupine.CheckOperationsVerbose(kvModel, history, linearizabilityTimeout)
	path := "(not written)"
	if f, err := os.CreateTemp("", fmt.Sprintf("raft-sim-seed-%d-*.html", s.opts.Seed)); err == nil {
		if err := porcupine.Visualize(kvModel, info, f); err == nil {
			path = f.Name()
		}
		f.Close()
	}
	s.fail("linearizability: the client history (%d operations) is not linearizable; visualization: %s", len(history), path)
}
