package server

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/cockroachdb/pebble"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/raft"
)

// membersKey holds the applied membership with names, in the server's own
// key namespace 's' (store/ owns 'r', kv/ owns 'k').
var membersKey = []byte("s/members")

// Member is one member of the cluster as of the applied log.
type Member struct {
	ID        uint64 `msgpack:"id" json:"id,string"`
	Name      string `msgpack:"name" json:"name"`
	IsLearner bool   `msgpack:"learner" json:"learner"`
}

// MemberContext is what a conf change carries in its Context: the
// member's name, so every node can show it.
type MemberContext struct {
	Name string `msgpack:"name"`
}

// memberContext is the Context of a conf change naming the member.
func memberContext(name string) ([]byte, error) { return msgpack.Marshal(MemberContext{Name: name}) }

// memberTable is the applied membership (the one snapshots carry), by ID.
type memberTable struct {
	byID map[uint64]Member
}

func newMemberTable() *memberTable { return &memberTable{byID: map[uint64]Member{}} }

func loadMembers(r pebble.Reader) (*memberTable, error) {
	t := newMemberTable()
	val, closer, err := r.Get(membersKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return t, nil
	} else if err != nil {
		return nil, err
	}
	defer closer.Close()
	return t, t.decode(val)
}

func (t *memberTable) decode(val []byte) error {
	var list []Member
	if err := msgpack.Unmarshal(val, &list); err != nil {
		return fmt.Errorf("server: members record is corrupt: %w", err)
	}
	for _, m := range list {
		t.byID[m.ID] = m
	}
	return nil
}

func (t *memberTable) encode() ([]byte, error) { return msgpack.Marshal(t.list()) }

func (t *memberTable) save(w pebble.Writer) error {
	val, err := t.encode()
	if err != nil {
		return err
	}
	return w.Set(membersKey, val, nil)
}

// apply records a committed change; names come from the change's context
// or, for the bootstrap voters, from the table written at bootstrap.
func (t *memberTable) apply(cc raft.ConfChange) {
	if cc.Type == raft.ConfChangeRemove {
		delete(t.byID, cc.NodeID)
		return
	}
	m, ok := t.byID[cc.NodeID]
	if !ok {
		m = Member{ID: cc.NodeID}
	}
	var mc MemberContext
	if len(cc.Context) > 0 && msgpack.Unmarshal(cc.Context, &mc) == nil && mc.Name != "" {
		m.Name = mc.Name
	}
	if m.Name == "" {
		m.Name = strconv.FormatUint(cc.NodeID, 16)
	}
	m.IsLearner = cc.Type == raft.ConfChangeAddLearner
	t.byID[cc.NodeID] = m
}

// list returns the members sorted by name.
func (t *memberTable) list() []Member {
	out := make([]Member, 0, len(t.byID))
	for _, m := range t.byID {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func (t *memberTable) ids() []uint64 {
	ids := make([]uint64, 0, len(t.byID))
	for id := range t.byID {
		ids = append(ids, id)
	}
	return ids
}

// confState is the membership as the Raft core sees it.
func (t *memberTable) confState() raft.ConfState {
	var cs raft.ConfState
	for _, m := range t.list() {
		if m.IsLearner {
			cs.Learners = append(cs.Learners, m.ID)
		} else {
			cs.Voters = append(cs.Voters, m.ID)
		}
	}
	return cs
}

// name is the member's name, or its ID in hex if unknown (or "none").
func (t *memberTable) name(id uint64) string {
	if id == raft.None {
		return "none"
	}
	if m, ok := t.byID[id]; ok {
		return m.Name
	}
	return strconv.FormatUint(id, 16)
}
