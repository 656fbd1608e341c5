package kv

import (
	"bytes"
	"cmp"
)

// txn follows etcd's applyTxn: decide every branch (nested ones included) on
// the state before the Txn, check the chosen ops against that state, then run
// them. A failed check returns an error before anything is written.
func (t *writeTxn) txn(r *TxnRequest) (*TxnResponse, error) {
	v := t.view()
	path := comparePath(&v, r, nil)
	rest, err := t.checkPath(&v, r, path)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		panic("kv: txn path not consumed")
	}
	resp, _ := t.runTxn(r, path)
	resp.Header.Revision = t.rev()
	return resp, nil
}

// comparePath appends the outcome of r's compares, then those of the nested
// Txns on the chosen branch, depth first: etcd's compareToPath.
func comparePath(v *view, r *TxnRequest, path []bool) []bool {
	ok := true
	for i := range r.Compare {
		if !compareHolds(v, &r.Compare[i]) {
			ok = false
			break
		}
	}
	path = append(path, ok)
	for _, op := range branch(r, ok) {
		if op.Txn != nil {
			path = comparePath(v, op.Txn, path)
		}
	}
	return path
}

func branch(r *TxnRequest, succeeded bool) []RequestOp {
	if succeeded {
		return r.Success
	}
	return r.Failure
}

// checkPath checks the ops on the chosen path against the state before the
// Txn (etcd's checkRequests): Range revisions and Put's IgnoreValue /
// IgnoreLease. It returns the rest of the path.
func (t *writeTxn) checkPath(v *view, r *TxnRequest, path []bool) ([]bool, error) {
	ops := branch(r, path[0])
	path = path[1:]
	for i := range ops {
		var err error
		switch op := &ops[i]; {
		case op.Range != nil:
			_, err = v.checkRev(op.Range.Revision)
		case op.Put != nil:
			err = t.checkPut(op.Put)
		case op.Txn != nil:
			path, err = t.checkPath(v, op.Txn, path)
		}
		if err != nil {
			return nil, err
		}
	}
	return path, nil
}

// runTxn runs the chosen branch of r. Ranges see the writes before them;
// each nested response's header holds the revision reached at that op.
// REQUIRES: checkPath passed, so nothing here can fail.
func (t *writeTxn) runTxn(r *TxnRequest, path []bool) (*TxnResponse, []bool) {
	resp := &TxnResponse{Succeeded: path[0]}
	ops := branch(r, path[0])
	path = path[1:]
	resp.Responses = make([]ResponseOp, len(ops))
	for i := range ops {
		out := &resp.Responses[i]
		switch op := &ops[i]; {
		case op.Range != nil:
			v := t.view()
			var err error
			out.Range, err = v.rangeKeys(op.Range)
			must(err)
		case op.Put != nil:
			out.Put = t.put(op.Put)
		case op.DeleteRange != nil:
			out.DeleteRange = t.deleteRange(op.DeleteRange)
		case op.Txn != nil:
			out.Txn, path = t.runTxn(op.Txn, path)
			out.Txn.Header.Revision = t.rev()
		}
	}
	return resp, path
}

// compareHolds is etcd's applyCompare: the compare must hold for every key
// of its range; no key compares a zero KeyValue, except that a Value compare
// on a missing key always fails.
func compareHolds(v *view, c *Compare) bool {
	holds, found := true, false
	err := v.visit(makeSpan(c.Key, c.RangeEnd), v.rev, func(key, rec []byte) error {
		var kv KeyValue
		if err := decodeRecord(&kv, key, rec, c.Target == CompareValue); err != nil {
			return err
		}
		found = true
		if !compareKV(c, &kv) {
			holds = false
			return errStop
		}
		return nil
	})
	must(err)
	if !found {
		return c.Target != CompareValue && compareKV(c, &KeyValue{})
	}
	return holds
}

func compareKV(c *Compare, kv *KeyValue) bool {
	var result int
	switch c.Target {
	case CompareValue:
		result = bytes.Compare(kv.Value, c.Value)
	case CompareCreate:
		result = cmp.Compare(kv.CreateRevision, c.CreateRevision)
	case CompareMod:
		result = cmp.Compare(kv.ModRevision, c.ModRevision)
	case CompareVersion:
		result = cmp.Compare(kv.Version, c.Version)
	case CompareLease:
		result = cmp.Compare(kv.Lease, c.Lease)
	}
	switch c.Result {
	case CompareEqual:
		return result == 0
	case CompareNotEqual:
		return result != 0
	case CompareGreater:
		return result > 0
	}
	return result < 0
}
