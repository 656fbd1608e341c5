package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Kind names a workload.
type Kind string

// The workloads. Writes are Puts of a fresh key (or a random key of the
// key space when --keys is set); reads are Gets of a random key of the
// key space, which is written first.
const (
	// KindSeq is one client writing back to back: the commit latency.
	KindSeq Kind = "seq"
	// KindConc is Clients closed-loop writers for Duration: throughput and
	// latency under load.
	KindConc Kind = "conc"
	// KindRate is an open loop of writes at Rate per second. Latency runs
	// from the intended send time, so a stall counts against every request
	// that should have been sent during it (no coordinated omission).
	KindRate Kind = "rate"
	// KindReadLin is Clients closed-loop linearizable readers.
	KindReadLin Kind = "read-lin"
	// KindReadSer is Clients closed-loop serializable readers.
	KindReadSer Kind = "read-ser"
	// KindMixed is Clients closed-loop clients doing linearizable reads
	// with probability ReadRatio and writes otherwise.
	KindMixed Kind = "mixed"
)

var allKinds = []Kind{KindSeq, KindConc, KindRate, KindReadLin, KindReadSer, KindMixed}

// parseKinds parses a comma-separated workload list.
func parseKinds(list []string) ([]Kind, error) {
	var kinds []Kind
	for _, s := range list {
		k := Kind(strings.TrimSpace(s))
		if !k.valid() {
			return nil, fmt.Errorf("unknown workload %q (want one of %v)", s, allKinds)
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("no workload given")
	}
	return kinds, nil
}

func (k Kind) valid() bool {
	for _, a := range allKinds {
		if k == a {
			return true
		}
	}
	return false
}

// usesKeySpace reports whether the workload reads existing keys, so the
// key space must be written before it.
func (k Kind) usesKeySpace() bool {
	return k == KindReadLin || k == KindReadSer || k == KindMixed
}

// keyPrefix separates the fresh keys of each write workload.
func (k Kind) keyPrefix() byte {
	switch k {
	case KindSeq:
		return 's'
	case KindConc:
		return 'c'
	case KindRate:
		return 'r'
	}
	return 'k'
}

// Spec is one workload's settings. Its defaults are the reference
// workload of issue 5: 16-byte keys, 128-byte values, seq = 1 client x 3000
// writes, conc = 64 clients for 10 s.
type Spec struct {
	Kind        Kind
	SeqOps      int           // writes measured by seq
	Clients     int           // closed-loop clients of conc, reads and mixed
	Duration    time.Duration // measured time of conc, rate, reads and mixed
	Warmup      time.Duration // unmeasured run of the same workload before it
	Rate        float64       // requests per second of rate
	MaxInFlight int           // bound on outstanding requests of rate
	ReadRatio   float64       // share of reads in mixed
	KeySize     int           // bytes
	ValueSize   int           // bytes
	Keys        int           // key space; 0: every write a fresh key
	Timeout     time.Duration // per request
}

// defaultSpec is the reference workload.
func defaultSpec() Spec {
	return Spec{
		SeqOps: 3000, Clients: 64, Duration: 10 * time.Second, Warmup: time.Second,
		Rate: 5000, MaxInFlight: 4096, ReadRatio: 0.9,
		KeySize: 16, ValueSize: 128, Timeout: 10 * time.Second,
	}
}

// readKeysDefault is the key space of read workloads when --keys is 0.
const readKeysDefault = 10000

// keySpace is the number of keys read workloads choose from.
func (s Spec) keySpace() int {
	if s.Keys > 0 {
		return s.Keys
	}
	return readKeysDefault
}

func (s Spec) validate() error {
	switch {
	case s.KeySize < 2 || s.KeySize > 1024:
		return fmt.Errorf("--key-size %d: want 2..1024", s.KeySize)
	case s.ValueSize < 0:
		return fmt.Errorf("--value-size %d: want >= 0", s.ValueSize)
	case s.SeqOps < 1:
		return fmt.Errorf("--seq-ops %d: want >= 1", s.SeqOps)
	case s.Clients < 1:
		return fmt.Errorf("--clients %d: want >= 1", s.Clients)
	case s.Duration <= 0:
		return fmt.Errorf("--duration %v: want > 0", s.Duration)
	case s.Warmup < 0:
		return fmt.Errorf("--warmup %v: want >= 0", s.Warmup)
	case s.Rate <= 0 || s.MaxInFlight < 1:
		return fmt.Errorf("--rate %v, --max-inflight %d: want > 0", s.Rate, s.MaxInFlight)
	case s.ReadRatio < 0 || s.ReadRatio > 1:
		return fmt.Errorf("--read-ratio %v: want 0..1", s.ReadRatio)
	case s.Keys < 0:
		return fmt.Errorf("--keys %d: want >= 0", s.Keys)
	case s.Timeout <= 0:
		return fmt.Errorf("--timeout %v: want > 0", s.Timeout)
	}
	return nil
}

// label describes the workload in one line, e.g. "conc 64 clients x 10s".
func (s Spec) label() string {
	switch s.Kind {
	case KindSeq:
		return fmt.Sprintf("seq 1 client x %d writes", s.SeqOps)
	case KindRate:
		return fmt.Sprintf("rate %.0f writes/s x %v", s.Rate, s.Duration)
	case KindMixed:
		return fmt.Sprintf("mixed %d clients %.0f%% reads x %v", s.Clients, 100*s.ReadRatio, s.Duration)
	}
	return fmt.Sprintf("%s %d clients x %v", s.Kind, s.Clients, s.Duration)
}

// appendKey appends a key of exactly size bytes: prefix, then n in
// decimal, zero-padded (n wraps when it has more digits than fit).
func appendKey(dst []byte, prefix byte, n uint64, size int) []byte {
	digits := size - 1
	if digits < 20 {
		n %= pow10(digits)
	}
	var num [20]byte
	s := strconv.AppendUint(num[:0], n, 10)
	dst = append(dst, prefix)
	for range digits - len(s) {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// makeValues returns n random printable values of size bytes, so that
// systems that compress or dedupe get no unfair help.
func makeValues(n, size int, seed uint64) [][]byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	values := make([][]byte, n)
	for i := range values {
		v := make([]byte, size)
		for j := range v {
			v[j] = alphabet[r.IntN(len(alphabet))]
		}
		values[i] = v
	}
	return values
}
