package kv

import (
	"bytes"
	"cmp"
	"slices"
)

// rangeKeys answers a RangeRequest from the view, following etcd's
// executeRange: fetch limit+1 keys (all of them when sorting or filtering),
// filter, sort, cut to the limit.
func (v *view) rangeKeys(req *RangeRequest) (*RangeResponse, error) {
	rev, err := v.checkRev(req.Revision)
	if err != nil {
		return nil, err
	}
	order := effectiveOrder(req)
	fetch := req.Limit
	if order != SortNone || hasRevisionFilter(req) {
		fetch = 0
	} else if fetch > 0 {
		fetch++
	}
	withValue := !req.KeysOnly || (order != SortNone && req.SortTarget == SortByValue)
	resp := &RangeResponse{Header: ResponseHeader{Revision: v.rev}}
	err = v.visit(makeSpan(req.Key, req.RangeEnd), rev, func(key, rec []byte) error {
		resp.Count++
		if req.CountOnly || (fetch > 0 && int64(len(resp.Kvs)) >= fetch) {
			return nil
		}
		resp.Kvs = append(resp.Kvs, KeyValue{})
		return decodeRecord(&resp.Kvs[len(resp.Kvs)-1], key, rec, withValue)
	})
	if err != nil {
		return nil, err
	}
	resp.Kvs = filterRevisions(resp.Kvs, req)
	sortKVs(resp.Kvs, order, req.SortTarget)
	if req.Limit > 0 && int64(len(resp.Kvs)) > req.Limit {
		resp.Kvs, resp.More = resp.Kvs[:req.Limit], true
	}
	if req.KeysOnly {
		for i := range resp.Kvs {
			resp.Kvs[i].Value = nil
		}
	}
	return resp, nil
}

func hasRevisionFilter(req *RangeRequest) bool {
	return req.MinModRevision != 0 || req.MaxModRevision != 0 ||
		req.MinCreateRevision != 0 || req.MaxCreateRevision != 0
}

// effectiveOrder is etcd's rule: a target other than the key sorts ascending
// by default; ascending by key is the natural order and needs no sort.
func effectiveOrder(req *RangeRequest) SortOrder {
	switch {
	case req.SortTarget != SortByKey && req.SortOrder == SortNone:
		return SortAscend
	case req.SortTarget == SortByKey && req.SortOrder == SortAscend:
		return SortNone
	}
	return req.SortOrder
}

// filterRevisions drops the keys outside the request's min/max revisions.
func filterRevisions(kvs []KeyValue, req *RangeRequest) []KeyValue {
	if !hasRevisionFilter(req) {
		return kvs
	}
	return slices.DeleteFunc(kvs, func(kv KeyValue) bool {
		return (req.MaxModRevision != 0 && kv.ModRevision > req.MaxModRevision) ||
			(req.MinModRevision != 0 && kv.ModRevision < req.MinModRevision) ||
			(req.MaxCreateRevision != 0 && kv.CreateRevision > req.MaxCreateRevision) ||
			(req.MinCreateRevision != 0 && kv.CreateRevision < req.MinCreateRevision)
	})
}

// sortKVs sorts stably, so that ties keep key order (etcd's sort is not
// stable; any order of ties is etcd-compatible, a stable one is deterministic).
func sortKVs(kvs []KeyValue, order SortOrder, target SortTarget) {
	if order == SortNone {
		return
	}
	compare := func(a, b KeyValue) int {
		switch target {
		case SortByVersion:
			return cmp.Compare(a.Version, b.Version)
		case SortByCreate:
			return cmp.Compare(a.CreateRevision, b.CreateRevision)
		case SortByMod:
			return cmp.Compare(a.ModRevision, b.ModRevision)
		case SortByValue:
			return bytes.Compare(a.Value, b.Value)
		}
		return bytes.Compare(a.Key, b.Key)
	}
	if order == SortDescend {
		slices.SortStableFunc(kvs, func(a, b KeyValue) int { return compare(b, a) })
		return
	}
	slices.SortStableFunc(kvs, compare)
}
