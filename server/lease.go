package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/natsraft/natsraft/kv"
)

// Leases: which leases exist, and which keys are attached, is replicated
// state (kv/lease.go). When a lease expires is decided by the leader alone,
// on its clock, as etcd's lessor does: the leader tracks each lease's
// deadline in memory and, when one passes, proposes a LeaseRevoke through the
// log, so every node deletes the lease's keys at the same log position.
//
// A keep-alive (LeaseRenew) also goes through the log, from whichever node
// the client talks to. etcd forwards keep-alives to the leader over its peer
// HTTP API instead; natsraft nodes have no request path between them besides
// the Raft log, and the log gives three things for the price of one small
// entry per keep-alive:
//   - the renewal reaches the leader's notion of expiry in its log order, so
//     a renew and a revoke of the same lease are ordered the same way on all
//     nodes (a renew after the revoke fails with lease not found);
//   - every node refreshes its deadline at about the same time, so a
//     follower's TimeToLive is close to the leader's, and a new leader starts
//     from deadlines it already knows;
//   - no extra protocol or retry logic for a leader that moves.
// The cost is a log entry per keep-alive (clients send one every TTL/3).
//
// Deadlines are in memory only. A node that becomes leader extends every
// lease to now + TTL + one election timeout (etcd's Promote), so a lease
// never expires because leadership moved; a restarted node knows deadlines
// only from the renewals it applies afterwards.

const (
	// leaseRevokeRetry is how long the leader waits for a revoke it proposed
	// before proposing it again (the proposal may have been dropped).
	leaseRevokeRetry = 3 * time.Second
	// leaseRevokesPerTick bounds the revokes proposed per tick, as etcd's
	// leaseRevokeRate bounds them per second.
	leaseRevokesPerTick = 100
	// leaseGrantTries bounds the attempts to find a free random lease ID.
	leaseGrantTries = 8
)

// lessor is the clock side of leases on one node. The actor calls tick and
// applied; other goroutines read remaining.
type lessor struct {
	mu struct {
		sync.Mutex
		// deadlines is when each known lease expires on this node's clock.
		deadlines map[int64]time.Time
		// primary: this node is the leader and has extended every lease
		// since it became leader. Only a primary revokes.
		primary bool
	}
}

func newLessor() *lessor {
	l := &lessor{}
	l.mu.deadlines = map[int64]time.Time{}
	return l
}

// refresh starts a new TTL for lease id (granted or renewed at now).
func (l *lessor) refresh(id, ttl int64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.deadlines[id] = now.Add(time.Duration(ttl) * time.Second)
}

func (l *lessor) forget(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.mu.deadlines, id)
}

// promote makes the lessor primary, extending every lease in leases to
// now + extend + its TTL and forgetting the deadlines of leases gone.
func (l *lessor) promote(leases []kv.Lease, now time.Time, extend time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.mu.deadlines)
	for _, le := range leases {
		l.mu.deadlines[le.ID] = now.Add(extend + time.Duration(le.TTL)*time.Second)
	}
	l.mu.primary = true
}

func (l *lessor) demote() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.primary = false
}

func (l *lessor) isPrimary() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.primary
}

// expired returns up to limit leases whose deadline passed, and gives each
// leaseRevokeRetry more, the time for the revoke to be applied.
func (l *lessor) expired(now time.Time, limit int) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []int64
	for id, deadline := range l.mu.deadlines {
		if len(ids) == limit {
			break
		}
		if now.After(deadline) {
			ids = append(ids, id)
			l.mu.deadlines[id] = now.Add(leaseRevokeRetry)
		}
	}
	return ids
}

// remaining is how long lease id has left on this node's clock; known is
// false when this node has seen no grant or renewal of it.
func (l *lessor) remaining(id int64, now time.Time) (left time.Duration, known bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	deadline, ok := l.mu.deadlines[id]
	return deadline.Sub(now), ok
}

// tickLeases runs on the actor at every tick: on the leader, it extends
// every lease when leadership is new, then proposes the revocation of the
// leases that expired.
func (n *Node) tickLeases() {
	if n.lead != n.id {
		n.lessor.demote()
		return
	}
	now := time.Now()
	if !n.lessor.isPrimary() {
		leases, err := n.kv.Leases()
		must(err, "listing leases")
		n.lessor.promote(leases, now, n.ElectionTimeout())
	}
	for _, id := range n.lessor.expired(now, leaseRevokesPerTick) {
		n.proposeInternal(&kv.Request{LeaseRevoke: &kv.LeaseRevokeRequest{ID: id}})
	}
}

// proposeInternal proposes a request nobody waits for (sequence 0 matches
// no proposal). A dropped proposal is retried by its owner.
func (n *Node) proposeInternal(req *kv.Request) {
	data, err := encodeEntry(proposalRef{proposer: n.id}, req)
	must(err, "encoding an internal proposal")
	if err := n.rn.Propose(data); err != nil {
		n.log.Debug("internal proposal dropped", "err", err)
	}
}

// leaseApplied updates the lessor after a lease request was applied on
// this node (the actor, in log order).
func (n *Node) leaseApplied(req *kv.Request, resp *kv.Response, err error) {
	if err != nil {
		return
	}
	now := time.Now()
	switch {
	case req.LeaseGrant != nil:
		n.lessor.refresh(req.LeaseGrant.ID, req.LeaseGrant.TTL, now)
	case req.LeaseRenew != nil:
		n.lessor.refresh(req.LeaseRenew.ID, resp.LeaseRenew.TTL, now)
	case req.LeaseRevoke != nil:
		n.lessor.forget(req.LeaseRevoke.ID)
	}
}

// ElectionTimeout is the time of the shortest election.
func (n *Node) ElectionTimeout() time.Duration {
	return electionTicks * n.cfg.TickInterval
}

// MinLeaseTTL is etcd's smallest TTL, in seconds: 1.5 election timeouts,
// rounded up, so that a lease survives a leader election. Shorter grants
// are raised to it.
func (n *Node) MinLeaseTTL() int64 {
	minTTL := 3 * n.ElectionTimeout() / 2
	return int64((minTTL + time.Second - 1) / time.Second)
}

// LeaseGrant creates lease id (0: the node picks a free positive ID) with
// ttl seconds, at least MinLeaseTTL.
func (n *Node) LeaseGrant(ctx context.Context, id, ttl int64) (*kv.LeaseGrantResponse, error) {
	ttl = max(ttl, n.MinLeaseTTL())
	for try := 0; ; try++ {
		req := &kv.LeaseGrantRequest{ID: id, TTL: ttl}
		if id == 0 {
			req.ID = rand.Int64N(1<<63-1) + 1
		}
		resp, err := n.Write(ctx, &kv.Request{LeaseGrant: req})
		if id == 0 && errors.Is(err, kv.ErrLeaseExists) && try < leaseGrantTries {
			continue
		}
		if err != nil {
			return nil, err
		}
		return resp.LeaseGrant, nil
	}
}

// LeaseRevoke deletes lease id and the keys attached to it.
func (n *Node) LeaseRevoke(ctx context.Context, id int64) (*kv.LeaseRevokeResponse, error) {
	resp, err := n.Write(ctx, &kv.Request{LeaseRevoke: &kv.LeaseRevokeRequest{ID: id}})
	if err != nil {
		return nil, err
	}
	return resp.LeaseRevoke, nil
}

// LeaseRenew is a keep-alive: it returns the lease's TTL once the renewal
// is applied, or kv.ErrLeaseNotFound. A lease whose deadline has passed on
// this node is not renewed (etcd refuses to renew an expired lease): its
// revocation is on its way.
func (n *Node) LeaseRenew(ctx context.Context, id int64) (int64, error) {
	if left, known := n.lessor.remaining(id, time.Now()); known && left <= 0 {
		return 0, kv.ErrLeaseNotFound
	}
	resp, err := n.Write(ctx, &kv.Request{LeaseRenew: &kv.LeaseRenewRequest{ID: id}})
	if err != nil {
		return 0, err
	}
	return resp.LeaseRenew.TTL, nil
}

// LeaseStatus is a lease's TimeToLive answer.
type LeaseStatus struct {
	ID int64
	// TTL is the time left in seconds, rounded down, on this node's clock
	// (the granted TTL when this node has not seen a renewal yet).
	TTL        int64
	GrantedTTL int64
	Keys       [][]byte // attached keys, when asked for
}

// LeaseTimeToLive reads lease id after a read barrier, or fails with
// kv.ErrLeaseNotFound.
func (n *Node) LeaseTimeToLive(ctx context.Context, id int64, withKeys bool) (LeaseStatus, error) {
	if err := n.ReadBarrier(ctx); err != nil {
		return LeaseStatus{}, err
	}
	l, keys, err := n.kv.LeaseKeys(id)
	if err != nil {
		return LeaseStatus{}, err
	}
	st := LeaseStatus{ID: id, TTL: l.TTL, GrantedTTL: l.TTL}
	if left, known := n.lessor.remaining(id, time.Now()); known {
		st.TTL = max(0, int64(left/time.Second))
	}
	if withKeys {
		st.Keys = keys
	}
	return st, nil
}

// Leases lists the leases after a read barrier.
func (n *Node) Leases(ctx context.Context) ([]kv.Lease, error) {
	if err := n.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	return n.kv.Leases()
}
