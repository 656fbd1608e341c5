// Package probe looks at running nodes from outside, over their HTTP
// endpoints (/v1/status, /metrics, /v1/kv), and waits for cluster-wide
// conditions by bounded polling: a node publishes no event the tests could
// wait on, so polling /v1/status is the event.
package probe

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/natsraft/natsraft/server"
)

// Node is how the tests reach one node.
type Node struct {
	Name string
	// HTTP is the base URL of the node's --http-addr, e.g. http://127.0.0.1:8081.
	HTTP string
}

// PollInterval is how often the Wait functions look again.
const PollInterval = 50 * time.Millisecond

var httpClient = &http.Client{Timeout: 2 * time.Second}

func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// Status is the node's /v1/status.
func Status(ctx context.Context, n Node) (*server.Status, error) {
	body, err := get(ctx, n.HTTP+"/v1/status")
	if err != nil {
		return nil, err
	}
	var st server.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("%s /v1/status: %w", n.Name, err)
	}
	return &st, nil
}

// Ready reports whether the node's /readyz answers 200.
func Ready(ctx context.Context, n Node) bool {
	_, err := get(ctx, n.HTTP+"/readyz")
	return err == nil
}

// Metric returns the value of the sample of metric name whose labels
// include every label given ("reason=\"sender\""), summed over the
// matching samples.
func Metric(ctx context.Context, n Node, name string, labels ...string) (float64, error) {
	body, err := get(ctx, n.HTTP+"/metrics")
	if err != nil {
		return 0, err
	}
	var sum float64
	found := false
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || !matchesSample(line[len(name):], labels) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("%s /metrics: %q: %w", n.Name, line, err)
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("%s /metrics: no sample of %s%v", n.Name, name, labels)
	}
	return sum, nil
}

// matchesSample: rest follows the metric name: " value" or "{labels} value".
func matchesSample(rest string, labels []string) bool {
	if rest == "" || rest[0] != ' ' && rest[0] != '{' {
		return false // another metric sharing the prefix
	}
	for _, l := range labels {
		if !strings.Contains(rest, l) {
			return false
		}
	}
	return true
}

// KeyValue is one key of a node's store as /v1/kv lists it.
type KeyValue struct {
	Key            string `json:"key"`
	Value          string `json:"value"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
	Version        int64  `json:"version"`
}

// Dump is a node's whole key space, read locally (serializable).
type Dump struct {
	Revision int64
	Kvs      []KeyValue
}

// ReadAll reads every key from the node's own store, without asking the
// leader: what this node has applied.
func ReadAll(ctx context.Context, n Node) (*Dump, error) {
	body, err := get(ctx, n.HTTP+"/v1/kv?prefix=&serializable=true")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
		Kvs  []KeyValue `json:"kvs"`
		More bool       `json:"more"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("%s /v1/kv: %w", n.Name, err)
	}
	if resp.More {
		return nil, fmt.Errorf("%s /v1/kv: the listing was cut short", n.Name)
	}
	return &Dump{Revision: resp.Header.Revision, Kvs: resp.Kvs}, nil
}
