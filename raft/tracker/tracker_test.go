package tracker

import "testing"

func TestInflightsBoundAndFree(t *testing.T) {
	in := NewInflights(3)
	for _, i := range []uint64{5, 7, 9} {
		if in.Full() {
			t.Fatalf("full before adding %d", i)
		}
		in.Add(i)
	}
	if !in.Full() {
		t.Fatal("3 appends in a window of 3 is not full")
	}
	in.FreeLE(7)
	if in.Count() != 1 || in.Full() {
		t.Fatalf("after freeing up to 7: count %d", in.Count())
	}
	// Wrap around the ring.
	in.Add(11)
	in.Add(13)
	in.FreeLE(12)
	if in.Count() != 1 {
		t.Fatalf("after wrap and free up to 12: count %d, want 1", in.Count())
	}
	in.FreeLE(100)
	if in.Count() != 0 {
		t.Fatalf("count %d after freeing everything", in.Count())
	}
}

func TestProgressProbeReplicateSnapshot(t *testing.T) {
	pr := New(11, 4, false)
	if pr.IsPaused() {
		t.Fatal("a fresh probe is paused")
	}
	pr.SentEntries(12)
	if !pr.IsPaused() {
		t.Fatal("a probe in flight does not pause further probes")
	}
	// Rejection of the probe with a hint moves Next back, never below Match+1.
	if !pr.MaybeDecrTo(10, 4) || pr.Next != 5 || pr.IsPaused() {
		t.Fatalf("after rejection with hint 4: next %d paused %t", pr.Next, pr.IsPaused())
	}
	if pr.MaybeDecrTo(3, 1) {
		t.Fatal("a stale rejection (not of Next-1) was taken")
	}
	if !pr.MaybeUpdate(8) || pr.Match != 8 || pr.Next != 9 {
		t.Fatalf("after ack of 8: %v", pr)
	}
	pr.BecomeReplicate()
	for i := uint64(9); i < 13; i++ {
		pr.SentEntries(i)
	}
	if !pr.IsPaused() || pr.Next != 13 {
		t.Fatalf("pipeline of 4 not full: %v paused %t", pr, pr.IsPaused())
	}
	if pr.MaybeDecrTo(7, 0) {
		t.Fatal("a rejection at or below Match is stale in replicate")
	}
	pr.BecomeSnapshot(50)
	if !pr.IsPaused() {
		t.Fatal("snapshot state must pause appends")
	}
	pr.BecomeProbe()
	if pr.Next != 51 {
		t.Fatalf("probe after a snapshot at 50 resumes at %d, want 51", pr.Next)
	}
}
