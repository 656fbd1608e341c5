package server

import (
	"encoding/binary"
	"errors"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/kv"
)

// A normal log entry written by this package is laid out as:
//
//	+---------+--------------+-------------+---------------------------+
//	| version | proposer ID  | sequence    | kv.Request (msgpack)      |
//	| 1 byte  | 8 bytes (BE) | 8 bytes (BE)| rest                      |
//	+---------+--------------+-------------+---------------------------+
//
// The proposer and its sequence number let the proposing node match the
// applied entry to the caller waiting for it. Empty entries are the
// leader's no-ops (§5.4.2) and carry nothing.
const (
	entryVersion     = 1
	entryHeaderBytes = 17
)

var errBadEntry = errors.New("server: malformed log entry")

// proposalRef identifies a proposal across the cluster.
type proposalRef struct {
	proposer uint64
	seq      uint64
}

func encodeEntry(ref proposalRef, req *kv.Request) ([]byte, error) {
	buf := make([]byte, entryHeaderBytes, entryHeaderBytes+64)
	buf[0] = entryVersion
	binary.BigEndian.PutUint64(buf[1:], ref.proposer)
	binary.BigEndian.PutUint64(buf[9:], ref.seq)
	body, err := msgpack.Marshal(req)
	if err != nil {
		return nil, err
	}
	return append(buf, body...), nil
}

func decodeEntry(data []byte) (proposalRef, *kv.Request, error) {
	if len(data) < entryHeaderBytes || data[0] != entryVersion {
		return proposalRef{}, nil, errBadEntry
	}
	ref := proposalRef{
		proposer: binary.BigEndian.Uint64(data[1:]),
		seq:      binary.BigEndian.Uint64(data[9:]),
	}
	req := new(kv.Request)
	if err := msgpack.Unmarshal(data[entryHeaderBytes:], req); err != nil {
		return ref, nil, errors.Join(errBadEntry, err)
	}
	return ref, req, nil
}
