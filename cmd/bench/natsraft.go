package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsraft/natsraft/client"
)

// natsraftSystem is a natsraft cluster reached over NATS, plus, when its
// nodes' HTTP addresses are known, their /v1/status and /metrics.
type natsraftSystem struct {
	natsURL  string
	cluster  string
	httpURLs []string // every node's HTTP base URL; may be empty
	leader   int      // index of the leader in httpURLs; -1 unknown
	http     *http.Client
	closer   closerFunc
	pids     []int // the nodes' processes, when bench started them
}

func (s *natsraftSystem) Name() string { return "natsraft" }

func (s *natsraftSystem) PIDs() []int { return s.pids }

func (s *natsraftSystem) Connect(_ context.Context) (Target, error) {
	nc, err := nats.Connect(s.natsURL, nats.Name("natsraft-bench"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", s.natsURL, err)
	}
	c, err := client.New(nc, s.cluster, client.Options{})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &natsraftTarget{nc: nc, c: c}, nil
}

func (s *natsraftSystem) Close() error { return s.closer.Close() }

// ScrapeBreakdown reads the leader's breakdown histograms and the sum of
// the followers'.
func (s *natsraftSystem) ScrapeBreakdown(ctx context.Context) (metricSnapshot, error) {
	if s.leader < 0 {
		return nil, errors.New("leader's HTTP address unknown (pass --http)")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	snap := metricSnapshot{}
	for i, u := range s.httpURLs {
		hists, err := scrapeHistograms(ctx, s.http, u+"/metrics")
		if err != nil {
			return nil, err
		}
		role := "followers"
		if i == s.leader {
			role = "leader"
		}
		for _, bm := range breakdownMetrics {
			if h, ok := hists[bm.metric]; ok {
				key := role + "/" + bm.metric
				snap[key] = snap[key].add(h)
			}
		}
	}
	return snap, nil
}

// natsraftTarget is one NATS connection with a natsraft client on it.
type natsraftTarget struct {
	nc *nats.Conn
	c  *client.Client
}

func (t *natsraftTarget) Put(ctx context.Context, key, value []byte) error {
	_, err := t.c.Put(ctx, string(key), string(value))
	return err
}

func (t *natsraftTarget) Get(ctx context.Context, key []byte, linearizable bool) ([]byte, error) {
	var opts []client.OpOption
	if !linearizable {
		opts = append(opts, client.WithSerializable())
	}
	resp, err := t.c.Get(ctx, string(key), opts...)
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	return resp.Kvs[0].Value, nil
}

func (t *natsraftTarget) Close() error {
	t.nc.Close()
	return nil
}

// startLocalNatsraft starts a local cluster and returns it as a System
// whose client talks to the leader's node.
func startLocalNatsraft(ctx context.Context, o localOptions) (System, error) {
	c, err := startLocalCluster(ctx, o)
	if err != nil {
		return nil, err
	}
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = n.httpURL
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	leader, err := waitLeader(ctx, hc, urls, c.exited, 60*time.Second)
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	var children []*child
	for _, n := range c.nodes {
		children = append(children, n.child)
	}
	return &natsraftSystem{natsURL: c.nodes[leader].natsURL, cluster: o.cluster, httpURLs: urls,
		leader: leader, http: hc, closer: c.Close, pids: childPIDs(children)}, nil
}

// connectNatsraft returns an existing cluster as a System. With the
// nodes' HTTP addresses it finds the leader, for the breakdown.
func connectNatsraft(ctx context.Context, natsURL, cluster string, httpURLs []string) (System, error) {
	s := &natsraftSystem{natsURL: natsURL, cluster: cluster, httpURLs: httpURLs, leader: -1,
		http: &http.Client{Timeout: 5 * time.Second}}
	if len(httpURLs) > 0 {
		leader, err := waitLeader(ctx, s.http, httpURLs, func() error { return nil }, 30*time.Second)
		if err != nil {
			return nil, err
		}
		s.leader = leader
	}
	return s, nil
}
