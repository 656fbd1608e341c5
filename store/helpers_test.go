package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/natsraft/natsraft/raft"
)

// tb is what the helpers need from *testing.T, *testing.B and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// memOptions returns options for a store on fs that may create it.
func memOptions(fs vfs.FS) Options {
	return Options{FS: fs, Create: true, Logger: quietLogger()}
}

func mustOpen(t tb, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	return s
}

func mustClose(t tb, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// entry returns the entry (index, term) with data naming both, so a test
// can tell which write an entry came from.
func entry(index, term uint64) raft.Entry {
	return raft.Entry{Index: index, Term: term, Data: entryData(index, term)}
}

func entryData(index, term uint64) []byte {
	return fmt.Appendf(nil, "entry %d term %d", index, term)
}

func entries(lo, hi, term uint64) []raft.Entry {
	var ents []raft.Entry
	for i := lo; i <= hi; i++ {
		ents = append(ents, entry(i, term))
	}
	return ents
}

// write commits one batch built by fn.
func write(t tb, s *Store, fn func(b *Batch) error) {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	if err := fn(b); err != nil {
		t.Fatalf("building batch: %v", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func mustAppend(t tb, s *Store, ents ...raft.Entry) {
	t.Helper()
	write(t, s, func(b *Batch) error { return b.Append(ents) })
}

func mustSetHardState(t tb, s *Store, hs raft.HardState) {
	t.Helper()
	write(t, s, func(b *Batch) error { b.SetHardState(hs); return nil })
}

// sameEntries reports how two entry lists differ, or "" if they do not.
func sameEntries(got, want []raft.Entry) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d entries, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Term != w.Term || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) {
			return fmt.Sprintf("entry %d is (%d,%d,%d,%q), want (%d,%d,%d,%q)",
				i, g.Index, g.Term, g.Type, g.Data, w.Index, w.Term, w.Type, w.Data)
		}
	}
	return ""
}

// sameConfState compares memberships, nil equal to empty.
func sameConfState(a, b raft.ConfState) bool {
	return slices.Equal(a.Voters, b.Voters) && slices.Equal(a.Learners, b.Learners)
}

// sameErr reports whether got and want are both nil or want is in got's
// chain.
func sameErr(got, want error) bool {
	if want == nil {
		return got == nil
	}
	return errors.Is(got, want)
}

// mustPanic runs fn and fails unless it panics with a message containing
// want.
func mustPanic(t *testing.T, name, want string, fn func()) {
	t.Helper()
	msg, ok := panicMessage(fn)
	switch {
	case !ok:
		t.Errorf("%s: did not panic", name)
	case !strings.Contains(msg, want):
		t.Errorf("%s: panicked with %q, want a message containing %q", name, msg, want)
	}
}

// panicMessage runs fn and returns what it panicked with, if it did.
func panicMessage(fn func()) (msg string, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			msg, panicked = fmt.Sprint(r), true
		}
	}()
	fn()
	return "", false
}
