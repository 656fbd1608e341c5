package etcdapi

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/natsraft/natsraft/actor"
	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/raft"
	"github.com/natsraft/natsraft/server"
)

// grpcErrors maps the service layer's errors to etcd's, byte for byte:
// clients (clientv3, kube-apiserver) match on the texts. The first match
// wins.
var grpcErrors = []struct {
	err  error
	grpc error
}{
	{kv.ErrCompacted, rpctypes.ErrGRPCCompacted},
	{kv.ErrFutureRev, rpctypes.ErrGRPCFutureRev},
	{kv.ErrEmptyKey, rpctypes.ErrGRPCEmptyKey},
	{kv.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
	{kv.ErrValueProvided, rpctypes.ErrGRPCValueProvided},
	{kv.ErrLeaseProvided, rpctypes.ErrGRPCLeaseProvided},
	{kv.ErrTooManyOps, rpctypes.ErrGRPCTooManyOps},
	{kv.ErrDuplicateKey, rpctypes.ErrGRPCDuplicateKey},
	// etcd has no key or value limit of its own: both are bounded by the
	// request size.
	{kv.ErrRequestTooLarge, rpctypes.ErrGRPCRequestTooLarge},
	{kv.ErrKeyTooLarge, rpctypes.ErrGRPCRequestTooLarge},
	{kv.ErrValueTooLarge, rpctypes.ErrGRPCRequestTooLarge},
	{kv.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{kv.ErrLeaseExists, rpctypes.ErrGRPCLeaseExist},
	{kv.ErrLeaseTTLTooLarge, rpctypes.ErrGRPCLeaseTTLTooLarge},
	{server.ErrNoLeader, rpctypes.ErrGRPCNoLeader},
	{raft.ErrProposalDropped, rpctypes.ErrGRPCNoLeader},
	{server.ErrLeaderChanged, rpctypes.ErrGRPCLeaderChanged},
	{server.ErrLeaderLost, rpctypes.ErrGRPCTimeoutDueToLeaderFail},
	{actor.ErrBusy, rpctypes.ErrGRPCRequestTooManyRequests},
	{actor.ErrStopped, rpctypes.ErrGRPCStopped},
	{server.ErrStopped, rpctypes.ErrGRPCStopped},
	{errMemberNotFound, rpctypes.ErrGRPCMemberNotFound},
	{errMemberNotLearner, rpctypes.ErrGRPCMemberNotLearner},
	{errMemberExists, rpctypes.ErrGRPCMemberExist},
	{errBadURLs, rpctypes.ErrGRPCMemberBadURLs},
}

// Errors of the Cluster service, mapped above.
var (
	errMemberNotFound   = errors.New("etcdapi: member not found")
	errMemberNotLearner = errors.New("etcdapi: member is not a learner")
	errMemberExists     = errors.New("etcdapi: member exists")
	errBadURLs          = errors.New("etcdapi: bad peer URLs")
)

// toGRPC returns the etcd error for err. The caller's own cancellation or
// deadline becomes etcd's request canceled / timed out errors; anything
// unknown is codes.Unknown with its text (etcd's togRPCError does the same).
func toGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, m := range grpcErrors {
		if errors.Is(err, m.err) {
			return m.grpc
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return rpctypes.ErrGRPCCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return rpctypes.ErrGRPCTimeout
	case errors.Is(err, kv.ErrInvalidRequest), errors.Is(err, raft.ErrConfChangeInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, raft.ErrConfChangePending):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}
