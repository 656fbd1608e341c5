package kv

import (
	"bytes"
	"encoding/binary"
)

// Key spaces under the prefix byte (see the layout table in doc.go).
const (
	spaceHistory = 'H' // prefix 'H' esc(key) 0x00 0x01 ^main  -> record
	spaceLatest  = 'L' // prefix 'L' key                       -> record
	spaceMeta    = 'M' // prefix 'M' name                      -> value
	spaceRevs    = 'R' // prefix 'R' main sub                  -> type, key
)

// Escaping for history keys: 0x00 becomes 0x00 0xFF and the key ends with
// 0x00 0x01. The encoding keeps byte order and no encoded key is a prefix of
// another, so (key, revision) pairs sort by key, then by revision.
const (
	escByte     = 0x00
	escEscaped  = 0xFF
	escTerm     = 0x01
	escTermPast = 0x02 // esc(key) 0x00 0x02 sorts after every version of key
)

var metaCompact = []byte("compact")

// keys builds the Pebble keys of one Store. Every method appends to dst.
type keys struct {
	prefix byte
}

func (k keys) space(dst []byte, space byte) []byte {
	return append(dst, k.prefix, space)
}

// spaceEnd is the exclusive upper bound of a key space.
func (k keys) spaceEnd(dst []byte, space byte) []byte {
	return append(dst, k.prefix, space+1)
}

// all returns the bounds of every key of the Store.
func (k keys) all() (lower, upper []byte) {
	return []byte{k.prefix}, []byte{k.prefix + 1}
}

func (k keys) latest(dst, key []byte) []byte {
	return append(k.space(dst, spaceLatest), key...)
}

func (k keys) meta(dst, name []byte) []byte {
	return append(k.space(dst, spaceMeta), name...)
}

// history is the key of key's version at revision main.
func (k keys) history(dst, key []byte, main int64) []byte {
	dst = escapeKey(k.space(dst, spaceHistory), key, escTerm)
	return binary.BigEndian.AppendUint64(dst, ^uint64(main))
}

// historyBound is the bound below every version of key (term escTerm) or
// above every version of key (term escTermPast).
func (k keys) historyBound(dst, key []byte, term byte) []byte {
	return escapeKey(k.space(dst, spaceHistory), key, term)
}

func (k keys) revision(dst []byte, main, sub int64) []byte {
	dst = k.space(dst, spaceRevs)
	dst = binary.BigEndian.AppendUint64(dst, uint64(main))
	return binary.BigEndian.AppendUint64(dst, uint64(sub))
}

func escapeKey(dst, key []byte, term byte) []byte {
	for {
		i := bytes.IndexByte(key, escByte)
		if i < 0 {
			break
		}
		dst = append(dst, key[:i+1]...)
		dst = append(dst, escEscaped)
		key = key[i+1:]
	}
	dst = append(dst, key...)
	return append(dst, escByte, term)
}

// splitHistory splits a history key into the escaped key (with its
// terminator, for comparing two history keys' user keys) and the revision.
func splitHistory(hk []byte) (escaped []byte, main int64) {
	n := len(hk) - 8
	return hk[2:n], int64(^binary.BigEndian.Uint64(hk[n:]))
}

// unescapeKey returns the user key of an escaped key (as split above).
func unescapeKey(dst, escaped []byte) []byte {
	escaped = escaped[:len(escaped)-2] // the terminator
	for {
		i := bytes.IndexByte(escaped, escByte)
		if i < 0 {
			return append(dst, escaped...)
		}
		dst = append(dst, escaped[:i+1]...)
		escaped = escaped[i+2:]
	}
}

func splitRevision(rk []byte) (main, sub int64) {
	return int64(binary.BigEndian.Uint64(rk[2:10])), int64(binary.BigEndian.Uint64(rk[10:18]))
}

// span is a normalized key range [start, end); end == nil means unbounded.
// An empty span (end <= start) has empty set.
type span struct {
	start, end []byte
	empty      bool
	single     bool // start alone (end is start+"\x00")
}

// makeSpan applies etcd's range_end rules: empty means the key alone,
// "\x00" means every key >= key.
func makeSpan(key, rangeEnd []byte) span {
	switch {
	case len(rangeEnd) == 0:
		return span{start: key, end: append(append(make([]byte, 0, len(key)+1), key...), 0), single: true}
	case len(rangeEnd) == 1 && rangeEnd[0] == 0:
		return span{start: key}
	}
	return span{start: key, end: rangeEnd, empty: bytes.Compare(rangeEnd, key) <= 0}
}

func (s span) contains(key []byte) bool {
	return !s.empty && bytes.Compare(key, s.start) >= 0 && (s.end == nil || bytes.Compare(key, s.end) < 0)
}

func (k keys) latestBounds(s span) (lower, upper []byte) {
	lower = k.latest(nil, s.start)
	if s.end == nil {
		return lower, k.spaceEnd(nil, spaceLatest)
	}
	return lower, k.latest(nil, s.end)
}

func (k keys) historyBounds(s span) (lower, upper []byte) {
	lower = k.historyBound(nil, s.start, escTerm)
	if s.end == nil {
		return lower, k.spaceEnd(nil, spaceHistory)
	}
	return lower, k.historyBound(nil, s.end, escTerm)
}
