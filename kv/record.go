package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Values stored in the 'L' and 'H' spaces:
//
//	put:       0x01 uvarint(create) uvarint(mod) uvarint(version) varint(lease) value
//	tombstone: 0x02
//
// and in the 'R' space: one EventType byte, then the key.
const (
	recordPut       = 0x01
	recordTombstone = 0x02
)

var (
	errCorrupt      = errors.New("kv: corrupt record")
	tombstoneRecord = []byte{recordTombstone}
)

func appendRecord(dst []byte, kv *KeyValue) []byte {
	dst = append(dst, recordPut)
	dst = binary.AppendUvarint(dst, uint64(kv.CreateRevision))
	dst = binary.AppendUvarint(dst, uint64(kv.ModRevision))
	dst = binary.AppendUvarint(dst, uint64(kv.Version))
	dst = binary.AppendVarint(dst, kv.Lease)
	return append(dst, kv.Value...)
}

func isTombstone(rec []byte) bool {
	return len(rec) == 1 && rec[0] == recordTombstone
}

// decodeMeta reads a put record's fields and returns its value (aliasing rec).
func decodeMeta(key, rec []byte) (keyMeta, []byte, error) {
	if len(rec) == 0 || rec[0] != recordPut {
		return keyMeta{}, nil, fmt.Errorf("%w: kind of %q", errCorrupt, key)
	}
	var fields [3]uint64
	pos := 1
	for i := range fields {
		v, n := binary.Uvarint(rec[pos:])
		if n <= 0 {
			return keyMeta{}, nil, fmt.Errorf("%w: fields of %q", errCorrupt, key)
		}
		fields[i], pos = v, pos+n
	}
	lease, n := binary.Varint(rec[pos:])
	if n <= 0 {
		return keyMeta{}, nil, fmt.Errorf("%w: lease of %q", errCorrupt, key)
	}
	meta := keyMeta{int64(fields[0]), int64(fields[1]), int64(fields[2]), lease}
	return meta, rec[pos+n:], nil
}

// decodeRecord fills kv from a put record, copying key and (when withValue)
// the value into one new allocation, so kv outlives the iterator.
func decodeRecord(kv *KeyValue, key, rec []byte, withValue bool) error {
	meta, value, err := decodeMeta(key, rec)
	if err != nil {
		return err
	}
	if !withValue {
		value = nil
	}
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	*kv = KeyValue{
		Key:            buf[:len(key):len(key)],
		CreateRevision: meta.createRevision,
		ModRevision:    meta.modRevision,
		Version:        meta.version,
		Lease:          meta.lease,
	}
	if withValue {
		kv.Value = buf[len(key):]
	}
	return nil
}

func appendRevRecord(dst []byte, typ EventType, key []byte) []byte {
	return append(append(dst, byte(typ)), key...)
}

func decodeRevRecord(rec []byte) (EventType, []byte, error) {
	if len(rec) < 2 || rec[0] > byte(EventDelete) {
		return 0, nil, fmt.Errorf("%w: revision entry %x", errCorrupt, rec)
	}
	return EventType(rec[0]), rec[1:], nil
}
