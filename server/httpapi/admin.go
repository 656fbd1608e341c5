package httpapi

import (
	"context"
	"net/http"
	"regexp"
	"slices"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

type compactRequest struct {
	Revision int64 `json:"revision"`
	Physical bool  `json:"physical"`
}

type compactResponse struct {
	withHeader
	CompactRevision int64 `json:"compact_revision"`
}

// compact: POST /v1/compact.
func (a *api) compact(ctx context.Context, r *http.Request, _ *query) (reply, error) {
	var in compactRequest
	if err := decodeJSON(r, &in); err != nil {
		return reply{}, err
	}
	if in.Revision <= 0 {
		return reply{}, badRequest("revision must be positive, not %d", in.Revision)
	}
	req := &kv.Request{Compaction: &kv.CompactionRequest{Revision: in.Revision, Physical: in.Physical}}
	resp, err := write(ctx, a.n, req, func(r *kv.Response) *kv.CompactionResponse { return r.Compaction })
	if err != nil {
		return reply{}, err
	}
	return reply{revision: resp.Header.Revision, body: &compactResponse{CompactRevision: in.Revision}}, nil
}

type membersResponse struct {
	withHeader
	Leader  string          `json:"leader"`
	Members []server.Member `json:"members"`
}

// members: GET /v1/members, the membership this node has applied.
func (a *api) members(context.Context, *http.Request, *query) (reply, error) {
	st := a.n.Status()
	list := st.Members
	if list == nil {
		list = []server.Member{}
	}
	return reply{revision: st.Revision, body: &membersResponse{Leader: st.Leader, Members: list}}, nil
}

type memberChange struct {
	Action string `json:"action"`
	Name   string `json:"name"`
}

type memberChangeResponse struct {
	withHeader
	memberChange
}

// memberAction is one action of POST /v1/members: check tests the name
// against the applied membership (learner is nil for a non-member), so a
// change that cannot apply is refused with a clear message.
type memberAction struct {
	run   func(n *server.Node, ctx context.Context, name string) error
	check func(learner *bool) string
}

var memberActions = map[string]memberAction{
	"add-learner": {(*server.Node).AddLearner, func(l *bool) string {
		return unless(l == nil, "is already a member")
	}},
	"promote": {(*server.Node).PromoteMember, func(l *bool) string {
		return unless(l != nil && *l, "is not a learner")
	}},
	"remove": {(*server.Node).RemoveMember, func(l *bool) string {
		return unless(l != nil, "is not a member")
	}},
	"transfer-leader": {(*server.Node).TransferLeadership, func(l *bool) string {
		return unless(l != nil && !*l, "is not a voting member")
	}},
}

func unless(ok bool, problem string) string {
	if ok {
		return ""
	}
	return problem
}

// memberName is the shape of a member name this API accepts.
var memberName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// changeMembers: POST /v1/members. 202: the change was accepted by the
// leader; it applies shortly (GET /v1/members shows it).
func (a *api) changeMembers(ctx context.Context, r *http.Request, _ *query) (reply, error) {
	var in memberChange
	if err := decodeJSON(r, &in); err != nil {
		return reply{}, err
	}
	act, ok := memberActions[in.Action]
	switch {
	case !ok:
		return reply{}, badRequest("action %q: want one of %s", in.Action, keysOf(memberActions))
	case !memberName.MatchString(in.Name):
		return reply{}, badRequest("member name %q: want 1-64 letters, digits, '.', '_' or '-'", in.Name)
	}
	st := a.n.Status()
	if problem := act.check(learnerState(st.Members, in.Name)); problem != "" {
		return reply{}, errorf(http.StatusConflict, server.CodeMembership, "%s %s", in.Name, problem)
	}
	if err := act.run(a.n, ctx, in.Name); err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusAccepted, revision: st.Revision, body: &memberChangeResponse{memberChange: in}}, nil
}

// learnerState is nil when name is not a member, else whether it is a learner.
func learnerState(members []server.Member, name string) *bool {
	i := slices.IndexFunc(members, func(m server.Member) bool { return m.Name == name })
	if i < 0 {
		return nil
	}
	return &members[i].IsLearner
}
