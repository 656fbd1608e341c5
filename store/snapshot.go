package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
	"github.com/natsraft/natsraft/raft"
)

// snapshotChunkBytes is the size of every snapshot chunk but the last. A
// bounded value keeps Pebble's blocks and our checksums over reasonable
// spans, and lets a reader verify a snapshot a chunk at a time.
const snapshotChunkBytes = 1 << 20

// snapshotMeta is the stored description of the latest snapshot.
// Invariant: chunks == ceil(dataBytes / snapshotChunkBytes).
type snapshotMeta struct {
	raft.SnapshotMetadata
	dataBytes uint64
	chunks    uint32
}

func newSnapshotMeta(md raft.SnapshotMetadata, dataBytes int) snapshotMeta {
	chunks := (dataBytes + snapshotChunkBytes - 1) / snapshotChunkBytes
	return snapshotMeta{SnapshotMetadata: cloneMetadata(md), dataBytes: uint64(dataBytes), chunks: uint32(chunks)}
}

func cloneMetadata(md raft.SnapshotMetadata) raft.SnapshotMetadata {
	md.ConfState = raft.ConfState{
		Voters:   append([]uint64(nil), md.ConfState.Voters...),
		Learners: append([]uint64(nil), md.ConfState.Learners...),
	}
	return md
}

// Snapshot metadata value: crc32c | index (8) | term (8) | data bytes (8) |
// chunks (4) | voter count (4) | voters (8 each) | learner count (4) |
// learners (8 each).
func encodeSnapshotMeta(m snapshotMeta) []byte {
	body := binary.BigEndian.AppendUint64(nil, m.Index)
	body = binary.BigEndian.AppendUint64(body, m.Term)
	body = binary.BigEndian.AppendUint64(body, m.dataBytes)
	body = binary.BigEndian.AppendUint32(body, m.chunks)
	body = appendIDs(body, m.ConfState.Voters)
	body = appendIDs(body, m.ConfState.Learners)
	return sealed(snapMetaKey, body)
}

func appendIDs(dst []byte, ids []uint64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(ids)))
	for _, id := range ids {
		dst = binary.BigEndian.AppendUint64(dst, id)
	}
	return dst
}

func decodeSnapshotMeta(v []byte) (snapshotMeta, error) {
	const what = "snapshot metadata"
	body, err := unseal(what, snapMetaKey, v)
	if err != nil {
		return snapshotMeta{}, err
	}
	if len(body) < 28 {
		return snapshotMeta{}, corruptf(what, snapMetaKey, "body of %d bytes is too short", len(body))
	}
	var m snapshotMeta
	m.Index = binary.BigEndian.Uint64(body)
	m.Term = binary.BigEndian.Uint64(body[8:])
	m.dataBytes = binary.BigEndian.Uint64(body[16:])
	m.chunks = binary.BigEndian.Uint32(body[24:])
	rest := body[28:]
	var ok bool
	if m.ConfState.Voters, rest, ok = decodeIDs(rest); !ok {
		return snapshotMeta{}, corruptf(what, snapMetaKey, "truncated voter list")
	}
	if m.ConfState.Learners, rest, ok = decodeIDs(rest); !ok || len(rest) != 0 {
		return snapshotMeta{}, corruptf(what, snapMetaKey, "malformed learner list")
	}
	if want := newSnapshotMeta(m.SnapshotMetadata, int(m.dataBytes)).chunks; m.chunks != want {
		return snapshotMeta{}, corruptf(what, snapMetaKey, "%d chunks for %d bytes, want %d", m.chunks, m.dataBytes, want)
	}
	return m, nil
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

// putSnapshot adds to pb the metadata m and the chunks of data, replacing
// every chunk of the previous snapshot. key is scratch space.
// REQUIRES: m == newSnapshotMeta(m.SnapshotMetadata, len(data)).
func putSnapshot(pb *pebble.Batch, key []byte, m snapshotMeta, data []byte) []byte {
	mustPebble(pb.DeleteRange(chunkSpanStart, chunkSpanEnd, nil))
	for n := uint32(0); n < m.chunks; n++ {
		chunk := data[int(n)*snapshotChunkBytes : min(len(data), int(n+1)*snapshotChunkBytes)]
		key = appendChunkKey(key[:0], n)
		op := pb.SetDeferred(len(key), chunkHeaderBytes+len(chunk))
		copy(op.Key, key)
		binary.BigEndian.PutUint64(op.Value[crcBytes:], m.Index)
		copy(op.Value[chunkHeaderBytes:], chunk)
		seal(op.Key, op.Value)
		mustPebble(op.Finish())
	}
	mustPebble(pb.Set(snapMetaKey, encodeSnapshotMeta(m), nil))
	return key
}

// readSnapshotChunks verifies every chunk of the snapshot m in r and calls
// fn with each chunk's data, in order. The data is valid only during fn.
func readSnapshotChunks(r pebble.Reader, m snapshotMeta, fn func(n uint32, data []byte)) (err error) {
	iter, err := r.NewIter(&pebble.IterOptions{LowerBound: chunkSpanStart, UpperBound: chunkSpanEnd})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, iter.Close()) }()
	var n uint32
	var total uint64
	for valid := iter.First(); valid; valid = iter.Next() {
		data, err := checkChunk(iter.Key(), iter.Value(), m, n)
		if err != nil {
			return err
		}
		fn(n, data)
		n++
		total += uint64(len(data))
	}
	if err := iter.Error(); err != nil {
		return pebbleReadError(fmt.Sprintf("snapshot chunk %d", n), err)
	}
	if n != m.chunks || total != m.dataBytes {
		key := appendChunkKey(nil, n)
		return corruptf(fmt.Sprintf("snapshot chunk %d", n), key,
			"missing: found %d chunks of %d bytes, metadata says %d of %d", n, total, m.chunks, m.dataBytes)
	}
	return nil
}

// checkChunk verifies that key/v is chunk n of the snapshot m and returns
// its data.
func checkChunk(key, v []byte, m snapshotMeta, n uint32) ([]byte, error) {
	what := fmt.Sprintf("snapshot chunk %d", n)
	if want := appendChunkKey(nil, n); string(key) != string(want) {
		return nil, corruptf(what, want, "found key %x in its place", key)
	}
	body, err := unseal(what, key, v)
	if err != nil {
		return nil, err
	}
	if len(body) < 8 {
		return nil, corruptf(what, key, "value of %d bytes is too short", len(v))
	}
	if idx := binary.BigEndian.Uint64(body); idx != m.Index {
		return nil, corruptf(what, key, "belongs to snapshot %d, not %d", idx, m.Index)
	}
	data := body[8:]
	if n+1 < m.chunks && len(data) != snapshotChunkBytes {
		return nil, corruptf(what, key, "%d bytes in a middle chunk", len(data))
	}
	return data, nil
}

// readSnapshot returns the snapshot m with its data, verified.
func readSnapshot(r pebble.Reader, m snapshotMeta) (raft.Snapshot, error) {
	snap := raft.Snapshot{Metadata: cloneMetadata(m.SnapshotMetadata)}
	if m.dataBytes == 0 {
		return snap, nil
	}
	if m.dataBytes > uint64(m.chunks)*snapshotChunkBytes {
		return raft.Snapshot{}, corruptf("snapshot metadata", snapMetaKey, "%d bytes in %d chunks", m.dataBytes, m.chunks)
	}
	snap.Data = make([]byte, 0, m.dataBytes)
	err := readSnapshotChunks(r, m, func(_ uint32, data []byte) {
		snap.Data = append(snap.Data, data...)
	})
	if err != nil {
		return raft.Snapshot{}, err
	}
	return snap, nil
}
