package store

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/natsraft/natsraft/raft"
)

var crashSeed = flag.Uint64("crash.seed", 0, "seed for the crash tests (0: from the clock)")

func seedFor(t *testing.T) uint64 {
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -crash.seed=%d)", seed, seed)
	return seed
}

// TestCrashStrictMem crashes an in-process store on Pebble's strict
// in-memory file system, which forgets every write not synced, at random
// points of a node-like workload. The reopened store must equal one of the
// states the store went through since the last synced commit: nothing
// acknowledged lost, and unsynced batches lost whole, in commit order.
func TestCrashStrictMem(t *testing.T) {
	seed := seedFor(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	fs := vfs.NewStrictMem()
	opts := memOptions(fs)
	s := mustOpen(t, "db", opts)
	opts.Create = false
	for crash := range 15 {
		states, durable := runUntilCrash(t, s, rng)
		s = crashAndReopen(t, fs, s, opts)
		got := digest(s)
		if !slices.Contains(states[durable:], got) {
			t.Fatalf("seed %d, crash %d: recovered\n%s\nnot among the states since the last sync:\n%v",
				seed, crash, got, states[durable:])
		}
		if err := checkConsistent(s); err != nil {
			t.Fatalf("seed %d, crash %d: %v", seed, crash, err)
		}
	}
	mustClose(t, s)
}

// crashAndReopen crashes s, losing every write to fs not synced, and
// opens the store again.
func crashAndReopen(t *testing.T, fs *vfs.MemFS, s *Store, opts Options) *Store {
	t.Helper()
	fs.SetIgnoreSyncs(true)
	_ = s.Close() // Writes from here on are not synced, so they are lost.
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)
	opts.Create = false
	return mustOpen(t, "db", opts)
}

// An installed snapshot is synced by its own batch, with the state
// machine's restore. A compaction is not synced, nor is the apply before
// it, but a crash never keeps the compaction without the apply (Open
// would refuse the store), and the next synced batch makes both durable.
func TestCrashAfterInstallAndCompact(t *testing.T) {
	fs := vfs.NewStrictMem()
	opts := memOptions(fs)
	s := mustOpen(t, "db", opts)
	mustAppend(t, s, entries(1, 5, 1)...)
	mustSetHardState(t, s, raft.HardState{Term: 2, Vote: 1, Commit: 3})
	setKV := func(b *Batch, applied uint64) {
		b.SetApplied(applied)
		mustPebble(b.Pebble().Set(appliedKVKey, binary.BigEndian.AppendUint64(nil, applied), nil))
	}
	// The term and vote do not change: only the install calls for the sync.
	write(t, s, func(b *Batch) error {
		snap := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 20, Term: 2, ConfState: workloadConfState}}
		if err := b.InstallSnapshot(snap); err != nil {
			return err
		}
		setKV(b, 20)
		b.SetHardState(raft.HardState{Term: 2, Vote: 1, Commit: 20})
		return nil
	})
	s = crashAndReopen(t, fs, s, opts)
	wantState(t, s, "after the install", 20, 20, 20)

	write(t, s, func(b *Batch) error { // synced: it holds entries
		b.SetHardState(raft.HardState{Term: 2, Vote: 1, Commit: 30})
		return b.Append(entries(21, 30, 2))
	})
	applyAndCompact := func() {
		write(t, s, func(b *Batch) error { setKV(b, 28); return nil })
		if err := s.Compact(25, workloadConfState); err != nil {
			t.Fatal(err)
		}
	}
	applyAndCompact()
	s = crashAndReopen(t, fs, s, opts)
	wantState(t, s, "after an unsynced apply and compaction", 20, 20, 30)

	applyAndCompact()
	mustAppend(t, s, entry(31, 2))
	s = crashAndReopen(t, fs, s, opts)
	wantState(t, s, "after a synced append behind them", 25, 28, 31)
	mustClose(t, s)
}

// wantState checks the snapshot index, applied index and last index of a
// recovered store, and that it is consistent.
func wantState(t *testing.T, s *Store, when string, snapshot, applied, last uint64) {
	t.Helper()
	st := s.Status()
	if st.SnapshotIndex != snapshot || st.Applied != applied || st.LastIndex != last {
		t.Fatalf("%s: snapshot %d, applied %d, last %d; want %d, %d, %d",
			when, st.SnapshotIndex, st.Applied, st.LastIndex, snapshot, applied, last)
	}
	if err := checkConsistent(s); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
}

// runUntilCrash runs a random number of workload steps, returning the
// digest after each and the position of the last synced one.
func runUntilCrash(t *testing.T, s *Store, rng *rand.Rand) (states []string, durable int) {
	t.Helper()
	w, _, err := startWorkload(s, rng)
	if err != nil {
		t.Fatal(err)
	}
	states = []string{digest(s)}
	for range rng.IntN(60) {
		_, synced, err := w.step()
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, digest(s))
		if synced {
			durable = len(states) - 1
		}
	}
	return states, durable
}

const (
	crashChildDirEnv  = "NATSRAFT_STORE_CRASH_DIR"
	crashChildSeedEnv = "NATSRAFT_STORE_CRASH_SEED"
)

// TestCrashChild is not a test: TestCrashKill9 runs the test binary with
// this test selected and the environment set, as the process to kill. It
// opens (or creates) the store, runs the workload, and prints an ack line
// after every synced commit returns, until it is killed or its stdout
// closes.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildDirEnv)
	if dir == "" {
		t.Skip("the process TestCrashKill9 kills")
	}
	seed, err := strconv.ParseUint(os.Getenv(crashChildSeedEnv), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, dir, Options{Create: true, Logger: quietLogger()})
	w, a, err := startWorkload(s, rand.New(rand.NewPCG(seed, 1)))
	for n := 0; err == nil && n < 100_000; n++ {
		if _, err = fmt.Println(a); err != nil {
			break
		}
		var synced bool
		for !synced && err == nil {
			a, synced, err = w.step()
		}
	}
	t.Fatalf("child stopped: %v", err)
}

// TestCrashKill9 kills a process writing to a store on disk with SIGKILL
// at random moments, then reopens the store: every entry and hard state
// the process acknowledged (printed after its sync returned) must be
// there, and the state must be consistent. Each round restarts on the
// store the previous round left.
func TestCrashKill9(t *testing.T) {
	seed := seedFor(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := filepath.Join(t.TempDir(), "db")
	for round := range 8 {
		killAfter := 1 + rng.IntN(150)
		acks := runAndKill(t, dir, rng.Uint64(), killAfter)
		if len(acks) < killAfter {
			t.Fatalf("seed %d round %d: child acknowledged %d writes, fewer than the %d awaited", seed, round, len(acks), killAfter)
		}
		s, err := Open(dir, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("seed %d round %d: reopening after SIGKILL: %v", seed, round, err)
		}
		err = checkRecovered(s, acks[len(acks)-1])
		t.Logf("round %d: killed after ack %d of %d; recovered %+v", round, killAfter, len(acks), s.Status())
		mustClose(t, s)
		if err != nil {
			t.Fatalf("seed %d round %d, killed after %d acks: %v", seed, round, len(acks), err)
		}
	}
}

// runAndKill starts a child writing to dir, SIGKILLs it after killAfter
// acks, and returns every ack it printed (those after killAfter were
// printed before the kill landed, so they count too).
func runAndKill(t *testing.T, dir string, seed uint64, killAfter int) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashChildDirEnv+"="+dir, crashChildSeedEnv+"="+strconv.FormatUint(seed, 10))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []ack
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		a, err := parseAck(lines.Text())
		if err != nil {
			continue // The test framework's own output, or a line cut by the kill.
		}
		acks = append(acks, a)
		if len(acks) == killAfter {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if len(acks) < killAfter {
		t.Fatalf("child exited after %d acks: %v", len(acks), err)
	}
	return acks
}
