package store

import (
	"encoding/binary"

	"github.com/natsraft/natsraft/raft"
)

// The snapshot metadata is the log's base: the index and term of the entry
// before the first stored one (equal to the truncated state) and the
// membership in force at that entry. The snapshot's data is not stored: it
// is the state machine's keys themselves, which cover at least that index
// (see the package documentation).

// cloneMetadata returns md with its own copy of the membership.
func cloneMetadata(md raft.SnapshotMetadata) raft.SnapshotMetadata {
	md.ConfState = raft.ConfState{
		Voters:   append([]uint64(nil), md.ConfState.Voters...),
		Learners: append([]uint64(nil), md.ConfState.Learners...),
	}
	return md
}

// Snapshot metadata value: crc32c | index (8) | term (8) | voter count (4) |
// voters (8 each) | learner count (4) | learners (8 each).
func encodeSnapshotMeta(md raft.SnapshotMetadata) []byte {
	body := binary.BigEndian.AppendUint64(nil, md.Index)
	body = binary.BigEndian.AppendUint64(body, md.Term)
	body = appendIDs(body, md.ConfState.Voters)
	body = appendIDs(body, md.ConfState.Learners)
	return sealed(snapMetaKey, body)
}

func appendIDs(dst []byte, ids []uint64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(ids)))
	for _, id := range ids {
		dst = binary.BigEndian.AppendUint64(dst, id)
	}
	return dst
}

func decodeSnapshotMeta(v []byte) (raft.SnapshotMetadata, error) {
	const what = "snapshot metadata"
	body, err := unseal(what, snapMetaKey, v)
	if err != nil {
		return raft.SnapshotMetadata{}, err
	}
	if len(body) < 16 {
		return raft.SnapshotMetadata{}, corruptf(what, snapMetaKey, "body of %d bytes is too short", len(body))
	}
	var md raft.SnapshotMetadata
	md.Index = binary.BigEndian.Uint64(body)
	md.Term = binary.BigEndian.Uint64(body[8:])
	rest := body[16:]
	var ok bool
	if md.ConfState.Voters, rest, ok = decodeIDs(rest); !ok {
		return raft.SnapshotMetadata{}, corruptf(what, snapMetaKey, "truncated voter list")
	}
	if md.ConfState.Learners, rest, ok = decodeIDs(rest); !ok || len(rest) != 0 {
		return raft.SnapshotMetadata{}, corruptf(what, snapMetaKey, "malformed learner list")
	}
	return md, nil
}

func decodeIDs(b []byte) (ids []uint64, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := uint64(binary.BigEndian.Uint32(b))
	b = b[4:]
	if uint64(len(b)) < n*8 {
		return nil, nil, false
	}
	for i := uint64(0); i < n; i++ {
		ids = append(ids, binary.BigEndian.Uint64(b[i*8:]))
	}
	return ids, b[n*8:], true
}
