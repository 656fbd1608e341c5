package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/natsraft/natsraft/raft"
)

// Namespaces: the first byte of every key in the Pebble database.
const (
	// raftPrefix holds Raft metadata and the log; see the table in doc.go.
	raftPrefix byte = 'r'
	// KVPrefix is the first byte of every key the state machine (kv/) owns.
	// The store never reads or writes any key outside raftPrefix; the node
	// and state machine never write a key under it.
	KVPrefix byte = 'k'
)

// Second key byte under raftPrefix.
const (
	identitySuffix  byte = 'i'
	hardStateSuffix byte = 'h'
	appliedSuffix   byte = 'a'
	truncatedSuffix byte = 't'
	logEndSuffix    byte = 'e'
	snapMetaSuffix  byte = 's'
	logSuffix       byte = 'l'
)

// formatVersion is the version of the key layout and value encodings this
// code reads and writes. A store of any other version is refused. Version
// 2 stopped storing snapshot data (the state machine is the snapshot).
const formatVersion uint32 = 2

var (
	identityKey  = []byte{raftPrefix, identitySuffix}
	hardStateKey = []byte{raftPrefix, hardStateSuffix}
	appliedKey   = []byte{raftPrefix, appliedSuffix}
	truncatedKey = []byte{raftPrefix, truncatedSuffix}
	logEndKey    = []byte{raftPrefix, logEndSuffix}
	snapMetaKey  = []byte{raftPrefix, snapMetaSuffix}
	// logSpanStart and logSpanEnd bound every log key: [start, end).
	logSpanStart = []byte{raftPrefix, logSuffix}
	logSpanEnd   = []byte{raftPrefix, logSuffix + 1}
)

const logKeyBytes = 2 + 8 // prefix, suffix, big-endian index

// appendLogKey appends the key of log entry index to dst. Big-endian keeps
// Pebble's byte order equal to index order.
func appendLogKey(dst []byte, index uint64) []byte {
	dst = append(dst, raftPrefix, logSuffix)
	return binary.BigEndian.AppendUint64(dst, index)
}

// logKeyIndex returns the index of a log key; false if key is not one.
func logKeyIndex(key []byte) (uint64, bool) {
	if len(key) != logKeyBytes || key[0] != raftPrefix || key[1] != logSuffix {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[2:]), true
}

// Every value starts with a crc32c (Castagnoli) checksum of the key bytes
// followed by the value bytes after the checksum. Covering the key binds a
// value to its place: an entry copied under another index fails as surely
// as a flipped bit.
const crcBytes = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(key, body []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, key), castagnoli, body)
}

// seal writes into v[:crcBytes] the checksum of key and v[crcBytes:].
// REQUIRES: len(v) >= crcBytes.
func seal(key, v []byte) {
	binary.BigEndian.PutUint32(v, checksum(key, v[crcBytes:]))
}

// unseal verifies v against key and returns the body after the checksum.
// what names the value in the error ("log entry 7").
func unseal(what string, key, v []byte) ([]byte, error) {
	if len(v) < crcBytes {
		return nil, corruptf(what, key, "value of %d bytes is shorter than its checksum", len(v))
	}
	stored := binary.BigEndian.Uint32(v)
	if computed := checksum(key, v[crcBytes:]); stored != computed {
		return nil, corruptf(what, key, "checksum mismatch: stored %#08x, computed %#08x", stored, computed)
	}
	return v[crcBytes:], nil
}

// corruptf returns an ErrCorrupt naming the damaged value and its key.
func corruptf(what string, key []byte, format string, args ...any) error {
	return fmt.Errorf("%w: %s (key %x): %s", ErrCorrupt, what, key, fmt.Sprintf(format, args...))
}

// sealed returns a value holding body behind its checksum under key.
func sealed(key, body []byte) []byte {
	v := make([]byte, crcBytes+len(body))
	copy(v[crcBytes:], body)
	seal(key, v)
	return v
}

// Log entry value: crc32c | term (8) | type (1) | data.
const entryHeaderBytes = crcBytes + 8 + 1

// encodeEntry writes e into v, which must be entryHeaderBytes+len(e.Data)
// long, and seals it under key.
func encodeEntry(key, v []byte, e *raft.Entry) {
	binary.BigEndian.PutUint64(v[crcBytes:], e.Term)
	v[crcBytes+8] = byte(e.Type)
	copy(v[entryHeaderBytes:], e.Data)
	seal(key, v)
}

// decodeEntry verifies and decodes the log entry stored under key. Data
// aliases v; the caller copies it if v is not its own.
func decodeEntry(key, v []byte) (raft.Entry, error) {
	index, ok := logKeyIndex(key)
	if !ok {
		return raft.Entry{}, corruptf("log key", key, "malformed log key")
	}
	what := fmt.Sprintf("log entry %d", index)
	body, err := unseal(what, key, v)
	if err != nil {
		return raft.Entry{}, err
	}
	if len(body) < entryHeaderBytes-crcBytes {
		return raft.Entry{}, corruptf(what, key, "value of %d bytes is shorter than an entry header", len(v))
	}
	e := raft.Entry{
		Index: index,
		Term:  binary.BigEndian.Uint64(body),
		Type:  raft.EntryType(body[8]),
		Data:  body[9:],
	}
	if e.Type > raft.EntryConfChange {
		return raft.Entry{}, corruptf(what, key, "unknown entry type %d", e.Type)
	}
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e, nil
}

// Fixed-size values, each crc32c then big-endian fields:
//
//	hard state: term (8) | vote (8) | commit (8)
//	applied:    index (8)
//	identity:   format version (4) | node ID (8) | cluster ID (rest)
const (
	hardStateValueBytes = crcBytes + 24
	appliedValueBytes   = crcBytes + 8
)

// putHardState encodes hs into v, which is hardStateValueBytes long.
func putHardState(v []byte, hs raft.HardState) {
	binary.BigEndian.PutUint64(v[crcBytes:], hs.Term)
	binary.BigEndian.PutUint64(v[crcBytes+8:], hs.Vote)
	binary.BigEndian.PutUint64(v[crcBytes+16:], hs.Commit)
	seal(hardStateKey, v)
}

func encodeHardState(hs raft.HardState) []byte {
	v := make([]byte, hardStateValueBytes)
	putHardState(v, hs)
	return v
}

func decodeHardState(v []byte) (raft.HardState, error) {
	body, err := unsealFixed("hard state", hardStateKey, v, hardStateValueBytes-crcBytes)
	if err != nil {
		return raft.HardState{}, err
	}
	return raft.HardState{
		Term:   binary.BigEndian.Uint64(body),
		Vote:   binary.BigEndian.Uint64(body[8:]),
		Commit: binary.BigEndian.Uint64(body[16:]),
	}, nil
}

// putApplied encodes index into v, which is appliedValueBytes long.
func putApplied(v []byte, index uint64) {
	binary.BigEndian.PutUint64(v[crcBytes:], index)
	seal(appliedKey, v)
}

func encodeApplied(index uint64) []byte {
	v := make([]byte, appliedValueBytes)
	putApplied(v, index)
	return v
}

func decodeApplied(v []byte) (uint64, error) {
	body, err := unsealFixed("applied index", appliedKey, v, appliedValueBytes-crcBytes)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(body), nil
}

// Truncated state and log end: crc32c | index (8) | term (8).
const entryIDValueBytes = crcBytes + 16

// putEntryID encodes id into v, which is entryIDValueBytes long, sealed
// under key.
func putEntryID(key, v []byte, id entryID) {
	binary.BigEndian.PutUint64(v[crcBytes:], id.index)
	binary.BigEndian.PutUint64(v[crcBytes+8:], id.term)
	seal(key, v)
}

func encodeEntryID(key []byte, id entryID) []byte {
	v := make([]byte, entryIDValueBytes)
	putEntryID(key, v, id)
	return v
}

// entryIDDecoder returns a decoder for the entry ID stored under key.
func entryIDDecoder(what string, key []byte) func(v []byte) (entryID, error) {
	return func(v []byte) (entryID, error) {
		body, err := unsealFixed(what, key, v, entryIDValueBytes-crcBytes)
		if err != nil {
			return entryID{}, err
		}
		return entryID{index: binary.BigEndian.Uint64(body), term: binary.BigEndian.Uint64(body[8:])}, nil
	}
}

func encodeIdentity(id Identity) []byte {
	body := binary.BigEndian.AppendUint32(nil, formatVersion)
	body = binary.BigEndian.AppendUint64(body, id.NodeID)
	return sealed(identityKey, append(body, id.ClusterID...))
}

// decodeIdentity returns the identity and the format version it was
// written with.
func decodeIdentity(v []byte) (Identity, uint32, error) {
	body, err := unseal("identity", identityKey, v)
	if err != nil {
		return Identity{}, 0, err
	}
	if len(body) < 12 {
		return Identity{}, 0, corruptf("identity", identityKey, "value of %d bytes is too short", len(v))
	}
	id := Identity{NodeID: binary.BigEndian.Uint64(body[4:]), ClusterID: string(body[12:])}
	return id, binary.BigEndian.Uint32(body), nil
}

// unsealFixed is unseal for values whose body has exactly n bytes.
func unsealFixed(what string, key, v []byte, n int) ([]byte, error) {
	body, err := unseal(what, key, v)
	if err == nil && len(body) != n {
		err = corruptf(what, key, "body of %d bytes, want %d", len(body), n)
	}
	return body, err
}
