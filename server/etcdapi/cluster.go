package etcdapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/natsraft/natsraft/server"
)

// Membership maps onto natsraft's, where a member is known by its name (its
// Raft ID is server.NodeID(name)) and traffic goes over NATS, so members
// have no peer URLs: MemberList shows none, and MemberAdd takes the new
// member's name from the host of its first peer URL (etcdctl member add n4
// --peer-urls=http://n4:2380 adds the member named n4; clients insist on
// an http, https or unix URL).
//
// Client URLs are each member's own business (its --etcd-addr): each etcd
// API answers on NATS with its URLs, and MemberList asks every member.

const (
	// urlLookupTimeout bounds the wait for a member's client URLs; a member
	// that does not answer (down, or no etcd API) is listed without any.
	urlLookupTimeout = 500 * time.Millisecond
	// membershipWait bounds the wait for a membership change to be applied.
	membershipWait = 10 * time.Second
	// membershipPoll is how often the applied membership is checked
	// during that wait (the node has no notification for it).
	membershipPoll = 10 * time.Millisecond
)

// urlSubject is where member id's etcd API answers with its client URLs.
// It lies in the API namespace that node and client NATS roles may use.
func urlSubject(cluster string, id uint64) string {
	return "natsraft." + cluster + ".api.etcd.urls." + strconv.FormatUint(id, 10)
}

// urlDirectory serves this member's client URLs and looks up the others'.
type urlDirectory struct {
	nc      *nats.Conn
	cluster string
	self    uint64
	urls    []string
	sub     *nats.Subscription
}

func newURLDirectory(nc *nats.Conn, cluster string, self uint64, urls []string) (*urlDirectory, error) {
	d := &urlDirectory{nc: nc, cluster: cluster, self: self, urls: urls}
	body, err := json.Marshal(urls)
	if err != nil {
		return nil, err
	}
	d.sub, err = nc.Subscribe(urlSubject(cluster, self), func(m *nats.Msg) { _ = m.Respond(body) })
	if err != nil {
		return nil, fmt.Errorf("etcdapi: serving client URLs on NATS: %w", err)
	}
	return d, nil
}

func (d *urlDirectory) close() { _ = d.sub.Unsubscribe() }

// lookup returns the client URLs of each member, asking them in parallel.
func (d *urlDirectory) lookup(ctx context.Context, ids []uint64) map[uint64][]string {
	ctx, cancel := context.WithTimeout(ctx, urlLookupTimeout)
	defer cancel()
	out := make(map[uint64][]string, len(ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range ids {
		if id == d.self {
			mu.Lock()
			out[id] = d.urls
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			msg, err := d.nc.RequestWithContext(ctx, urlSubject(d.cluster, id), nil)
			var urls []string
			if err != nil || json.Unmarshal(msg.Data, &urls) != nil {
				return
			}
			mu.Lock()
			out[id] = urls
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

// members converts the applied membership, with every member's client URLs.
func (c *clusterServer) members(ctx context.Context) []*pb.Member {
	list := c.s.node.Members()
	ids := make([]uint64, len(list))
	for i, m := range list {
		ids[i] = m.ID
	}
	urls := c.s.urls.lookup(ctx, ids)
	out := make([]*pb.Member, len(list))
	for i, m := range list {
		out[i] = &pb.Member{ID: m.ID, Name: m.Name, ClientURLs: urls[m.ID], IsLearner: m.IsLearner}
	}
	return out
}

func (c *clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	if r.Linearizable {
		if err := c.s.node.ReadBarrier(ctx); err != nil {
			return nil, toGRPC(err)
		}
	}
	return &pb.MemberListResponse{Header: c.s.header(0), Members: c.members(ctx)}, nil
}

func (c *clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	name, err := nameFromPeerURLs(r.PeerURLs)
	if err != nil {
		return nil, toGRPC(err)
	}
	if _, ok := c.s.member(server.NodeID(name)); ok {
		return nil, toGRPC(errMemberExists)
	}
	if r.IsLearner {
		err = c.s.node.AddLearner(ctx, name)
	} else {
		err = c.s.node.PromoteMember(ctx, name) // adds a voter
	}
	if err != nil {
		return nil, toGRPC(err)
	}
	id := server.NodeID(name)
	if err := c.s.awaitMember(ctx, id, func(m server.Member, ok bool) bool { return ok }); err != nil {
		return nil, err
	}
	return &pb.MemberAddResponse{Header: c.s.header(0), Members: c.members(ctx),
		Member: &pb.Member{ID: id, Name: name, PeerURLs: r.PeerURLs, IsLearner: r.IsLearner}}, nil
}

// nameFromPeerURLs takes a member name from the host of the first URL.
func nameFromPeerURLs(urls []string) (string, error) {
	if len(urls) == 0 {
		return "", errBadURLs
	}
	u, err := url.Parse(urls[0])
	if err != nil || u.Hostname() == "" {
		return "", errBadURLs
	}
	return u.Hostname(), nil
}

func (c *clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	m, ok := c.s.member(r.ID)
	if !ok {
		return nil, toGRPC(errMemberNotFound)
	}
	if err := c.s.node.RemoveMember(ctx, m.Name); err != nil {
		return nil, toGRPC(err)
	}
	if err := c.s.awaitMember(ctx, r.ID, func(_ server.Member, ok bool) bool { return !ok }); err != nil {
		return nil, err
	}
	return &pb.MemberRemoveResponse{Header: c.s.header(0), Members: c.members(ctx)}, nil
}

func (c *clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	m, ok := c.s.member(r.ID)
	switch {
	case !ok:
		return nil, toGRPC(errMemberNotFound)
	case !m.IsLearner:
		return nil, toGRPC(errMemberNotLearner)
	}
	if err := c.s.node.PromoteMember(ctx, m.Name); err != nil {
		return nil, toGRPC(err)
	}
	if err := c.s.awaitMember(ctx, r.ID, func(m server.Member, ok bool) bool { return ok && !m.IsLearner }); err != nil {
		return nil, err
	}
	return &pb.MemberPromoteResponse{Header: c.s.header(0), Members: c.members(ctx)}, nil
}

// MemberUpdate changes peer URLs, which natsraft members do not have.
func (c *clusterServer) MemberUpdate(context.Context, *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	return nil, status.Error(codes.Unimplemented, "natsraft: members have no peer URLs to update (traffic goes over NATS)")
}

// member finds a member of the applied membership by ID.
func (s *Server) member(id uint64) (server.Member, bool) {
	for _, m := range s.node.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return server.Member{}, false
}

// awaitMember waits until the applied membership satisfies done for id:
// etcd answers a membership change once it is applied.
func (s *Server) awaitMember(ctx context.Context, id uint64, done func(server.Member, bool) bool) error {
	ctx, cancel := context.WithTimeout(ctx, membershipWait)
	defer cancel()
	poll := time.NewTicker(membershipPoll)
	defer poll.Stop()
	for {
		if m, ok := s.member(id); done(m, ok) {
			return nil
		}
		select {
		case <-ctx.Done():
			return toGRPC(ctx.Err())
		case <-poll.C:
		}
	}
}
