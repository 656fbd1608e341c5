package kv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble"
)

// Snapshot stream, for Raft snapshots:
//
//	"natsraftkv" version(1 byte)
//	{ uvarint(len key) key uvarint(len value) value }   every key under the prefix, prefix byte dropped
//	uvarint(0) uvarint(count) crc32c(4 bytes, big endian, of all bytes before it)
//
// The stream holds what an iterator sees, so range deletions do not travel
// and the restored keys are byte-identical to the source's.
const (
	snapshotMagic   = "natsraftkv"
	snapshotVersion = 1
	// snapshotFieldMaxBytes bounds one key or value read from a stream.
	snapshotFieldMaxBytes = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot writes the committed state to w from a Pebble snapshot of its own.
func (s *Store) Snapshot(w io.Writer) error {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	return s.SnapshotFrom(snap, w)
}

// SnapshotFrom writes the state held by r, a Pebble snapshot the caller took
// so that it can read its applied index from the same snapshot.
func (s *Store) SnapshotFrom(r pebble.Reader, w io.Writer) error {
	lower, upper := s.keys.all()
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	sw := &snapshotWriter{w: bufio.NewWriter(w)}
	sw.write([]byte(snapshotMagic), []byte{snapshotVersion})
	count := uint64(0)
	for ok := it.First(); ok && sw.err == nil; ok = it.Next() {
		sw.field(it.Key()[1:])
		sw.field(it.Value())
		count++
	}
	sw.uvarint(0)
	sw.uvarint(count)
	sw.write(binary.BigEndian.AppendUint32(nil, sw.crc))
	if err := errors.Join(closeIter(it), sw.err); err != nil {
		return err
	}
	return sw.w.Flush()
}

// Restore replaces the whole state with a snapshot stream, in b (an indexed
// batch the caller commits before calling Committed, as for Apply). Watchers
// survive: they catch up from the restored history, or end with a
// *CompactedError if it no longer reaches them. On error b holds a partial
// state and must be dropped (then call Discard).
func (s *Store) Restore(r io.Reader, b *pebble.Batch) error {
	if !b.Indexed() {
		panic("kv: Restore needs an indexed batch")
	}
	s.beginApplying()
	lower, upper := s.keys.all()
	if err := b.DeleteRange(lower, upper, nil); err != nil {
		return err
	}
	if err := s.readSnapshot(&snapshotReader{r: bufio.NewReader(r)}, b); err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	clear(s.pending)
	s.pending, s.restored = s.pending[:0], true
	return s.reload(b)
}

func (s *Store) readSnapshot(sr *snapshotReader, b *pebble.Batch) error {
	head := sr.bytes(nil, len(snapshotMagic)+1)
	if sr.err == nil && (string(head[:len(snapshotMagic)]) != snapshotMagic || head[len(snapshotMagic)] != snapshotVersion) {
		return fmt.Errorf("bad header %q", head)
	}
	count := uint64(0)
	for sr.err == nil {
		sr.key = sr.field(append(sr.key[:0], s.keys.prefix))
		if len(sr.key) <= 1 {
			break
		}
		sr.val = sr.field(sr.val[:0])
		if sr.err == nil {
			sr.err = b.Set(sr.key, sr.val, nil)
		}
		count++
	}
	wantCount, sum := sr.uvarint(), sr.crc
	crc := sr.bytes(nil, 4)
	switch {
	case sr.err != nil:
		return sr.err
	case wantCount != count:
		return fmt.Errorf("%d entries, trailer says %d", count, wantCount)
	case binary.BigEndian.Uint32(crc) != sum:
		return errors.New("checksum mismatch")
	}
	return nil
}

// snapshotWriter writes and checksums, keeping the first error.
type snapshotWriter struct {
	w   *bufio.Writer
	crc uint32
	err error
}

func (sw *snapshotWriter) write(parts ...[]byte) {
	for _, p := range parts {
		if sw.err != nil {
			return
		}
		sw.crc = crc32.Update(sw.crc, castagnoli, p)
		_, sw.err = sw.w.Write(p)
	}
}

func (sw *snapshotWriter) uvarint(v uint64) {
	var buf [binary.MaxVarintLen64]byte
	sw.write(buf[:binary.PutUvarint(buf[:], v)])
}

func (sw *snapshotWriter) field(p []byte) {
	sw.uvarint(uint64(len(p)))
	sw.write(p)
}

// snapshotReader reads and checksums, keeping the first error.
type snapshotReader struct {
	r        *bufio.Reader
	crc      uint32
	err      error
	one      [1]byte
	key, val []byte // reused field buffers
}

func (sr *snapshotReader) ReadByte() (byte, error) {
	c, err := sr.r.ReadByte()
	if err == nil {
		sr.one[0] = c
		sr.crc = crc32.Update(sr.crc, castagnoli, sr.one[:])
	}
	return c, err
}

func (sr *snapshotReader) uvarint() uint64 {
	if sr.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(sr)
	sr.err = noEOF(err)
	return v
}

// bytes appends n bytes read from the stream to dst.
func (sr *snapshotReader) bytes(dst []byte, n int) []byte {
	if sr.err != nil {
		return dst
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	_, err := io.ReadFull(sr.r, dst[start:])
	if sr.err = noEOF(err); sr.err == nil {
		sr.crc = crc32.Update(sr.crc, castagnoli, dst[start:])
	}
	return dst
}

func (sr *snapshotReader) field(buf []byte) []byte {
	n := sr.uvarint()
	if n > snapshotFieldMaxBytes {
		sr.err = fmt.Errorf("field of %d bytes", n)
	}
	return sr.bytes(buf, int(n))
}

// noEOF turns a clean end of stream into an unexpected one: a snapshot ends
// with its trailer, never between fields.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
