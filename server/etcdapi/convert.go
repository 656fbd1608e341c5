package etcdapi

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/natsraft/natsraft/kv"
)

// Conversions between etcd's generated messages and kv's mirrors of them.
// Enum values are the same on both sides (kv/types.go), so they convert
// by value; kv validates them.

func rangeFromPB(r *pb.RangeRequest) *kv.RangeRequest {
	return &kv.RangeRequest{
		Key: r.Key, RangeEnd: r.RangeEnd, Limit: r.Limit, Revision: r.Revision,
		SortOrder: kv.SortOrder(r.SortOrder), SortTarget: kv.SortTarget(r.SortTarget),
		Serializable: r.Serializable, KeysOnly: r.KeysOnly, CountOnly: r.CountOnly,
		MinModRevision: r.MinModRevision, MaxModRevision: r.MaxModRevision,
		MinCreateRevision: r.MinCreateRevision, MaxCreateRevision: r.MaxCreateRevision,
	}
}

func putFromPB(r *pb.PutRequest) *kv.PutRequest {
	return &kv.PutRequest{Key: r.Key, Value: r.Value, Lease: r.Lease, PrevKv: r.PrevKv,
		IgnoreValue: r.IgnoreValue, IgnoreLease: r.IgnoreLease}
}

func deleteFromPB(r *pb.DeleteRangeRequest) *kv.DeleteRangeRequest {
	return &kv.DeleteRangeRequest{Key: r.Key, RangeEnd: r.RangeEnd, PrevKv: r.PrevKv}
}

func txnFromPB(r *pb.TxnRequest) *kv.TxnRequest {
	t := &kv.TxnRequest{Compare: make([]kv.Compare, len(r.Compare))}
	for i, c := range r.Compare {
		t.Compare[i] = compareFromPB(c)
	}
	t.Success, t.Failure = opsFromPB(r.Success), opsFromPB(r.Failure)
	return t
}

func compareFromPB(c *pb.Compare) kv.Compare {
	out := kv.Compare{Result: kv.CompareResult(c.Result), Target: kv.CompareTarget(c.Target),
		Key: c.Key, RangeEnd: c.RangeEnd}
	switch u := c.TargetUnion.(type) {
	case *pb.Compare_Version:
		out.Version = u.Version
	case *pb.Compare_CreateRevision:
		out.CreateRevision = u.CreateRevision
	case *pb.Compare_ModRevision:
		out.ModRevision = u.ModRevision
	case *pb.Compare_Value:
		out.Value = u.Value
	case *pb.Compare_Lease:
		out.Lease = u.Lease
	}
	return out
}

// opsFromPB converts a Txn branch. An op with no request set becomes an
// empty op, which kv refuses as invalid (etcd refuses it too).
func opsFromPB(ops []*pb.RequestOp) []kv.RequestOp {
	if len(ops) == 0 {
		return nil
	}
	out := make([]kv.RequestOp, len(ops))
	for i, op := range ops {
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			out[i].Range = rangeFromPB(r.RequestRange)
		case *pb.RequestOp_RequestPut:
			out[i].Put = putFromPB(r.RequestPut)
		case *pb.RequestOp_RequestDeleteRange:
			out[i].DeleteRange = deleteFromPB(r.RequestDeleteRange)
		case *pb.RequestOp_RequestTxn:
			out[i].Txn = txnFromPB(r.RequestTxn)
		}
	}
	return out
}

func kvToPB(kv *kv.KeyValue) *mvccpb.KeyValue {
	if kv == nil {
		return nil
	}
	return &mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision,
		Version: kv.Version, Value: kv.Value, Lease: kv.Lease}
}

func kvsToPB(kvs []kv.KeyValue) []*mvccpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*mvccpb.KeyValue, len(kvs))
	for i := range kvs {
		out[i] = kvToPB(&kvs[i])
	}
	return out
}

// header fills in the cluster fields of a kv header.
func (s *Server) kvHeader(h kv.ResponseHeader) *pb.ResponseHeader {
	return s.header(h.Revision)
}

func (s *Server) rangeToPB(r *kv.RangeResponse) *pb.RangeResponse {
	return &pb.RangeResponse{Header: s.kvHeader(r.Header), Kvs: kvsToPB(r.Kvs), More: r.More, Count: r.Count}
}

func (s *Server) putToPB(r *kv.PutResponse) *pb.PutResponse {
	return &pb.PutResponse{Header: s.kvHeader(r.Header), PrevKv: kvToPB(r.PrevKv)}
}

func (s *Server) deleteToPB(r *kv.DeleteRangeResponse) *pb.DeleteRangeResponse {
	return &pb.DeleteRangeResponse{Header: s.kvHeader(r.Header), Deleted: r.Deleted, PrevKvs: kvsToPB(r.PrevKvs)}
}

func (s *Server) txnToPB(r *kv.TxnResponse) *pb.TxnResponse {
	out := &pb.TxnResponse{Header: s.kvHeader(r.Header), Succeeded: r.Succeeded,
		Responses: make([]*pb.ResponseOp, len(r.Responses))}
	for i, op := range r.Responses {
		switch {
		case op.Range != nil:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: s.rangeToPB(op.Range)}}
		case op.Put != nil:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: s.putToPB(op.Put)}}
		case op.DeleteRange != nil:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: s.deleteToPB(op.DeleteRange)}}
		case op.Txn != nil:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: s.txnToPB(op.Txn)}}
		}
	}
	return out
}

func eventsToPB(evs []kv.Event) []*mvccpb.Event {
	if len(evs) == 0 {
		return nil
	}
	out := make([]*mvccpb.Event, len(evs))
	for i := range evs {
		out[i] = &mvccpb.Event{Type: mvccpb.Event_EventType(evs[i].Type), Kv: kvToPB(&evs[i].Kv), PrevKv: kvToPB(evs[i].PrevKv)}
	}
	return out
}
