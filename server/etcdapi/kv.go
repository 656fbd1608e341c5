package etcdapi

import (
	"bytes"
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/natsraft/natsraft/kv"
)

// kvServer is etcd's KV service over the node's service layer: reads go
// through Node.Range (linearizable unless serializable), writes through
// Node.Write (the Raft log).
type kvServer struct {
	pb.UnimplementedKVServer
	s *Server
}

func (k *kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	ctx, cancel := k.s.requestContext(ctx)
	defer cancel()
	resp, err := k.s.node.Range(ctx, rangeFromPB(r), r.Serializable)
	if err != nil {
		return nil, toGRPC(err)
	}
	return k.s.rangeToPB(resp), nil
}

// checkRange is etcd's checkRangeRequest: its errors come before kv's.
func checkRange(r *pb.RangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

// Stream chunking, as etcd 3.7 does it: the first chunk holds
// rangeStreamFirstChunk keys; the next chunk's size doubles while a chunk
// is below half the target bytes and halves above twice the target.
const (
	rangeStreamFirstChunk  = 10
	rangeStreamTargetBytes = kv.DefaultMaxRequestBytes
)

// RangeStream is etcd 3.7's streamed Range: the result in chunks, all read
// at the revision of the first one (pinned), whose concatenation (proto
// merge) is Range's answer. Header, More and Count come on the last chunk.
func (k *kvServer) RangeStream(r *pb.RangeRequest, stream pb.KV_RangeStreamServer) error {
	if err := checkRangeStream(r); err != nil {
		return err
	}
	ctx, cancel := k.s.requestContext(stream.Context())
	defer cancel()
	if !r.Serializable {
		if err := k.s.node.ReadBarrier(ctx); err != nil {
			return toGRPC(err)
		}
	}
	if r.CountOnly {
		resp, err := k.s.node.Range(ctx, rangeFromPB(r), true)
		if err != nil {
			return toGRPC(err)
		}
		out := &pb.RangeResponse{Header: k.s.header(resp.Header.Revision), Count: resp.Count}
		return stream.Send(&pb.RangeStreamResponse{RangeResponse: out})
	}
	return k.streamChunks(ctx, rangeFromPB(r), stream)
}

func (k *kvServer) streamChunks(ctx context.Context, req *kv.RangeRequest, stream pb.KV_RangeStreamServer) error {
	totalLimit := req.Limit
	chunk := int64(rangeStreamFirstChunk)
	var sent, total, rev int64
	for {
		req.Limit = chunk
		if totalLimit > 0 {
			req.Limit = min(chunk, totalLimit-sent)
		}
		resp, err := k.s.node.Range(ctx, req, true) // after the barrier above
		if err != nil {
			return toGRPC(err)
		}
		if rev == 0 {
			// The first chunk pins the revision and counts the whole range.
			rev, total = resp.Header.Revision, resp.Count
			if req.Revision == 0 {
				req.Revision = rev
			}
		}
		sent += int64(len(resp.Kvs))
		out := &pb.RangeResponse{Kvs: kvsToPB(resp.Kvs)}
		done := !resp.More || sent == totalLimit
		if done {
			out.Header, out.More, out.Count = k.s.header(rev), resp.More, total
		}
		if err := stream.Send(&pb.RangeStreamResponse{RangeResponse: out}); err != nil {
			return err
		}
		if done {
			return nil
		}
		req.Key = append(bytes.Clone(resp.Kvs[len(resp.Kvs)-1].Key), 0)
		chunk = nextChunk(chunk, proto.Size(out))
	}
}

func nextChunk(last int64, sizeBytes int) int64 {
	switch {
	case sizeBytes < rangeStreamTargetBytes/2:
		last *= 2
	case sizeBytes > rangeStreamTargetBytes*2:
		last /= 2
	}
	return max(last, 1)
}

// checkRangeStream is etcd's checkRangeStreamRequest.
func checkRangeStream(r *pb.RangeRequest) error {
	if err := checkRange(r); err != nil {
		return err
	}
	if r.SortOrder != pb.RangeRequest_NONE && !(r.SortTarget == pb.RangeRequest_KEY && r.SortOrder == pb.RangeRequest_ASCEND) {
		return status.Errorf(codes.Unimplemented, "RangeStream does not support custom sort orders")
	}
	if r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0 {
		return status.Errorf(codes.Unimplemented, "RangeStream does not support revision filters")
	}
	return nil
}

func (k *kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	resp, err := k.s.write(ctx, &kv.Request{Put: putFromPB(r)})
	if err != nil {
		return nil, err
	}
	return k.s.putToPB(resp.Put), nil
}

func (k *kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	resp, err := k.s.write(ctx, &kv.Request{DeleteRange: deleteFromPB(r)})
	if err != nil {
		return nil, err
	}
	return k.s.deleteToPB(resp.DeleteRange), nil
}

// Txn goes through the log even when it only reads: its compares and
// reads are then at one point of the log, as in etcd (which serves a
// read-only txn from a linearizable read instead; same answer).
func (k *kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := checkTxnOps(r); err != nil {
		return nil, err
	}
	resp, err := k.s.write(ctx, &kv.Request{Txn: txnFromPB(r)})
	if err != nil {
		return nil, err
	}
	return k.s.txnToPB(resp.Txn), nil
}

// checkTxnOps gives etcd's answers to what kv would call merely invalid:
// an empty op (etcd: key not found) and a bad sort option.
func checkTxnOps(r *pb.TxnRequest) error {
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			var err error
			switch u := op.GetRequest().(type) {
			case *pb.RequestOp_RequestRange:
				err = checkRange(u.RequestRange)
			case *pb.RequestOp_RequestTxn:
				err = checkTxnOps(u.RequestTxn)
			case *pb.RequestOp_RequestPut, *pb.RequestOp_RequestDeleteRange:
			default:
				err = rpctypes.ErrGRPCKeyNotFound
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Compact is always physical: the compaction is done in the apply batch,
// so the answer comes after it, as etcd's does with physical set.
func (k *kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	resp, err := k.s.write(ctx, &kv.Request{Compaction: &kv.CompactionRequest{Revision: r.Revision, Physical: r.Physical}})
	if err != nil {
		return nil, err
	}
	return &pb.CompactionResponse{Header: k.s.kvHeader(resp.Compaction.Header)}, nil
}

// write replicates req and maps its error.
func (s *Server) write(ctx context.Context, req *kv.Request) (*kv.Response, error) {
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	resp, err := s.node.Write(ctx, req)
	if err != nil {
		return nil, toGRPC(err)
	}
	return resp, nil
}
