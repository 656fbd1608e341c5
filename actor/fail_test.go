package actor

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

type report struct {
	value any
	stack []byte
}

// reporter returns an OnPanic that records its calls on the channel.
func reporter() (func(any, []byte), chan report) {
	reports := make(chan report, 10)
	return func(v any, stack []byte) { reports <- report{v, stack} }, reports
}

// A panic in the handler stops the actor: reported with its stack, queued
// messages rejected, later sends refused, the handler never called again.
func TestPanicStopsActorAndIsReported(t *testing.T) {
	onPanic, reports := reporter()
	var calls atomic.Int32
	g := newGate[any]("boom")
	a := New[any](HandlerFunc[any](func(batch []any) {
		calls.Add(1)
		g.Handle(batch)
		panic("boom")
	}), Options{OnPanic: onPanic})
	rejected := make(chan error, 10)

	mustSend[any](t, a, Client, "boom")
	recv(t, g.entered, "the handler")
	mustSend[any](t, a, Client, rejectable{1, rejected})
	mustSend[any](t, a, Network, "queued")
	close(g.release)
	recv(t, a.Done(), "Done")

	rep := recv(t, reports, "OnPanic")
	if rep.value != "boom" || !bytes.Contains(rep.stack, []byte("TestPanicStopsActorAndIsReported")) {
		t.Fatalf("OnPanic got %v with stack\n%s\nwant boom and the panicking frame", rep.value, rep.stack)
	}
	var perr *PanicError
	if !errors.As(a.Err(), &perr) || perr.Value != "boom" || !errors.Is(a.Err(), ErrStopped) {
		t.Fatalf("Err = %v, want a *PanicError for boom matching ErrStopped", a.Err())
	}
	if err := recv(t, rejected, "a rejection"); err != a.Err() {
		t.Fatalf("queued request rejected with %v, want the PanicError", err)
	}
	if err := a.Send(Client, "late"); err != a.Err() {
		t.Fatalf("Send after the panic = %v, want the PanicError", err)
	}
	if err := a.Stop(t.Context()); err != a.Err() {
		t.Fatalf("Stop after the panic = %v, want the PanicError", err)
	}
	if calls.Load() != 1 || len(reports) != 0 {
		t.Fatalf("handler calls = %d, extra reports = %d; want 1 and 0", calls.Load(), len(reports))
	}
}

func TestPanicInSyncModeFailsActor(t *testing.T) {
	onPanic, reports := reporter()
	a := NewSync[any](HandlerFunc[any](func([]any) { panic(io.ErrUnexpectedEOF) }),
		Options{OnPanic: onPanic, MaxBatch: 1})
	rejected := make(chan error, 1)
	mustSend[any](t, a, Client, "boom")
	mustSend[any](t, a, Client, rejectable{1, rejected})

	if n := a.RunOnce(); n != 1 {
		t.Fatalf("RunOnce = %d, want 1", n)
	}
	if rep := recv(t, reports, "OnPanic"); rep.value != io.ErrUnexpectedEOF {
		t.Fatalf("OnPanic value = %v", rep.value)
	}
	err := a.Err()
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ErrStopped) {
		t.Fatalf("Err = %v, want it to match the panic error and ErrStopped", err)
	}
	if got := recv(t, rejected, "a rejection"); got != err {
		t.Fatalf("queued request rejected with %v, want %v", got, err)
	}
	if n := a.RunOnce(); n != 0 {
		t.Fatalf("RunOnce after failure = %d, want 0", n)
	}
	recv(t, a.Done(), "Done")
}

// runtime.Goexit in the handler (t.FailNow, for one) fails the actor too,
// instead of leaving it wedged with Done never closed.
func TestGoexitInHandlerFailsActor(t *testing.T) {
	onPanic, reports := reporter()
	a := New[int](HandlerFunc[int](func([]int) { runtime.Goexit() }), Options{OnPanic: onPanic})
	mustSend(t, a, Client, 1)
	recv(t, a.Done(), "Done")
	if rep := recv(t, reports, "OnPanic"); rep.value != errGoexit {
		t.Fatalf("OnPanic value = %v, want errGoexit", rep.value)
	}
	if !strings.Contains(a.Err().Error(), "Goexit") {
		t.Fatalf("Err = %v, want it to name Goexit", a.Err())
	}
}

// A panic after the handler requested a stop is still reported.
func TestPanicAfterStopRequestIsReported(t *testing.T) {
	onPanic, reports := reporter()
	var a *Actor[int]
	a = NewSync[int](HandlerFunc[int](func([]int) {
		a.RequestStop()
		panic("late bug")
	}), Options{OnPanic: onPanic})
	mustSend(t, a, Client, 1)
	a.RunOnce()
	if rep := recv(t, reports, "OnPanic"); rep.value != "late bug" {
		t.Fatalf("OnPanic value = %v, want late bug", rep.value)
	}
}
