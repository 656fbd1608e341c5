package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/natsapi"
)

// Defaults of Options.
const (
	DefaultTimeout         = 30 * time.Second
	DefaultAttemptTimeout  = 5 * time.Second
	DefaultRetryBackoffMin = 10 * time.Millisecond
	DefaultRetryBackoffMax = time.Second
	DefaultWatchCredits    = natsapi.DefaultWatchCredits
	DefaultWatchHeartbeat  = 2 * time.Second
	DefaultStaleReadTries  = 3
)

// Options configure a Client. The zero value means "all defaults".
type Options struct {
	// Timeout bounds a call whose context has no deadline.
	Timeout time.Duration
	// AttemptTimeout bounds one request to one node; the node is told, and
	// answers "timeout" a little before.
	AttemptTimeout time.Duration
	// RetryBackoffMin and RetryBackoffMax bound the jittered exponential
	// wait between two attempts.
	RetryBackoffMin, RetryBackoffMax time.Duration
	// WatchCredits is how many messages a watch's node may send ahead of
	// the consumer (flow control); WatchHeartbeat how often each side of a
	// watch shows it is alive (silence for three intervals: the other side
	// is gone).
	WatchCredits   int
	WatchHeartbeat time.Duration
	// StaleReadTries is how many serializable reads older than the session
	// may be retried before the read is made linearizable.
	StaleReadTries int
}

func (o *Options) setDefaults() {
	setDuration(&o.Timeout, DefaultTimeout)
	setDuration(&o.AttemptTimeout, DefaultAttemptTimeout)
	setDuration(&o.RetryBackoffMin, DefaultRetryBackoffMin)
	setDuration(&o.RetryBackoffMax, DefaultRetryBackoffMax)
	setDuration(&o.WatchHeartbeat, DefaultWatchHeartbeat)
	if o.WatchCredits <= 0 {
		o.WatchCredits = DefaultWatchCredits
	}
	if o.StaleReadTries <= 0 {
		o.StaleReadTries = DefaultStaleReadTries
	}
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Client talks to one natsraft cluster over NATS. It is safe for
// concurrent use; it is one session: it never returns a read older than
// a revision it has already returned (see Revision).
type Client struct {
	nc      *nats.Conn
	cluster string
	opts    Options
	// maxRevision is the highest revision of any response returned.
	maxRevision atomic.Int64
	// leader is the leader's name as the last answer gave it ("" unknown):
	// writes and linearizable reads go to it directly (natsapi.NodeSubject),
	// sparing the hop a follower adds by forwarding.
	leader atomic.Pointer[string]
	// header is the headers of an attempt that lasts AttemptTimeout, the
	// usual case, built once. Invariant: never modified after New (nats.go
	// only reads a request's headers, to encode them).
	header nats.Header
}

// New returns a client of cluster over nc. The caller owns nc.
func New(nc *nats.Conn, cluster string, opts Options) (*Client, error) {
	if nc == nil || cluster == "" {
		return nil, fmt.Errorf("%w: a NATS connection and a cluster name are required", ErrInvalidArgument)
	}
	opts.setDefaults()
	return &Client{nc: nc, cluster: cluster, opts: opts, header: requestHeader(opts.AttemptTimeout)}, nil
}

// Revision is the highest revision the client has seen in a response: no
// later read returns an older state.
func (c *Client) Revision() int64 { return c.maxRevision.Load() }

func (c *Client) observe(revision int64) {
	for {
		cur := c.maxRevision.Load()
		if revision <= cur || c.maxRevision.CompareAndSwap(cur, revision) {
			return
		}
	}
}

// request is one call: its endpoint, msgpack body, and whether it may be
// retried after an attempt whose outcome is unknown.
type request struct {
	endpoint   string
	body       any
	idempotent bool
	// anyNode: any node serves it as well as the leader (serializable
	// reads, watches, status), so it goes to the queue group.
	anyNode bool
}

// do runs a request until it succeeds, fails for good or the deadline
// passes. It retries what a node refused before it took effect (the
// retryable codes, and no responder at all); it retries a timeout only
// when the request is idempotent, and otherwise returns ErrTimeout: the
// write's outcome is unknown. The deadline is ctx's, or Options.Timeout
// from now.
func (c *Client) do(ctx context.Context, r request, out any) (*nats.Msg, error) {
	deadline, bounded := ctx.Deadline()
	if !bounded {
		deadline = time.Now().Add(c.opts.Timeout)
	}
	cd := getCodec()
	defer putCodec(cd)
	data, err := cd.encode(r.body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	// refusal is the last refusal seen: when the deadline passes, it says
	// more than the deadline does (no leader, rather than a timeout).
	var refusal error
	for attempt := 0; ; attempt++ {
		reply, err := c.attempt(ctx, deadline, r, data)
		if err == nil {
			return reply, c.decode(cd, reply, out)
		}
		if !c.retryable(r, err) {
			return nil, err
		}
		if !errors.Is(err, ErrTimeout) {
			refusal = err
		}
		if !bounded {
			// Made only now: most calls need one attempt, and that is
			// bounded by its own context.
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
			bounded = true
		}
		if c.backoff(ctx, attempt) != nil {
			return nil, cmp.Or(refusal, err)
		}
	}
}

// attempt sends the request to whichever node answers first.
// REQUIRES: ctx has no deadline, or deadline is its deadline.
func (c *Client) attempt(ctx context.Context, deadline time.Time, r request, data []byte) (*nats.Msg, error) {
	actx, timeout, cancel := c.attemptContext(ctx, deadline)
	defer cancel()
	if timeout <= 0 {
		return nil, c.timedOut(r, context.DeadlineExceeded)
	}
	header := c.header
	if timeout != c.opts.AttemptTimeout {
		header = requestHeader(timeout)
	}
	msg := &nats.Msg{Subject: c.subject(r), Data: data, Header: header}
	reply, err := c.nc.RequestMsgWithContext(actx, msg)
	c.learnLeader(msg.Subject != natsapi.Subject(c.cluster, r.endpoint), reply, err)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, msg.Subject)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, context.Canceled):
		return nil, c.timedOut(r, err)
	case errors.Is(err, nats.ErrMaxPayload):
		return nil, fmt.Errorf("%w: the request is larger than the NATS max payload (%d bytes)", ErrTooLarge, c.nc.MaxPayload())
	case err != nil:
		return nil, fmt.Errorf("natsraft: %s: %w", msg.Subject, err) // not sent: closed connection, bad subject...
	}
	if e := replyError(reply); e != nil {
		return nil, e
	}
	return reply, nil
}

// attemptContext bounds an attempt by AttemptTimeout, or by deadline when
// that comes first, and returns the attempt's context and timeout. When
// ctx ends at deadline already, ctx itself bounds the attempt: a context,
// and its timer, fewer per call.
// REQUIRES: ctx has no deadline, or deadline is its deadline.
func (c *Client) attemptContext(ctx context.Context, deadline time.Time) (context.Context, time.Duration, context.CancelFunc) {
	left := time.Until(deadline)
	if left > c.opts.AttemptTimeout {
		actx, cancel := context.WithTimeout(ctx, c.opts.AttemptTimeout)
		return actx, c.opts.AttemptTimeout, cancel
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, left, noCancel
	}
	actx, cancel := context.WithDeadline(ctx, deadline)
	return actx, left, cancel
}

// noCancel is the CancelFunc of a context that is the caller's to cancel.
func noCancel() {}

// requestHeader returns the headers of a request whose attempt lasts
// timeout.
func requestHeader(timeout time.Duration) nats.Header {
	h := nats.Header{}
	h.Set(natsapi.HeaderContentType, natsapi.ContentTypeMsgpack)
	// The node answers "timeout" a little before we give up, so that a
	// late answer is not lost between the two deadlines.
	h.Set(natsapi.HeaderTimeout, strconv.FormatInt(max(1, (timeout*9/10).Milliseconds()), 10))
	return h
}

// subject is the leader's own subject when the leader is known and r
// needs it, else the queue group's.
func (c *Client) subject(r request) string {
	if lead := c.leader.Load(); lead != nil && *lead != "" && !r.anyNode {
		return natsapi.NodeSubject(c.cluster, *lead, r.endpoint)
	}
	return natsapi.Subject(c.cluster, r.endpoint)
}

// learnLeader keeps the leader an answer names; an attempt on the
// leader's subject that got no answer forgets it, so the next attempt
// asks the queue group (a request nobody received is safe to resend).
func (c *Client) learnLeader(direct bool, reply *nats.Msg, err error) {
	switch {
	case reply != nil:
		c.setLeader(reply.Header.Get(natsapi.HeaderLeader))
	case err != nil && direct:
		c.setLeader("")
	}
}

// setLeader stores lead unless it is the leader already known: answers
// mostly repeat it, and storing allocates.
func (c *Client) setLeader(lead string) {
	if cur := c.leader.Load(); cur != nil && *cur == lead {
		return
	}
	p := new(string) // not &lead: that would allocate on every call
	*p = lead
	c.leader.Store(p)
}

func (c *Client) timedOut(r request, cause error) error {
	if r.idempotent {
		return fmt.Errorf("%w: %w", ErrTimeout, cause)
	}
	return unknownOutcome(cause)
}

// retryable reports whether err leaves the request safe to send again.
func (c *Client) retryable(r request, err error) bool {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code.Retryable() || (r.idempotent && e.Code == server.CodeTimeout)
	case errors.Is(err, ErrUnavailable):
		return true
	case errors.Is(err, ErrTimeout):
		return r.idempotent && !errors.Is(err, context.Canceled)
	}
	return false
}

// backoff waits before attempt+1, or returns the context's error.
func (c *Client) backoff(ctx context.Context, attempt int) error {
	d := c.opts.RetryBackoffMin << min(attempt, 16)
	d = min(d, c.opts.RetryBackoffMax)
	d = d/2 + rand.N(d/2+1) // jitter: spread the clients of one failover
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// replyError returns the *Error of an error reply, nil for a success.
func replyError(m *nats.Msg) error {
	code := m.Header.Get(natsapi.HeaderErrorCode)
	if code == "" {
		return nil
	}
	e := &Error{Code: server.ErrorCode(code), Message: m.Header.Get(natsapi.HeaderError),
		Node: m.Header.Get(natsapi.HeaderNode)}
	e.Revision, _ = strconv.ParseInt(m.Header.Get(natsapi.HeaderRevision), 10, 64)
	e.CompactRevision, _ = strconv.ParseInt(m.Header.Get(natsapi.HeaderCompactRevision), 10, 64)
	return e
}

// decode decodes a successful reply into out and notes its revision.
func (c *Client) decode(cd *codec, reply *nats.Msg, out any) error {
	if rev, err := strconv.ParseInt(reply.Header.Get(natsapi.HeaderRevision), 10, 64); err == nil {
		c.observe(rev)
	}
	if out == nil {
		return nil
	}
	if err := cd.decode(reply.Data, out); err != nil {
		return fmt.Errorf("%w: undecodable reply from %s: %v", ErrInternal, reply.Header.Get(natsapi.HeaderNode), err)
	}
	return nil
}
