package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/natsraft/natsraft/actor"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/raft"
)

// Write replicates a write request (Put, DeleteRange, Txn, Compaction)
// and returns its result once applied on this node. Writes on a follower
// are forwarded to the leader by the core.
func (n *Node) Write(ctx context.Context, req *kv.Request) (*kv.Response, error) {
	ctx, cancel := n.withDefaultTimeout(ctx)
	defer cancel()
	if err := n.kv.Validate(req); err != nil {
		return nil, err
	}
	data, err := encodeEntry(proposalRef{}, req)
	if err != nil {
		return nil, err
	}
	p := newProposal(ctx, data)
	if err := n.actor.Send(actor.Client, event{kind: evPropose, proposal: p}); err != nil {
		return nil, err
	}
	res, err := await(ctx, n, p.done)
	if errors.Is(err, ErrStopped) {
		return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	if err != nil {
		return nil, err
	}
	return res.resp, res.err
}

// Range reads keys. Unless serializable, the read is linearizable: it
// waits for a ReadIndex confirmed by a quorum and applied locally
// (dissertation §6.4), so it reflects every write acknowledged before it.
func (n *Node) Range(ctx context.Context, req *kv.RangeRequest, serializable bool) (*kv.RangeResponse, error) {
	if !serializable {
		if err := n.ReadBarrier(ctx); err != nil {
			return nil, err
		}
	}
	n.stopping.RLock()
	defer n.stopping.RUnlock()
	if n.stopping.stopped {
		return nil, ErrStopped
	}
	return n.kv.Range(req)
}

// ReadBarrier returns once this node has applied everything committed
// before the call (a linearizable read point).
func (n *Node) ReadBarrier(ctx context.Context) error {
	ctx, cancel := n.withDefaultTimeout(ctx)
	defer cancel()
	w := newReadWaiter(ctx)
	if err := n.actor.Send(actor.Client, event{kind: evRead, read: w}); err != nil {
		return err
	}
	err, awaitErr := await(ctx, n, w.done)
	return cmp.Or(awaitErr, err)
}

// AddLearner adds a non-voting member named name. Like PromoteMember and
// RemoveMember, it returns once this node has applied the change.
func (n *Node) AddLearner(ctx context.Context, name string) error {
	return n.changeMembership(ctx, raft.ConfChangeAddLearner, name)
}

// PromoteMember makes the learner name a voter.
func (n *Node) PromoteMember(ctx context.Context, name string) error {
	if !slices.ContainsFunc(n.Members(), func(m Member) bool { return m.Name == name && m.IsLearner }) {
		return fmt.Errorf("%w: %q is not a learner", raft.ErrConfChangeInvalid, name)
	}
	return n.changeMembership(ctx, raft.ConfChangeAddVoter, name)
}

// RemoveMember removes name from the cluster. A node asked to remove itself
// returns once the change is proposed: the leader stops replicating to a
// removed member, which may never learn of its removal.
func (n *Node) RemoveMember(ctx context.Context, name string) error {
	if !slices.ContainsFunc(n.Members(), func(m Member) bool { return m.Name == name }) {
		return fmt.Errorf("%w: %q is not a member", raft.ErrConfChangeInvalid, name)
	}
	return n.changeMembership(ctx, raft.ConfChangeRemove, name)
}

// TransferLeadership asks the leader to hand over to name.
func (n *Node) TransferLeadership(ctx context.Context, name string) error {
	return n.admin(ctx, &adminRequest{transfer: NodeID(name), done: make(chan error, 1)})
}

func (n *Node) changeMembership(ctx context.Context, t raft.ConfChangeType, name string) error {
	if name == "" {
		return fmt.Errorf("%w: a member name is required", raft.ErrConfChangeInvalid)
	}
	mc, err := memberContext(name)
	if err != nil {
		return err
	}
	cc := raft.ConfChange{Type: t, NodeID: NodeID(name), Context: mc}
	ctx, cancel := n.withDefaultTimeout(ctx)
	defer cancel()
	if err := n.admin(ctx, &adminRequest{change: &cc, done: make(chan error, 1)}); err != nil {
		return err
	}
	if t == raft.ConfChangeRemove && name == n.cfg.Name {
		return nil // the leader stops replicating to a member it removed: it may never learn
	}
	return n.awaitMembers(ctx, func(ms []Member) bool {
		i := slices.IndexFunc(ms, func(m Member) bool { return m.Name == name })
		switch t {
		case raft.ConfChangeRemove:
			return i < 0
		case raft.ConfChangeAddLearner:
			return i >= 0 && ms[i].IsLearner
		default:
			return i >= 0 && !ms[i].IsLearner
		}
	})
}

// awaitMembers waits until this node has applied a membership for which
// done holds. A change this node proposed is only forwarded to the
// leader, which may refuse it (another change in progress) or lose it (an
// election): the caller then gets an error at its deadline, not success.
func (n *Node) awaitMembers(ctx context.Context, done func([]Member) bool) error {
	for {
		changed := n.membersChanged.changed()
		if done(n.Members()) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("the membership change was proposed but is not applied (the leader may have refused it: check the members and retry): %w", ctx.Err())
		case <-n.actor.Done():
			return fmt.Errorf("%w: %w", ErrStopped, n.actor.Err())
		}
	}
}

// admin submits a membership change or transfer; success means the core
// accepted it (changeMembership then waits for the change to apply; a
// transfer completes shortly).
func (n *Node) admin(ctx context.Context, a *adminRequest) error {
	ctx, cancel := n.withDefaultTimeout(ctx)
	defer cancel()
	if err := n.actor.Send(actor.Client, event{kind: evAdmin, admin: a}); err != nil {
		return err
	}
	err, awaitErr := await(ctx, n, a.done)
	return cmp.Or(awaitErr, err)
}

// Watch starts a watch on the local state machine: events arrive in
// revision order, replayed from history from req.StartRevision, then live.
// Every node applies the same log, so a client that reconnects to another
// node resumes from its last revision + 1 without gap or duplicate.
func (n *Node) Watch(req kv.WatchRequest) (*kv.Watcher, error) {
	return n.kv.Watch(req)
}

// Members returns the applied membership.
func (n *Node) Members() []Member { return n.Status().Members }

// await waits for a request's answer, the caller's deadline, or the
// node's end, whichever comes first. A write that times out has an
// unknown outcome.
func await[T any](ctx context.Context, n *Node, done <-chan T) (T, error) {
	var zero T
	select {
	case v := <-done:
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-n.actor.Done():
		return zero, fmt.Errorf("%w: %w", ErrStopped, n.actor.Err())
	}
}

// withDefaultTimeout bounds a request whose caller set no deadline: a
// proposal forwarded to a leader that dies is never answered, and the
// actor forgets abandoned requests by their context.
func (n *Node) withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, n.cfg.RequestTimeout)
}
