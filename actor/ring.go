package actor

// ring is a bounded FIFO queue over a buffer allocated once, so pushing and
// popping never allocate. It is not safe for concurrent use.
//
// Invariant: 0 <= head < len(buf) and 0 <= n <= len(buf); the queued
// elements are buf[head], buf[(head+1)%len(buf)], ... (n of them), and every
// other slot holds the zero value, so a popped message is not kept alive.
type ring[M any] struct {
	buf  []M
	head int
	n    int
}

func newRing[M any](capacity int) ring[M] {
	return ring[M]{buf: make([]M, capacity)}
}

func (r *ring[M]) len() int { return r.n }

// push appends m, or reports false when the ring is full.
func (r *ring[M]) push(m M) bool {
	if r.n == len(r.buf) {
		return false
	}
	r.buf[(r.head+r.n)%len(r.buf)] = m
	r.n++
	return true
}

// popInto moves up to max elements, oldest first, to the end of dst.
func (r *ring[M]) popInto(dst []M, max int) []M {
	var zero M
	for ; max > 0 && r.n > 0; max-- {
		dst = append(dst, r.buf[r.head])
		r.buf[r.head] = zero
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
	return dst
}
