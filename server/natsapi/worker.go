package natsapi

import (
	"bytes"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"
)

// work is a request for a worker: the call and its endpoint's handler. It
// travels by value, and the worker serves its own copy: accepting a
// request allocates nothing.
type work struct {
	c call
	h func(*call) (reply, error)
}

// workerIdle is how long a worker waits for another request.
const workerIdle = 5 * time.Second

// worker serves w, then further requests until none comes for workerIdle.
// Reusing goroutines keeps the stacks they grew while decoding requests: a
// fresh goroutine per request spent about 4% of a loaded leader's CPU
// growing its stack. It keeps its scratch state too.
func (a *api) worker(w work) {
	s := newScratch(a.name)
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		w.c.scratch = s
		a.serve(&w.c, w.h)
		s.reset()
		<-a.inflight
		idle.Reset(workerIdle)
		select {
		case w = <-a.idle:
		case <-idle.C:
			return
		case <-a.stopped:
			return
		}
	}
}

// maxKeptBodyBytes bounds the body buffer a worker keeps between requests:
// a large response's buffer is dropped, so that idle workers do not hold
// MaxInflight times the NATS max payload.
const maxKeptBodyBytes = 64 << 10

// scratch is the state a worker reuses from one request to the next.
// Invariant: only its worker uses it, for one request at a time, and
// nothing of it outlives the request: PublishMsg copies a message's
// headers and body into the connection's buffer before it returns.
type scratch struct {
	body     bytes.Buffer // a msgpack response body, written by enc
	enc      *msgpack.Encoder
	header   nats.Header // a response's headers (see responseHeader)
	revision [1]string   // header's Natsraft-Revision
	leader   [1]string   // header's Natsraft-Leader, when set
}

func newScratch(node string) *scratch {
	s := &scratch{}
	s.enc = msgpack.NewEncoder(&s.body)
	s.header = nats.Header{HeaderNode: {node}, HeaderRevision: s.revision[:]}
	return s
}

// reset makes s ready for the next request.
func (s *scratch) reset() {
	if s.body.Cap() > maxKeptBodyBytes {
		s.body = bytes.Buffer{}
	}
}

// marshal is msgpack.Marshal into the worker's buffer: the result is valid
// until the next call.
func (s *scratch) marshal(v any) ([]byte, error) {
	s.body.Reset()
	if err := s.enc.Encode(v); err != nil {
		return nil, err
	}
	return s.body.Bytes(), nil
}

// Content-Type header values; shared, so never modified.
var (
	jsonContentType    = []string{ContentTypeJSON}
	msgpackContentType = []string{ContentTypeMsgpack}
)

// responseHeader fills the worker's header map for a response: the
// content type, revision and leader; the node is always there. The map is
// valid until the next call.
func (s *scratch) responseHeader(msgpack bool, revision int64, leader string, leaderKnown bool) nats.Header {
	s.header[HeaderContentType] = jsonContentType
	if msgpack {
		s.header[HeaderContentType] = msgpackContentType
	}
	s.revision[0] = strconv.FormatInt(revision, 10)
	delete(s.header, HeaderLeader)
	if leaderKnown {
		s.leader[0] = leader
		s.header[HeaderLeader] = s.leader[:]
	}
	return s.header
}
