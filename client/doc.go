// Package client is the Go client of natsraft. It talks to a cluster over
// NATS, with msgpack bodies, through the natsraft micro service that every
// node runs (package server/natsapi): it needs a *nats.Conn and the
// cluster's name, never a node's address.
//
//	nc, _ := nats.Connect("nats://127.0.0.1:4222")
//	c, _ := client.New(nc, "dev", client.Options{})
//	put, _ := c.Put(ctx, "greeting", "hello")
//	got, _ := c.Get(ctx, "greeting")                     // linearizable
//	all, _ := c.Get(ctx, "app/", client.WithPrefix(), client.WithSerializable())
//	for resp := range c.Watch(ctx, "app/", client.WithPrefix()) { ... }
//
// # Retries, and what a timeout means
//
// Any node may answer a request: a write is forwarded to the leader by
// Raft, a linearizable read is confirmed with the leader (ReadIndex), a
// serializable read is served locally. Each call is bounded by its context
// (or Options.Timeout), and each attempt by Options.AttemptTimeout.
//
// A call is retried, with jittered exponential backoff, when a node refused
// it before it could take effect: ErrNoLeader, ErrBusy, ErrStopped,
// ErrLeaderChanged (the codes whose server.ErrorCode.Retryable is true), or
// when no node answered at all (ErrUnavailable). This is what carries a
// client across a leader change. Reads (Get, Range, read-only Txn, Status,
// Members) are also retried after a timeout.
//
// A write (Put, Delete, a Txn that writes, Compact, membership changes)
// that times out is NOT retried: the node may have proposed it, and it may
// be applied — even after the client gave up. The call returns ErrTimeout,
// which for a write means "outcome unknown". Retrying it blindly could
// apply it twice (a second Put would bump the version and revision; a
// second increment would count twice).
//
// # Making a write safe to retry
//
// Make the write conditional on the state it was meant for, with a Txn that
// compares mod_revision, and retry that Txn:
//
//	resp, _ := c.Get(ctx, "counter")
//	m := resp.Kvs[0].ModRevision                 // the version this update is based on
//	next := update(resp.Kvs[0].Value)
//	txn := &kv.TxnRequest{
//		Compare: []kv.Compare{client.CompareModRevision("counter", kv.CompareEqual, m)},
//		Success: []kv.RequestOp{client.OpPut("counter", next)},
//		Failure: []kv.RequestOp{client.OpGet("counter")},
//	}
//	r, err := c.Txn(ctx, txn)                    // on ErrTimeout: send the same txn again
//
// If the first attempt was applied, the retry fails its compare (the key's
// mod revision moved on), and the Failure branch's Get shows whether the
// value is the one this client wrote (put a unique token in the value to
// tell). To create a key once, compare CreateRevision (or Version) with 0.
// Deduplication by the server (client sessions, dissertation §6.3) is not
// implemented yet.
//
// # Sessions
//
// A Client is one session: it tracks the highest revision it has seen in
// any response (Revision) and never returns a read older than that. A
// serializable read answered by a lagging node is retried, and made
// linearizable after Options.StaleReadTries stale answers.
//
// # Errors
//
// Errors from a node are *Error values carrying a stable server.ErrorCode;
// test them with errors.Is against the Err* values of this package, which
// are the values the service layer itself returns (ErrCompacted is
// kv.ErrCompacted, ErrNoLeader is server.ErrNoLeader...), so every
// transport reports the same errors.
//
// # Watches
//
// A watch is served by one node, which publishes to an inbox of this
// client with credit-based flow control and heartbeats both ways. When the
// node fails, stops or goes silent, the client resumes on another node from
// the revision after the last one it received in full: no event is missed
// or delivered twice. See package natsapi for the protocol.
package client
