package etcdapi

import (
	"context"
	"errors"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/natsraft/natsraft/kv"
)

// leaseServer is etcd's Lease service over the node's leases (server/lease.go:
// expiry is decided by the leader and revoked through the log; a keep-alive
// is a renewal through the log, from any node).
type leaseServer struct {
	pb.UnimplementedLeaseServer
	s *Server
}

func (l *leaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	ctx, cancel := l.s.requestContext(ctx)
	defer cancel()
	resp, err := l.s.node.LeaseGrant(ctx, r.ID, r.TTL)
	if err != nil {
		return nil, toGRPC(err)
	}
	return &pb.LeaseGrantResponse{Header: l.s.kvHeader(resp.Header), ID: resp.ID, TTL: resp.TTL}, nil
}

func (l *leaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	ctx, cancel := l.s.requestContext(ctx)
	defer cancel()
	resp, err := l.s.node.LeaseRevoke(ctx, r.ID)
	if err != nil {
		return nil, toGRPC(err)
	}
	return &pb.LeaseRevokeResponse{Header: l.s.kvHeader(resp.Header)}, nil
}

// LeaseKeepAlive renews a lease per request. The header is taken before
// the renewal, as etcd does, so its revision is never above the point the
// renewal took effect. A lease that does not exist answers TTL 0.
func (l *leaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp := &pb.LeaseKeepAliveResponse{Header: l.s.header(0), ID: req.ID}
		ttl, err := l.renew(stream.Context(), req.ID)
		if errors.Is(err, kv.ErrLeaseNotFound) {
			ttl, err = 0, nil
		}
		if err != nil {
			return toGRPC(err)
		}
		resp.TTL = ttl
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func (l *leaseServer) renew(ctx context.Context, id int64) (int64, error) {
	ctx, cancel := l.s.requestContext(ctx)
	defer cancel()
	return l.s.node.LeaseRenew(ctx, id)
}

// LeaseTimeToLive answers TTL -1 for a lease that does not exist, as etcd.
func (l *leaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	st, err := l.s.node.LeaseTimeToLive(ctx, r.ID, r.Keys)
	if errors.Is(err, kv.ErrLeaseNotFound) {
		return &pb.LeaseTimeToLiveResponse{Header: l.s.header(0), ID: r.ID, TTL: -1}, nil
	}
	if err != nil {
		return nil, toGRPC(err)
	}
	return &pb.LeaseTimeToLiveResponse{Header: l.s.header(0), ID: st.ID, TTL: st.TTL,
		GrantedTTL: st.GrantedTTL, Keys: st.Keys}, nil
}

func (l *leaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	leases, err := l.s.node.Leases(ctx)
	if err != nil {
		return nil, toGRPC(err)
	}
	out := &pb.LeaseLeasesResponse{Header: l.s.header(0), Leases: make([]*pb.LeaseStatus, len(leases))}
	for i, le := range leases {
		out.Leases[i] = &pb.LeaseStatus{ID: le.ID}
	}
	return out, nil
}
