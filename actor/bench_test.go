package actor

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// BenchmarkSendHandle measures a message's trip through a goroutine actor:
// Send on the Client lane from some goroutines (retrying on ErrBusy), one
// handler counting. ns/op and allocs/op are per message.
func BenchmarkSendHandle(b *testing.B) {
	for _, senders := range []int{1, 4} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			benchSendHandle(b, senders)
		})
	}
}

func benchSendHandle(b *testing.B, senders int) {
	handled, batches := 0, 0
	all := make(chan struct{})
	a := New[int](HandlerFunc[int](func(batch []int) {
		batches++
		if handled += len(batch); handled == b.N {
			close(all)
		}
	}), Options{})
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() { sendRetrying(a, share(b.N, senders, s)) })
	}
	<-all
	b.StopTimer()
	wg.Wait()
	b.ReportMetric(float64(handled)/float64(batches), "msgs/batch")
	if err := a.Stop(b.Context()); err != nil {
		b.Fatal(err)
	}
}

// share is sender s's part of n messages split between senders.
func share(n, senders, s int) int {
	if s == 0 {
		return n/senders + n%senders
	}
	return n / senders
}

func sendRetrying(a *Actor[int], n int) {
	for i := 0; i < n; {
		if a.Send(Client, i) == nil {
			i++
		} else {
			runtime.Gosched() // ErrBusy: let the actor drain
		}
	}
}

// BenchmarkSyncSendRunOnce measures the mailbox alone, without goroutine
// hand-offs: batches of MaxBatch sends, then RunOnce. Per message.
func BenchmarkSyncSendRunOnce(b *testing.B) {
	const maxBatch = 256
	a := NewSync[int](HandlerFunc[int](func([]int) {}), Options{MaxBatch: maxBatch})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := a.Send(Client, i); err != nil {
			b.Fatal(err)
		}
		if i%maxBatch == maxBatch-1 {
			a.RunOnce()
		}
	}
}
