package actor

import "runtime/debug"

// run is the goroutine of an actor made by New.
func (a *Actor[M]) run() {
	// After a failure this does nothing: fail has terminated the actor.
	defer a.terminate(ErrStopped)
	for {
		batch, ok := a.nextBatch()
		if !ok || !a.handle(batch) {
			return
		}
	}
}

// nextBatch waits until a lane holds work and takes a batch of it. It
// reports false once the actor has left the running state.
func (a *Actor[M]) nextBatch() ([]M, bool) {
	for {
		batch, ok := a.takeBatch(true)
		if !ok || len(batch) > 0 {
			return batch, ok
		}
		<-a.wake
	}
}

// RunOnce handles one batch in the caller's goroutine and returns its size:
// 0 when nothing is queued or the actor has terminated. A panic in the
// handler fails the actor exactly as in goroutine mode; check Err. It is
// only for actors made by NewSync.
func (a *Actor[M]) RunOnce() int {
	if !a.synchronous {
		panic("actor: RunOnce called on an actor started by New")
	}
	batch, _ := a.takeBatch(false)
	if len(batch) == 0 {
		return 0
	}
	a.handle(batch)
	return len(batch)
}

// takeBatch takes the next batch, possibly empty; it reports false when the
// actor is no longer running. With markIdle, an empty take marks the
// goroutine idle under the same lock, so the next sender will wake it.
func (a *Actor[M]) takeBatch(markIdle bool) ([]M, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.state != running {
		return nil, false
	}
	batch := a.takeBatchLocked()
	if len(batch) == 0 && markIdle {
		a.mu.idle = true
	}
	return batch, true
}

// takeBatchLocked fills a.batch with up to maxBatch messages: System, then
// ticks, then Network and Client sharing what room is left.
// REQUIRES: a.mu is held.
func (a *Actor[M]) takeBatchLocked() []M {
	lanes := &a.mu.lanes
	b := lanes[System].popInto(a.batch[:0], a.maxBatch)
	b = a.takeTicksLocked(b, a.maxBatch-len(b))
	room := a.maxBatch - len(b)
	b = lanes[Network].popInto(b, networkShare(room, lanes[Network].len(), lanes[Client].len()))
	b = lanes[Client].popInto(b, a.maxBatch-len(b))
	a.batch = b
	return b
}

// networkShare is how much of room the Network lane gets: whatever the
// Client lane leaves unused, and at least half when both could fill it, so
// neither lane starves the other.
func networkShare(room, networkLen, clientLen int) int {
	return min(networkLen, max(room-clientLen, room-room/2))
}

// handle calls the handler and reports whether the actor is still healthy.
// A panic or runtime.Goexit in the handler fails the actor.
func (a *Actor[M]) handle(batch []M) (ok bool) {
	defer func() {
		clear(batch) // let the handled messages be collected
		if !ok {
			a.fail(recover())
		}
	}()
	a.handler.Handle(batch)
	return true
}

// fail terminates the actor after a handler panic with value v (nil for
// runtime.Goexit) and reports it. It runs deferred on the panicking stack,
// so the stack it records shows where the panic happened.
func (a *Actor[M]) fail(v any) {
	if v == nil {
		v = errGoexit
	}
	perr := &PanicError{Value: v, Stack: debug.Stack()}
	pending, first := a.seal(perr)
	// Report even when a stop got there first: the panic is still a bug.
	a.onPanic(v, perr.Stack)
	if first {
		a.finish(pending, perr)
	}
}

// terminate ends the actor with err, unless it has already ended.
func (a *Actor[M]) terminate(err error) {
	if pending, first := a.seal(err); first {
		a.finish(pending, err)
	}
}

// seal moves the actor to terminated with err, stops its tickers and takes
// every queued message. Only the first call does this; later ones return
// false. From then on Send refuses everything with err.
func (a *Actor[M]) seal(err error) (pending []M, first bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.state == terminated {
		return nil, false
	}
	a.mu.state = terminated
	a.mu.err = err
	a.stopTickersLocked()
	for i := range a.mu.lanes {
		lane := &a.mu.lanes[i]
		pending = lane.popInto(pending, lane.len())
	}
	return pending, true
}

// finish rejects the messages seal took, then closes done.
func (a *Actor[M]) finish(pending []M, err error) {
	for _, m := range pending {
		if r, ok := any(m).(Rejecter); ok {
			r.Reject(err)
		}
	}
	close(a.done)
}
