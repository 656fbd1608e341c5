package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The node's commit-breakdown histograms (server/metrics.go), in the order
// a write meets them on the leader.
var breakdownMetrics = []struct{ metric, stage string }{
	{"natsraft_mailbox_wait_seconds", "mailbox wait"},
	{"natsraft_fsync_seconds", "persist (per Ready)"},
	{"natsraft_append_to_commit_seconds", "append to commit"},
	{"natsraft_apply_seconds", "apply (per Ready)"},
	{"natsraft_commit_latency_seconds", "commit (arrival to result)"},
}

// histSnapshot is one Prometheus histogram's cumulative state.
type histSnapshot struct {
	count   float64
	sum     float64
	buckets []bucket // sorted by upper bound; counts are cumulative
}

type bucket struct {
	upper float64 // seconds; +Inf for the last
	count float64
}

// metricSnapshot holds the breakdown histograms of one scrape, keyed
// "leader/<metric>" and "followers/<metric>" (the followers summed).
type metricSnapshot map[string]histSnapshot

// Stage is one phase of a commit over a measured phase. Mean and
// quantiles are in microseconds; quantiles are interpolated within the
// histogram's buckets, so they are approximate.
type Stage struct {
	Node    string  `json:"node"` // leader or followers
	Name    string  `json:"stage"`
	Metric  string  `json:"metric"`
	Count   float64 `json:"count"`
	PerOp   float64 `json:"per_op"`
	MeanUs  float64 `json:"mean_us"`
	P50Us   float64 `json:"p50_us"`
	P99Us   float64 `json:"p99_us"`
	TotalMs float64 `json:"total_ms"`
}

// scrapeHistograms fetches url (a /metrics endpoint) and returns its
// histograms by name.
func scrapeHistograms(ctx context.Context, client *http.Client, url string) (map[string]histSnapshot, error) {
	body, err := httpGet(ctx, client, url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return parseHistograms(body)
}

// httpGet returns the body of a 200 answer to GET url.
func httpGet(ctx context.Context, client *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// parseHistograms reads the Prometheus text format and keeps histograms.
func parseHistograms(r io.Reader) (map[string]histSnapshot, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := map[string]histSnapshot{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			s := histSnapshot{count: float64(h.GetSampleCount()), sum: h.GetSampleSum()}
			for _, b := range h.GetBucket() {
				s.buckets = append(s.buckets, bucket{upper: b.GetUpperBound(), count: float64(b.GetCumulativeCount())})
			}
			s.buckets = append(s.buckets, bucket{upper: math.Inf(1), count: s.count})
			sort.Slice(s.buckets, func(i, j int) bool { return s.buckets[i].upper < s.buckets[j].upper })
			out[name] = s
		}
	}
	return out, nil
}

// add sums o into s (same bucket layout).
func (s histSnapshot) add(o histSnapshot) histSnapshot {
	if len(s.buckets) == 0 {
		return o
	}
	r := histSnapshot{count: s.count + o.count, sum: s.sum + o.sum, buckets: append([]bucket(nil), s.buckets...)}
	for i := range r.buckets {
		if i < len(o.buckets) && o.buckets[i].upper == r.buckets[i].upper {
			r.buckets[i].count += o.buckets[i].count
		}
	}
	return r
}

// sub returns the observations between an earlier snapshot e and s.
func (s histSnapshot) sub(e histSnapshot) histSnapshot {
	r := histSnapshot{count: s.count - e.count, sum: s.sum - e.sum, buckets: append([]bucket(nil), s.buckets...)}
	for i := range r.buckets {
		if i < len(e.buckets) && e.buckets[i].upper == r.buckets[i].upper {
			r.buckets[i].count -= e.buckets[i].count
		}
	}
	return r
}

// quantile estimates the q-quantile (0..1) in seconds as Prometheus'
// histogram_quantile does: linear interpolation inside the bucket that
// holds the rank, the first bucket starting at 0. A rank in the +Inf
// bucket returns the highest finite bound.
func (s histSnapshot) quantile(q float64) float64 {
	if s.count <= 0 || len(s.buckets) == 0 {
		return math.NaN()
	}
	rank := q * s.count
	lower, below := 0.0, 0.0
	for _, b := range s.buckets {
		if b.count >= rank {
			if math.IsInf(b.upper, 1) {
				return lower
			}
			if b.count == below {
				return b.upper
			}
			return lower + (b.upper-lower)*(rank-below)/(b.count-below)
		}
		lower, below = b.upper, b.count
	}
	return lower
}

// breakdown computes the stages between two scrapes, for ops requests.
func breakdown(before, after metricSnapshot, ops int64) []Stage {
	var stages []Stage
	for _, node := range []string{"leader", "followers"} {
		for _, bm := range breakdownMetrics {
			a, ok := after[node+"/"+bm.metric]
			if !ok {
				continue
			}
			d := a.sub(before[node+"/"+bm.metric])
			if d.count <= 0 || (node == "followers" && bm.metric != "natsraft_fsync_seconds") {
				continue
			}
			st := Stage{Node: node, Name: bm.stage, Metric: bm.metric, Count: d.count,
				MeanUs: 1e6 * d.sum / d.count, P50Us: 1e6 * d.quantile(0.5), P99Us: 1e6 * d.quantile(0.99), TotalMs: 1e3 * d.sum}
			if ops > 0 {
				st.PerOp = d.count / float64(ops)
			}
			stages = append(stages, st)
		}
	}
	return stages
}
