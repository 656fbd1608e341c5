package server

import (
	"encoding/binary"
	"errors"

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
	return kv.AppendRequest(buf, req)
}

func decodeEntry(data []byte) (proposalRef, *kv.Request, error) {
	if len(data) < entryHeaderBytes || data[0] != entryVersion {
		return proposalRef{}, nil, errBadEntry
	}
	ref := proposalRef{
		proposer: binary.BigEndian.Uint64(data[1:]),
		seq:      binary.BigEndian.Uint64(data[9:]),
	}
	req, err := kv.UnmarshalRequest(data[entryHeaderBytes:])
	if err != nil {
		return ref, nil, errors.Join(errBadEntry, err)
	}
	return ref, req, nil
}
