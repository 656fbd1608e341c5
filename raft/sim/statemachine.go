package sim

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	"github.com/natsraft/natsraft/raft"
)

// command is a client write carried in an EntryNormal: put Key = Value.
// Client and Seq deduplicate it (a duplicated MsgProp appends it twice);
// OpID ties the entry to the operation in the history.
type command struct {
	OpID   uint64
	Client uint32
	Seq    uint64
	Key    string
	Value  string
}

// marshal encodes c as opID, client, seq (big-endian), then the key's
// length (one byte), the key and the value.
func (c command) marshal() []byte {
	b := make([]byte, 0, 21+len(c.Key)+len(c.Value))
	b = binary.BigEndian.AppendUint64(b, c.OpID)
	b = binary.BigEndian.AppendUint32(b, c.Client)
	b = binary.BigEndian.AppendUint64(b, c.Seq)
	b = append(b, byte(len(c.Key)))
	b = append(b, c.Key...)
	return append(b, c.Value...)
}

func unmarshalCommand(b []byte) (command, error) {
	if len(b) < 21 || len(b) < 21+int(b[20]) {
		return command{}, fmt.Errorf("sim: malformed command of %d bytes", len(b))
	}
	keyEnd := 21 + int(b[20])
	return command{
		OpID:   binary.BigEndian.Uint64(b),
		Client: binary.BigEndian.Uint32(b[8:]),
		Seq:    binary.BigEndian.Uint64(b[12:]),
		Key:    string(b[21:keyEnd]),
		Value:  string(b[keyEnd:]),
	}, nil
}

// stateMachine is the replicated map. Digest chains every applied entry,
// so two state machines with the same applied index and digest applied
// the same sequence of entries (state machine safety in one number).
type stateMachine struct {
	Applied uint64
	Digest  uint64
	KV      map[string]string
	// LastSeq is each client's latest applied sequence number.
	LastSeq map[uint32]uint64
	// Conf is the membership in force at Applied: the committed conf
	// changes applied in order, what a snapshot at Applied must carry.
	Conf raft.ConfState
}

func newStateMachine() *stateMachine {
	return &stateMachine{KV: map[string]string{}, LastSeq: map[uint32]uint64{}}
}

// applyResult says what applying one entry did.
type applyResult struct {
	put     *command // a write that took effect
	confCC  *raft.ConfChange
	ignored bool // a duplicate write
}

// apply applies e, which must be the entry at Applied+1.
func (sm *stateMachine) apply(e raft.Entry) (applyResult, error) {
	if e.Index != sm.Applied+1 {
		return applyResult{}, fmt.Errorf("applied index %d, then entry %d: not in order or not exactly once", sm.Applied, e.Index)
	}
	sm.Applied = e.Index
	sm.Digest = chainDigest(sm.Digest, e)
	var res applyResult
	switch {
	case e.Type == raft.EntryConfChange:
		cc, err := raft.UnmarshalConfChange(e.Data)
		if err != nil {
			return res, fmt.Errorf("entry %d: %v", e.Index, err)
		}
		sm.Conf = sm.Conf.Apply(cc)
		res.confCC = &cc
	case len(e.Data) > 0:
		cmd, err := unmarshalCommand(e.Data)
		if err != nil {
			return res, fmt.Errorf("entry %d: %v", e.Index, err)
		}
		if cmd.Seq <= sm.LastSeq[cmd.Client] {
			res.ignored = true
			return res, nil
		}
		sm.LastSeq[cmd.Client] = cmd.Seq
		sm.KV[cmd.Key] = cmd.Value
		res.put = &cmd
	}
	return res, nil
}

// chainDigest folds entry e into digest d (FNV-1a, deterministic across
// processes, unlike hash/maphash).
func chainDigest(d uint64, e raft.Entry) uint64 {
	h := fnv.New64a()
	var buf [25]byte
	binary.BigEndian.PutUint64(buf[0:], d)
	binary.BigEndian.PutUint64(buf[8:], e.Index)
	binary.BigEndian.PutUint64(buf[16:], e.Term)
	buf[24] = byte(e.Type)
	h.Write(buf[:])
	h.Write(e.Data)
	return h.Sum64()
}

// entryHash identifies an entry's content (type and data).
func entryHash(e raft.Entry) uint64 {
	h := fnv.New64a()
	h.Write([]byte{byte(e.Type)})
	h.Write(e.Data)
	return h.Sum64()
}

// encode is the snapshot data: the whole state machine (JSON sorts map
// keys, so equal states encode equally).
func (sm *stateMachine) encode() []byte {
	b, err := json.Marshal(sm)
	if err != nil {
		panic(err)
	}
	return b
}

func decodeStateMachine(b []byte) (*stateMachine, error) {
	sm := newStateMachine()
	if err := json.Unmarshal(b, sm); err != nil {
		return nil, fmt.Errorf("sim: snapshot data: %v", err)
	}
	return sm, nil
}
