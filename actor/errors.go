package actor

import (
	"errors"
	"fmt"
)

// Errors returned by Send and Err, testable with errors.Is.
var (
	// ErrBusy: the Client (or System) lane is full. The request was not
	// queued; the caller should retry later, ideally with back-off.
	ErrBusy = errors.New("actor: mailbox full, node busy; retry later")
	// ErrDropped: the Network lane is full; the message was discarded and
	// counted in Dropped. Raft retransmits what matters.
	ErrDropped = errors.New("actor: network mailbox full, message dropped")
	// ErrStopped: the actor no longer accepts messages. Err returns exactly
	// this value after a clean stop.
	ErrStopped = errors.New("actor: stopped")
)

// Rejecter is implemented by messages that must be answered even when they
// are never handled, typically client requests carrying a reply channel.
// Reject is called from the actor's goroutine and must neither block nor
// panic. The check is any(m).(Rejecter) on the queued value, so a struct
// message needs Reject on its value receiver (or be sent as a pointer).
type Rejecter interface {
	Reject(err error)
}

// PanicError reports that the handler panicked and the actor failed.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the handler goroutine's stack at the panic.
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("actor: handler panicked: %v", e.Value)
}

// Unwrap makes a *PanicError match ErrStopped, and the panic value too when
// it is an error.
func (e *PanicError) Unwrap() []error {
	if err, ok := e.Value.(error); ok {
		return []error{ErrStopped, err}
	}
	return []error{ErrStopped}
}

// errGoexit is the PanicError value recorded when the handler calls
// runtime.Goexit (t.FailNow in a test handler, for instance).
var errGoexit = errors.New("actor: handler called runtime.Goexit")
