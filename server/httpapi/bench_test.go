package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server/httpapi"
)

// BenchmarkHTTP measures requests over HTTP on an in-process 3-node
// cluster (real fsync, loopback TCP): one client at a time, so ns/op is
// the latency; the parallel cases show the throughput.
func BenchmarkHTTP(b *testing.B) {
	c := startCluster(b, httpapi.Options{}, "n1", "n2", "n3")
	value := strings.Repeat("v", 128)
	var seq atomic.Int64
	putTo := func(u string) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				benchRequest(b, http.MethodPut, fmt.Sprintf("%s/v1/kv/bench/%d", u, seq.Add(1)%1000), value)
			}
		}
	}
	b.Run("NodeWriteLeader", func(b *testing.B) { // the same put without HTTP, for comparison
		n := c.Nodes[c.Leader()]
		for b.Loop() {
			key := fmt.Sprintf("bench/%d", seq.Add(1)%1000)
			if _, err := n.Write(context.Background(), &kv.Request{Put: &kv.PutRequest{Key: []byte(key), Value: []byte(value)}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PutLeader", putTo(c.leaderURL()))
	b.Run("PutFollower", putTo(c.followerURL()))
	b.Run("GetLinearizableFollower", func(b *testing.B) {
		for b.Loop() {
			benchRequest(b, http.MethodGet, c.followerURL()+"/v1/kv/bench/1", "")
		}
	})
	b.Run("GetSerializable", func(b *testing.B) {
		for b.Loop() {
			benchRequest(b, http.MethodGet, c.followerURL()+"/v1/kv/bench/1?serializable=true", "")
		}
	})
	b.Run("PutLeaderParallel", func(b *testing.B) {
		u := c.leaderURL()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				benchRequest(b, http.MethodPut, fmt.Sprintf("%s/v1/kv/bench/%d", u, seq.Add(1)%1000), value)
			}
		})
	})
}

func benchRequest(b *testing.B, method, url, body string) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s %s: %d", method, url, resp.StatusCode)
	}
}
