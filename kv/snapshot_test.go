package kv

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble"
)

// populated returns a store after seeded random requests, compactions
// included, with keys of other owners around its prefix.
func populated(t *testing.T, seed uint64) (*harness, *model) {
	t.Helper()
	h := newHarness(t, Options{})
	for _, k := range []string{"j-before", "l-after"} {
		if err := h.db.Set([]byte(k), []byte("not ours"), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	m := newModel()
	g := &gen{rng: rand.New(rand.NewPCG(seed, 1)), m: m, compact: true}
	for i := 0; i < 300; i++ {
		req := g.request()
		m.apply(req)
		h.apply(req)
	}
	return h, m
}

func restore(t *testing.T, h *harness, snap []byte) error {
	t.Helper()
	b := h.db.NewIndexedBatch()
	if err := h.s.Restore(bytes.NewReader(snap), b); err != nil {
		b.Close()
		if derr := h.s.Discard(); derr != nil {
			t.Fatal(derr)
		}
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	h.s.Committed()
	return nil
}

func TestSnapshotRestoreIsByteIdentical(t *testing.T) {
	src, m := populated(t, 1)
	var snap bytes.Buffer
	if err := src.s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	dst, _ := populated(t, 2) // a different state, replaced whole
	if err := restore(t, dst, snap.Bytes()); err != nil {
		t.Fatal(err)
	}
	if a, b := contents(t, src.db, 'k'), contents(t, dst.db, 'k'); !reflect.DeepEqual(a, b) {
		t.Fatalf("restored contents differ: %d vs %d keys", len(a), len(b))
	}
	if dst.s.Revision() != m.rev || dst.s.CompactRevision() != m.compact {
		t.Fatalf("restored at %d/%d, want %d/%d", dst.s.Revision(), dst.s.CompactRevision(), m.rev, m.compact)
	}
	for _, k := range []string{"j-before", "l-after"} {
		if _, closer, err := dst.db.Get([]byte(k)); err != nil {
			t.Fatalf("restore touched %s outside the prefix: %v", k, err)
		} else {
			closer.Close()
		}
	}
	checkRanges(t, 1, dst, m)
	checkIndex(t, dst)
	// The restored store goes on exactly like the source.
	for _, h := range []*harness{src, dst} {
		h.put("after", "restore")
	}
	if a, b := contents(t, src.db, 'k'), contents(t, dst.db, 'k'); !reflect.DeepEqual(a, b) {
		t.Fatal("contents differ after a put on both")
	}
}

func TestRestoreRejectsCorruptSnapshots(t *testing.T) {
	src, _ := populated(t, 3)
	var snap bytes.Buffer
	if err := src.s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	good := snap.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	for name, data := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-3],
		"flipped":   flipped,
		"bad magic": append([]byte("X"), good[1:]...),
	} {
		dst := newHarness(t, Options{})
		dst.put("mine", "1")
		before := contents(t, dst.db, 'k')
		if err := restore(t, dst, data); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("%s: err %v", name, err)
		}
		if !reflect.DeepEqual(before, contents(t, dst.db, 'k')) || dst.s.Revision() != 2 {
			t.Fatalf("%s: failed restore changed the store", name)
		}
		checkIndex(t, dst)
		if resp := dst.put("mine", "2"); resp.Header.Revision != 3 {
			t.Fatalf("%s: put after failed restore at %d", name, resp.Header.Revision)
		}
	}
}

// TestWatchersSurviveRestore: a synced watcher catches up from the restored
// history, so it sees the events of the revisions the snapshot brought.
func TestWatchersSurviveRestore(t *testing.T) {
	src := newHarness(t, Options{})
	dst := newHarness(t, Options{})
	for _, h := range []*harness{src, dst} {
		h.put("k", "1") // 2
	}
	w := mustWatch(t, dst, WatchRequest{Key: []byte("k")})
	src.put("k", "2") // 3
	src.put("k", "3") // 4
	var snap bytes.Buffer
	if err := src.s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if err := restore(t, dst, snap.Bytes()); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, w, putEv(kvp("k", "2", 2, 3, 2), nil), putEv(kvp("k", "3", 2, 4, 3), nil))
}
