package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
)

// Get reads key (or, with WithPrefix, WithRange or WithFromKey, a range).
// The read is linearizable unless WithSerializable.
func (c *Client) Get(ctx context.Context, key string, opts ...OpOption) (*kv.RangeResponse, error) {
	return c.Range(ctx, newOp(opts).rangeRequest(key))
}

// Range runs a RangeRequest (Serializable included). Reads are retried
// across failures. A response older than the highest revision this client
// has seen is refused and retried (a serializable read becomes
// linearizable after Options.StaleReadTries), so reads never go back in
// time within the session.
func (c *Client) Range(ctx context.Context, req *kv.RangeRequest) (*kv.RangeResponse, error) {
	r := *req
	for try := 0; ; try++ {
		floor := c.Revision()
		resp := new(kv.RangeResponse)
		_, err := c.do(ctx, request{endpoint: natsapi.EndpointRange, body: &r, idempotent: true, anyNode: r.Serializable}, resp)
		stale := err == nil && resp.Header.Revision < floor
		// A lagging node has not reached a revision this session has seen.
		stale = stale || (r.Serializable && errors.Is(err, ErrFutureRevision) && r.Revision <= floor)
		if !stale {
			if err != nil {
				return nil, err
			}
			return resp, nil
		}
		if try+1 >= c.opts.StaleReadTries {
			r.Serializable = false
		}
		if err := c.backoff(ctx, try); err != nil {
			return nil, fmt.Errorf("%w: every answer was older than revision %d: %w", ErrTimeout, floor, err)
		}
	}
}

// Put sets key to value. On ErrTimeout the put may or may not be applied:
// see the package doc before retrying.
func (c *Client) Put(ctx context.Context, key, value string, opts ...OpOption) (*kv.PutResponse, error) {
	resp := new(kv.PutResponse)
	_, err := c.do(ctx, request{endpoint: natsapi.EndpointPut, body: newOp(opts).putRequest(key, value)}, resp)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Delete deletes key (or a range, with the range options).
func (c *Client) Delete(ctx context.Context, key string, opts ...OpOption) (*kv.DeleteRangeResponse, error) {
	resp := new(kv.DeleteRangeResponse)
	_, err := c.do(ctx, request{endpoint: natsapi.EndpointDelete, body: newOp(opts).deleteRequest(key)}, resp)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Txn runs a transaction: Success if every Compare holds, Failure
// otherwise. A transaction of reads only is retried like a read; one that
// writes is a write (ErrTimeout: outcome unknown).
func (c *Client) Txn(ctx context.Context, t *kv.TxnRequest) (*kv.TxnResponse, error) {
	resp := new(kv.TxnResponse)
	_, err := c.do(ctx, request{endpoint: natsapi.EndpointTxn, body: t, idempotent: readOnly(t)}, resp)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func readOnly(t *kv.TxnRequest) bool {
	for _, ops := range [][]kv.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			if op.Put != nil || op.DeleteRange != nil || (op.Txn != nil && !readOnly(op.Txn)) {
				return false
			}
		}
	}
	return true
}

// Compact discards the history below rev: reads and watches of older
// revisions then fail with ErrCompacted.
func (c *Client) Compact(ctx context.Context, rev int64) (*kv.CompactionResponse, error) {
	resp := new(kv.CompactionResponse)
	_, err := c.do(ctx, request{endpoint: natsapi.EndpointCompact, body: &kv.CompactionRequest{Revision: rev}}, resp)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Status returns the status of whichever node answers.
func (c *Client) Status(ctx context.Context) (*server.Status, error) {
	st := new(server.Status)
	if _, err := c.do(ctx, request{endpoint: natsapi.EndpointStatus, body: struct{}{}, idempotent: true, anyNode: true}, st); err != nil {
		return nil, err
	}
	return st, nil
}

// Members returns the membership as applied by whichever node answers.
func (c *Client) Members(ctx context.Context) ([]server.Member, error) {
	var resp natsapi.MembersResponse
	if _, err := c.do(ctx, request{endpoint: natsapi.EndpointMembers, body: struct{}{}, idempotent: true, anyNode: true}, &resp); err != nil {
		return nil, err
	}
	return resp.Members, nil
}

// AddLearner adds a non-voting member; start the member's node (node run
// --join) so that it catches up, then PromoteMember it.
func (c *Client) AddLearner(ctx context.Context, name string) error {
	return c.admin(ctx, natsapi.EndpointAddLearner, name)
}

// PromoteMember makes the learner name a voter.
func (c *Client) PromoteMember(ctx context.Context, name string) error {
	return c.admin(ctx, natsapi.EndpointPromote, name)
}

// RemoveMember removes name from the cluster.
func (c *Client) RemoveMember(ctx context.Context, name string) error {
	return c.admin(ctx, natsapi.EndpointRemove, name)
}

// TransferLeadership asks the leader to hand over to name.
func (c *Client) TransferLeadership(ctx context.Context, name string) error {
	return c.admin(ctx, natsapi.EndpointTransfer, name)
}

// admin sends a membership change or transfer; success means the cluster
// accepted it (the change commits, or the transfer completes, shortly).
func (c *Client) admin(ctx context.Context, endpoint, name string) error {
	_, err := c.do(ctx, request{endpoint: endpoint, body: natsapi.MemberRequest{Name: name}}, nil)
	return err
}
