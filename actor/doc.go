// Package actor is the mailbox runtime every natsraft node runs on: one
// goroutine owns the node's state and handles its messages in batches.
//
// # Lanes
//
// An Actor[M] has three bounded lanes, each FIFO:
//
//	lane     fed by                      when full
//	System   control messages, ticks     Send returns ErrBusy
//	Network  Raft traffic from peers     dropped and counted: ErrDropped, Dropped()+1
//	Client   client requests             Send returns ErrBusy ("node busy; retry later")
//
// Raft tolerates message loss, so a flood from the network costs only a
// counted drop; clients get backpressure, never unbounded memory.
//
// # Batches
//
// The goroutine sleeps until a lane holds work, then takes up to
// Options.MaxBatch messages and calls Handler.Handle once with them, in this
// order:
//
//  1. the System lane, then the ticks that are due;
//  2. the Network lane, then the Client lane. When both hold more than the
//     remaining room, each gets at least half of it, so neither starves.
//
// A burst of proposals therefore becomes one Raft step sequence, one disk
// sync and one publish per peer. The slice passed to Handle is reused for the
// next batch: the handler must not keep it. Steady-state sends and batches do
// not allocate.
//
// # Timers
//
// Time reaches the handler only as messages. Every(clock, interval, tick)
// queues tick on the System lane once per interval, coalesced: while one
// tick is waiting, no second copy is queued. The Clock interface has a real
// implementation (RealClock) and a manual one (ManualClock) whose Advance
// fires due timers in the caller's goroutine, in deadline order.
//
// # Termination: fail-stop and clean stop
//
// Every message that Send accepted is either handled or rejected, exactly
// once. A message refused by Send (it returned an error) is the sender's to
// deal with. A queued message is rejected by calling its Reject(err) method
// when its type implements Rejecter; other messages are discarded. Reject is
// called from the actor's goroutine and must neither block nor panic.
//
// Stop is clean: it stops accepting sends (ErrStopped), lets the batch in
// progress finish, then rejects everything still queued with ErrStopped. It
// does not drain: after Stop the handler is never called again. Rejecting is
// the policy because a stopping node cannot complete a client request anyway
// (its proposals would not commit), and an answer now beats a timeout later.
//
// A panic inside Handle is fail-stop: the batch is abandoned, the actor is
// marked failed, Options.OnPanic is given the panic value and stack (by
// default they are written to standard error), queued messages are rejected
// with a *PanicError, and every later Send returns it. The handler is never
// called again, so no half-updated state is ever used. runtime.Goexit inside
// Handle is treated the same way.
//
// Done is closed once the actor has terminated; Err then returns ErrStopped
// after a clean stop or the *PanicError after a failure. A *PanicError also
// matches ErrStopped under errors.Is, so "errors.Is(err, ErrStopped)" means
// "the actor is gone" in both cases.
//
// # Synchronous mode
//
// NewSync builds the same actor without a goroutine: the caller drives it
// with RunOnce, which handles one batch in the caller's goroutine. The
// deterministic simulator runs the node's real handler this way, with a
// ManualClock, so a seed replays a run exactly.
package actor
