package kv

import (
	"bytes"
	"slices"
	"sort"
)

// writeSet is what a list of txn ops may write: the keys put and the spans
// deleted, including those of nested Txns on either branch.
type writeSet struct {
	puts map[string]struct{}
	dels []span
}

// checkWrites enforces etcd's "duplicate key given in txn request" rule
// (etcd's checkIntervals): on any path through the ops, a key is put at most
// once and is not both put and deleted. The Success and Failure branches of a
// nested Txn exclude each other and may overlap.
//
// Divergence: etcd checks a nested Txn's puts only against the deletes of the
// ops before it and reads a range end "\x00" literally; we check all sibling
// ops both ways and read "\x00" as "every key >= key". Either etcd gap would
// let one revision change a key twice, which the history layout forbids.
func checkWrites(ops []RequestOp) (writeSet, error) {
	own := writeSet{puts: map[string]struct{}{}}
	units := []writeSet{own}
	for i := range ops {
		switch op := &ops[i]; {
		case op.DeleteRange != nil:
			own.dels = append(own.dels, makeSpan(op.DeleteRange.Key, op.DeleteRange.RangeEnd))
		case op.Put != nil:
			if _, dup := own.puts[string(op.Put.Key)]; dup {
				return writeSet{}, ErrDuplicateKey
			}
			own.puts[string(op.Put.Key)] = struct{}{}
		case op.Txn != nil:
			child, err := checkBranches(op.Txn)
			if err != nil {
				return writeSet{}, err
			}
			units = append(units, child)
		}
	}
	units[0] = own
	return mergeUnits(units)
}

// checkBranches returns the union of what either branch of t may write.
func checkBranches(t *TxnRequest) (writeSet, error) {
	then, err := checkWrites(t.Success)
	if err != nil {
		return writeSet{}, err
	}
	els, err := checkWrites(t.Failure)
	if err != nil {
		return writeSet{}, err
	}
	for k := range els.puts {
		then.puts[k] = struct{}{}
	}
	then.dels = append(then.dels, els.dels...)
	return then, nil
}

// mergeUnits checks the units (this level's own ops first, then each nested
// Txn) against each other and returns their union. A put conflicts with a
// put of another unit, and with a delete of any unit but its own nested Txn
// (whose conflicts were checked per branch).
func mergeUnits(units []writeSet) (writeSet, error) {
	all := writeSet{puts: map[string]struct{}{}}
	cover := newCoverCount()
	sets := make([]spanSet, len(units))
	for i, u := range units {
		sets[i] = newSpanSet(u.dels)
		cover.add(sets[i])
		all.dels = append(all.dels, u.dels...)
	}
	cover.seal()
	for i, u := range units {
		for k := range u.puts {
			if _, dup := all.puts[k]; dup {
				return writeSet{}, ErrDuplicateKey
			}
			all.puts[k] = struct{}{}
			n := cover.count([]byte(k))
			if i > 0 && sets[i].contains([]byte(k)) {
				n-- // its own nested Txn's delete, on the other branch
			}
			if n > 0 {
				return writeSet{}, ErrDuplicateKey
			}
		}
	}
	return all, nil
}

// spanSet is a union of spans as sorted, disjoint spans.
type spanSet []span

func newSpanSet(spans []span) spanSet {
	var set spanSet
	for _, s := range spans {
		if !s.empty {
			set = append(set, s)
		}
	}
	slices.SortFunc(set, func(a, b span) int { return bytes.Compare(a.start, b.start) })
	merged := set[:0]
	for _, s := range set {
		last := len(merged) - 1
		if last >= 0 && (merged[last].end == nil || bytes.Compare(s.start, merged[last].end) <= 0) {
			merged[last].end = maxEnd(merged[last].end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// maxEnd is the larger of two span ends, nil being unbounded.
func maxEnd(a, b []byte) []byte {
	if a == nil || b == nil {
		return nil
	}
	if bytes.Compare(a, b) >= 0 {
		return a
	}
	return b
}

func (s spanSet) contains(key []byte) bool {
	i := sort.Search(len(s), func(i int) bool { return bytes.Compare(s[i].start, key) > 0 }) - 1
	return i >= 0 && s[i].contains(key)
}

// coverCount counts how many disjoint-within-themselves span sets contain a
// key: the starts at or below it minus the ends at or below it.
type coverCount struct {
	starts, ends [][]byte
}

func newCoverCount() *coverCount { return &coverCount{} }

func (c *coverCount) add(set spanSet) {
	for _, s := range set {
		c.starts = append(c.starts, s.start)
		if s.end != nil {
			c.ends = append(c.ends, s.end)
		}
	}
}

func (c *coverCount) seal() {
	slices.SortFunc(c.starts, bytes.Compare)
	slices.SortFunc(c.ends, bytes.Compare)
}

func (c *coverCount) count(key []byte) int {
	atOrBelow := func(list [][]byte) int {
		return sort.Search(len(list), func(i int) bool { return bytes.Compare(list[i], key) > 0 })
	}
	return atOrBelow(c.starts) - atOrBelow(c.ends)
}
