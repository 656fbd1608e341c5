package tracker

// Inflights bounds the appends in flight to one follower while pipelining:
// a ring of the last index of each unacknowledged MsgApp, so an ack for
// index i frees every append ending at or below i.
//
// Invariant: count <= len(buffer) == capacity once grown; entries in ring
// order are strictly increasing.
type Inflights struct {
	start    int // ring position of the oldest in-flight append
	count    int
	capacity int
	buffer   []uint64
}

// NewInflights returns an empty window of the given capacity.
func NewInflights(capacity int) *Inflights {
	return &Inflights{capacity: capacity}
}

// Add records an append whose last entry is index. REQUIRES: !Full().
func (in *Inflights) Add(index uint64) {
	if in.Full() {
		panic("tracker: Add on a full Inflights")
	}
	next := in.start + in.count
	if next >= in.capacity {
		next -= in.capacity
	}
	if next >= len(in.buffer) {
		in.grow()
	}
	in.buffer[next] = index
	in.count++
}

// grow doubles the buffer up to capacity, so idle followers cost little.
func (in *Inflights) grow() {
	size := max(1, 2*len(in.buffer))
	size = min(size, in.capacity)
	buffer := make([]uint64, size)
	copy(buffer, in.buffer)
	in.buffer = buffer
}

// FreeLE frees every in-flight append ending at or below index.
func (in *Inflights) FreeLE(index uint64) {
	for in.count > 0 && in.buffer[in.start] <= index {
		in.start++
		if in.start >= in.capacity {
			in.start = 0
		}
		in.count--
	}
	if in.count == 0 {
		in.start = 0
	}
}

// Full reports whether no more appends may be sent.
func (in *Inflights) Full() bool { return in.count >= in.capacity }

// Count is the number of appends in flight.
func (in *Inflights) Count() int { return in.count }

// Reset frees everything.
func (in *Inflights) Reset() {
	in.start, in.count = 0, 0
}
