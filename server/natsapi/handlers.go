package natsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// The endpoint handlers: decode, call the service layer, wrap the answer.

func (a *api) rangeKeys(c *call) (reply, error) {
	req, err := decodeBody(c, (*RangeRequestJSON).ToKV)
	if err != nil {
		return reply{}, err
	}
	resp, err := a.node.Range(c.ctx, req, req.Serializable)
	if err != nil {
		return reply{}, err
	}
	return reply{revision: resp.Header.Revision, value: resp}, nil
}

func (a *api) put(c *call) (reply, error) {
	req, err := decodeBody(c, (*PutRequestJSON).ToKV)
	if err != nil {
		return reply{}, err
	}
	resp, err := a.write(c.ctx, &kv.Request{Put: req})
	if err != nil {
		return reply{}, err
	}
	return reply{revision: resp.Put.Header.Revision, value: resp.Put}, nil
}

func (a *api) deleteRange(c *call) (reply, error) {
	req, err := decodeBody(c, (*DeleteRequestJSON).ToKV)
	if err != nil {
		return reply{}, err
	}
	resp, err := a.write(c.ctx, &kv.Request{DeleteRange: req})
	if err != nil {
		return reply{}, err
	}
	return reply{revision: resp.DeleteRange.Header.Revision, value: resp.DeleteRange}, nil
}

func (a *api) txn(c *call) (reply, error) {
	req, err := decodeBody(c, (*TxnRequestJSON).ToKV)
	if err != nil {
		return reply{}, err
	}
	resp, err := a.write(c.ctx, &kv.Request{Txn: req})
	if err != nil {
		return reply{}, err
	}
	return reply{revision: resp.Txn.Header.Revision, value: resp.Txn}, nil
}

func (a *api) compact(c *call) (reply, error) {
	req, err := decodeBody(c, (*CompactRequestJSON).ToKV)
	if err != nil {
		return reply{}, err
	}
	resp, err := a.write(c.ctx, &kv.Request{Compaction: req})
	if err != nil {
		return reply{}, err
	}
	return reply{revision: resp.Compaction.Header.Revision, value: resp.Compaction}, nil
}

// jsonForm is the JSON body of a reply's value: kv's responses have JSON
// forms of their own (jsonresp.go); any other value is its own.
func jsonForm(v any) any {
	switch v := v.(type) {
	case *kv.RangeResponse:
		return RangeResponseToJSON(v)
	case *kv.PutResponse:
		return PutResponseToJSON(v)
	case *kv.DeleteRangeResponse:
		return DeleteResponseToJSON(v)
	case *kv.TxnResponse:
		return TxnResponseToJSON(v)
	case *kv.CompactionResponse:
		return CompactResponseJSON{Header: HeaderJSON(v.Header)}
	}
	return v
}

// write replicates req; a response without the field of its request would
// be a bug of the service layer, reported instead of dereferenced.
func (a *api) write(ctx context.Context, req *kv.Request) (*kv.Response, error) {
	resp, err := a.node.Write(ctx, req)
	if err != nil {
		return nil, inFlight(err)
	}
	if resp == nil || (req.Put != nil) != (resp.Put != nil) || (req.DeleteRange != nil) != (resp.DeleteRange != nil) ||
		(req.Txn != nil) != (resp.Txn != nil) || (req.Compaction != nil) != (resp.Compaction != nil) {
		return nil, errMismatchedResponse
	}
	return resp, nil
}

// inFlight turns "the node stopped while the write waited" into a timeout:
// the write may have been proposed, and may still commit, so the client
// must not retry it as it would a refusal. The node refuses with
// actor.ErrStopped a write it never took; it answers server.ErrStopped
// when it stops with the write in flight.
func inFlight(err error) error {
	if errors.Is(err, server.ErrStopped) {
		return fmt.Errorf("%w: the node stopped with the write in flight, it may still be applied (%v)",
			context.DeadlineExceeded, err)
	}
	return err
}

func (a *api) status(c *call) (reply, error) {
	st := a.node.Status()
	return reply{revision: st.Revision, value: st}, nil
}

func (a *api) members(c *call) (reply, error) {
	return reply{revision: a.node.Status().Revision, value: MembersResponse{Members: a.node.Members()}}, nil
}

// memberChange serves a membership change or a leadership transfer.
func (a *api) memberChange(op func(backend, context.Context, string) error) func(*call) (reply, error) {
	return func(c *call) (reply, error) {
		req, err := decodeBody(c, func(j *MemberRequest) (*MemberRequest, error) { return j, nil })
		if err != nil {
			return reply{}, err
		}
		if req.Name == "" {
			return reply{}, invalidf("a member name is required: {\"name\":\"n4\"}")
		}
		if err := op(a.node, c.ctx, req.Name); err != nil {
			return reply{}, inFlight(err)
		}
		return reply{revision: a.node.Status().Revision, value: OKResponse{OK: true}}, nil
	}
}

// decodeBody decodes the request body: msgpack straight into the kv type,
// JSON into its JSON form J, converted by toKV. Any failure is an
// invalid_argument error; nothing in the body can panic or exhaust memory.
func decodeBody[T any, J any](c *call, toKV func(*J) (*T, error)) (*T, error) {
	if c.msgpack {
		m := new(T)
		if err := DecodeMsgpack(c.data, m); err != nil {
			return nil, err
		}
		return m, nil
	}
	var j J
	if err := DecodeJSON(c.data, &j); err != nil {
		return nil, err
	}
	return toKV(&j)
}

// DecodeMsgpack decodes an untrusted msgpack body into v, after checking
// its structure (see checkMsgpack); errors are invalid_argument.
func DecodeMsgpack(data []byte, v any) error {
	if err := checkMsgpack(data); err != nil {
		return invalidf("%v", err)
	}
	if err := msgpack.Unmarshal(data, v); err != nil {
		return invalidf("malformed msgpack body: %v", err)
	}
	return nil
}

func marshal(useMsgpack bool, v any) ([]byte, error) {
	if useMsgpack {
		return msgpack.Marshal(v)
	}
	return json.Marshal(v)
}
