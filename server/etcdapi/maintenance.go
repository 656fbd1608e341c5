package etcdapi

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// defaultQuotaBytes is etcd's default backend quota (2 GiB), reported by
// Status; natsraft enforces no quota.
const defaultQuotaBytes = 2 << 30

type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

// Status reports this member as etcd does; Version is the configured etcd
// version (see Options.Version), and DbSize the Pebble store's disk usage.
func (m *maintenanceServer) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	st := m.s.node.Status()
	size := m.s.node.DBSizeBytes()
	resp := &pb.StatusResponse{
		Header:           m.s.header(0),
		Version:          m.s.opts.Version,
		DbSize:           size,
		DbSizeInUse:      size,
		Leader:           st.LeaderID,
		RaftIndex:        st.CommitIndex,
		RaftAppliedIndex: st.AppliedIndex,
		RaftTerm:         st.Term,
		IsLearner:        st.Role == "learner",
		StorageVersion:   storageVersion(m.s.opts.Version),
		DbSizeQuota:      defaultQuotaBytes,
		DowngradeInfo:    &pb.DowngradeInfo{},
	}
	if st.LeaderID == 0 {
		resp.Errors = append(resp.Errors, "etcdserver: no leader")
	}
	return resp, nil
}

// storageVersion is the major.minor.0 of an etcd version, as etcd reports it.
func storageVersion(v string) string {
	dots := 0
	for i := range len(v) {
		if v[i] == '.' {
			if dots++; dots == 2 {
				return v[:i] + ".0"
			}
		}
	}
	return v
}

// Alarm: natsraft raises no alarm (no space quota, no corruption check by
// hash), so the list is always empty and activating or deactivating one
// changes nothing.
func (m *maintenanceServer) Alarm(context.Context, *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	return &pb.AlarmResponse{Header: m.s.header(0)}, nil
}

// Defragment has nothing to do: Pebble compacts in the background.
func (m *maintenanceServer) Defragment(context.Context, *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	return &pb.DefragmentResponse{Header: m.s.header(0)}, nil
}

// MoveLeader hands leadership to another voter. As in etcd, only the
// leader accepts it; the answer comes once the target leads.
func (m *maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	if st := m.s.node.Status(); st.LeaderID != st.ID {
		return nil, rpctypes.ErrGRPCNotLeader
	}
	target, ok := m.s.member(r.TargetID)
	if !ok || target.IsLearner {
		return nil, rpctypes.ErrGRPCBadLeaderTransferee
	}
	if err := m.s.node.TransferLeadership(ctx, target.Name); err != nil {
		return nil, toGRPC(err)
	}
	ctx, cancel := context.WithTimeout(ctx, membershipWait)
	defer cancel()
	poll := time.NewTicker(membershipPoll)
	defer poll.Stop()
	for m.s.node.Status().LeaderID != r.TargetID {
		select {
		case <-ctx.Done():
			return nil, rpctypes.ErrGRPCTimeoutDueToLeaderFail
		case <-poll.C:
		}
	}
	return &pb.MoveLeaderResponse{Header: m.s.header(0)}, nil
}
