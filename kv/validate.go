package kv

import "fmt"

// Validate checks a request before it is proposed: its structure (as Apply
// does) and the limits of Options. The server calls it on every client
// request; a request that fails is never proposed.
func (s *Store) Validate(req *Request) error {
	if err := checkRequest(req); err != nil {
		return err
	}
	l := limitCheck{opts: &s.opts}
	if err := l.request(req); err != nil {
		return err
	}
	if l.sizeBytes > s.opts.MaxRequestBytes {
		return fmt.Errorf("%w: about %d bytes, limit %d", ErrRequestTooLarge, l.sizeBytes, s.opts.MaxRequestBytes)
	}
	return nil
}

// checkRequest is the structural check of a request. It depends neither on
// Options nor on the state, so every node decides it alike; Apply runs it.
func checkRequest(req *Request) error {
	if req == nil {
		return invalidf("nil request")
	}
	n := countSet(req.Range != nil, req.Put != nil, req.DeleteRange != nil, req.Txn != nil, req.Compaction != nil,
		req.LeaseGrant != nil, req.LeaseRevoke != nil, req.LeaseRenew != nil)
	if n != 1 {
		return invalidf("a request holds exactly one operation, this one %d", n)
	}
	switch {
	case req.Compaction != nil:
		return nil // checked against the state by Apply
	case req.isLease():
		return checkLeaseRequest(req)
	case req.Txn != nil:
		return checkTxn(req.Txn)
	}
	return checkOp(req.op(), 0)
}

// op views a request other than a compaction as a txn op.
func (req *Request) op() *RequestOp {
	return &RequestOp{Range: req.Range, Put: req.Put, DeleteRange: req.DeleteRange, Txn: req.Txn}
}

// isLease reports whether req is one of the lease operations.
func (req *Request) isLease() bool {
	return req.LeaseGrant != nil || req.LeaseRevoke != nil || req.LeaseRenew != nil
}

func countSet(set ...bool) int {
	n := 0
	for _, b := range set {
		if b {
			n++
		}
	}
	return n
}

func checkRange(r *RangeRequest) error {
	if len(r.Key) == 0 {
		return ErrEmptyKey
	}
	if r.SortOrder < SortNone || r.SortOrder > SortDescend {
		return invalidf("sort order %d", r.SortOrder)
	}
	if r.SortTarget < SortByKey || r.SortTarget > SortByValue {
		return invalidf("sort target %d", r.SortTarget)
	}
	return nil
}

func checkPut(p *PutRequest) error {
	switch {
	case len(p.Key) == 0:
		return ErrEmptyKey
	case p.IgnoreValue && len(p.Value) != 0:
		return ErrValueProvided
	case p.IgnoreLease && p.Lease != 0:
		return ErrLeaseProvided
	}
	return nil
}

func checkDeleteRange(d *DeleteRangeRequest) error {
	if len(d.Key) == 0 {
		return ErrEmptyKey
	}
	return nil
}

// checkTxn checks a Txn's compares and ops at every depth, then etcd's rule
// that no path of the Txn writes a key twice.
func checkTxn(t *TxnRequest) error {
	if err := checkTxnOps(t, 0); err != nil {
		return err
	}
	if _, err := checkWrites(t.Success); err != nil {
		return err
	}
	_, err := checkWrites(t.Failure)
	return err
}

func checkTxnOps(t *TxnRequest, depth int) error {
	if depth >= maxTxnDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrTooManyOps, maxTxnDepth)
	}
	for i := range t.Compare {
		if err := checkCompare(&t.Compare[i]); err != nil {
			return err
		}
	}
	for _, ops := range [][]RequestOp{t.Success, t.Failure} {
		for i := range ops {
			if err := checkOp(&ops[i], depth); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkCompare(c *Compare) error {
	switch {
	case len(c.Key) == 0:
		return ErrEmptyKey
	case c.Result < CompareEqual || c.Result > CompareNotEqual:
		return invalidf("compare result %d", c.Result)
	case c.Target < CompareVersion || c.Target > CompareLease:
		return invalidf("compare target %d", c.Target)
	}
	return nil
}

func checkOp(op *RequestOp, depth int) error {
	n := countSet(op.Range != nil, op.Put != nil, op.DeleteRange != nil, op.Txn != nil)
	if n != 1 {
		return invalidf("a txn op holds exactly one operation, this one %d", n)
	}
	switch {
	case op.Range != nil:
		return checkRange(op.Range)
	case op.Put != nil:
		return checkPut(op.Put)
	case op.DeleteRange != nil:
		return checkDeleteRange(op.DeleteRange)
	}
	return checkTxnOps(op.Txn, depth+1)
}

// limitCheck walks a request, checking Options' limits and estimating its
// encoded size (bytes of keys and values plus a small overhead per field).
type limitCheck struct {
	opts      *Options
	sizeBytes int
}

const fieldOverheadBytes = 8

func (l *limitCheck) key(k []byte) error {
	l.sizeBytes += len(k) + fieldOverheadBytes
	if len(k) > l.opts.MaxKeyBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLarge, len(k), l.opts.MaxKeyBytes)
	}
	return nil
}

func (l *limitCheck) value(v []byte) error {
	l.sizeBytes += len(v) + fieldOverheadBytes
	if len(v) > l.opts.MaxValueBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(v), l.opts.MaxValueBytes)
	}
	return nil
}

func (l *limitCheck) keys(ks ...[]byte) error {
	for _, k := range ks {
		if err := l.key(k); err != nil {
			return err
		}
	}
	return nil
}

func (l *limitCheck) request(req *Request) error {
	if req.Compaction != nil || req.isLease() {
		return nil
	}
	return l.op(req.op())
}

func (l *limitCheck) put(p *PutRequest) error {
	if err := l.key(p.Key); err != nil {
		return err
	}
	return l.value(p.Value)
}

func (l *limitCheck) txn(t *TxnRequest) error {
	max := l.opts.MaxTxnOps
	if len(t.Compare) > max || len(t.Success) > max || len(t.Failure) > max {
		return fmt.Errorf("%w: limit %d", ErrTooManyOps, max)
	}
	for i := range t.Compare {
		c := &t.Compare[i]
		if err := l.keys(c.Key, c.RangeEnd); err != nil {
			return err
		}
		if err := l.value(c.Value); err != nil {
			return err
		}
	}
	for _, ops := range [][]RequestOp{t.Success, t.Failure} {
		for i := range ops {
			if err := l.op(&ops[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *limitCheck) op(op *RequestOp) error {
	switch {
	case op.Range != nil:
		return l.keys(op.Range.Key, op.Range.RangeEnd)
	case op.Put != nil:
		return l.put(op.Put)
	case op.DeleteRange != nil:
		return l.keys(op.DeleteRange.Key, op.DeleteRange.RangeEnd)
	}
	return l.txn(op.Txn)
}
