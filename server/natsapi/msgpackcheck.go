package natsapi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits of a msgpack body, checked before it is decoded. The reflection
// decoder allocates a slice of the length an array header declares (a
// 5-byte header can declare four billion elements), and it recurses once per
// nesting level; both must be bounded before it sees untrusted bytes.
const (
	// msgpackDepthMax bounds nesting: each nested Txn adds three levels
	// (branch array, op map, txn map) and kv allows 31 nested Txns.
	msgpackDepthMax = 128
	// msgpackArrayLenMax bounds one array: the longest list of a request is
	// a Txn branch (kv.DefaultMaxTxnOps = 128).
	msgpackArrayLenMax = 1024
	// msgpackMapLenMax bounds one map: a struct has a dozen fields.
	msgpackMapLenMax = 64
	// msgpackElemsMax bounds the elements of all containers together, so
	// the decoded size stays proportional to a legitimate request.
	msgpackElemsMax = 1 << 16
)

var errMsgpack = errors.New("malformed msgpack")

// checkMsgpack reports whether b is exactly one well-formed msgpack value
// within the limits above. It allocates nothing.
func checkMsgpack(b []byte) error {
	c := msgpackChecker{b: b}
	if err := c.value(0); err != nil {
		return err
	}
	if c.pos != len(b) {
		return fmt.Errorf("%w: %d trailing bytes", errMsgpack, len(b)-c.pos)
	}
	return nil
}

type msgpackChecker struct {
	b     []byte
	pos   int
	elems int
}

// value skips one value starting at c.pos.
func (c *msgpackChecker) value(depth int) error {
	if depth > msgpackDepthMax {
		return fmt.Errorf("%w: nested deeper than %d", errMsgpack, msgpackDepthMax)
	}
	code, err := c.byte()
	if err != nil {
		return err
	}
	switch {
	case code <= 0x7f || code >= 0xe0 || code == 0xc0 || code == 0xc2 || code == 0xc3:
		return nil // fixint, nil, false, true
	case code >= 0x80 && code <= 0x8f:
		return c.container(int(code&0x0f), true, depth)
	case code >= 0x90 && code <= 0x9f:
		return c.container(int(code&0x0f), false, depth)
	case code >= 0xa0 && code <= 0xbf:
		return c.skip(int(code & 0x1f))
	}
	return c.sized(code, depth)
}

// sized handles the codes followed by a size or a fixed-size payload.
func (c *msgpackChecker) sized(code byte, depth int) error {
	switch code {
	case 0xcc, 0xd0: // uint8, int8
		return c.skip(1)
	case 0xcd, 0xd1:
		return c.skip(2)
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return c.skip(4)
	case 0xcb, 0xcf, 0xd3:
		return c.skip(8)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 (+ type byte)
		return c.skip(1 + 1<<(code-0xd4))
	case 0xc4, 0xd9: // bin8, str8
		return c.lengthThenSkip(1, 0)
	case 0xc5, 0xda:
		return c.lengthThenSkip(2, 0)
	case 0xc6, 0xdb:
		return c.lengthThenSkip(4, 0)
	case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32: length, type byte, data
		return c.lengthThenSkip(1<<(code-0xc7), 1)
	case 0xdc, 0xdd, 0xde, 0xdf: // array16, array32, map16, map32
		n, err := c.length(2 << ((code - 0xdc) % 2))
		if err != nil {
			return err
		}
		return c.container(n, code >= 0xde, depth)
	}
	return fmt.Errorf("%w: invalid code 0x%02x at byte %d", errMsgpack, code, c.pos-1)
}

func (c *msgpackChecker) container(n int, isMap bool, depth int) error {
	limit := msgpackArrayLenMax
	if isMap {
		limit, n = msgpackMapLenMax, n*2
		if n/2 > limit {
			return fmt.Errorf("%w: a map of %d entries (limit %d)", errMsgpack, n/2, limit)
		}
	} else if n > limit {
		return fmt.Errorf("%w: an array of %d elements (limit %d)", errMsgpack, n, limit)
	}
	if c.elems += n; c.elems > msgpackElemsMax {
		return fmt.Errorf("%w: more than %d elements", errMsgpack, msgpackElemsMax)
	}
	for range n {
		if err := c.value(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

func (c *msgpackChecker) byte() (byte, error) {
	if c.pos >= len(c.b) {
		return 0, fmt.Errorf("%w: truncated", errMsgpack)
	}
	c.pos++
	return c.b[c.pos-1], nil
}

// length reads a big-endian length of width bytes.
func (c *msgpackChecker) length(width int) (int, error) {
	if len(c.b)-c.pos < width {
		return 0, fmt.Errorf("%w: truncated", errMsgpack)
	}
	p := c.b[c.pos : c.pos+width]
	c.pos += width
	switch width {
	case 1:
		return int(p[0]), nil
	case 2:
		return int(binary.BigEndian.Uint16(p)), nil
	}
	return int(binary.BigEndian.Uint32(p)), nil
}

func (c *msgpackChecker) lengthThenSkip(width, extra int) error {
	n, err := c.length(width)
	if err != nil {
		return err
	}
	return c.skip(n + extra)
}

func (c *msgpackChecker) skip(n int) error {
	if n < 0 || len(c.b)-c.pos < n {
		return fmt.Errorf("%w: truncated", errMsgpack)
	}
	c.pos += n
	return nil
}
