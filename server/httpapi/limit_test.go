package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server/httpapi"
)

// TestValueAtTheLimitLeavesTheClusterWritable: a value just below kv's
// request limit is either stored (200) or refused (413), and the cluster
// takes writes afterwards. A write the node accepts but the transport
// cannot carry would stay at the head of the log and wedge every later
// write.
func TestValueAtTheLimitLeavesTheClusterWritable(t *testing.T) {
	c := startCluster(t, httpapi.Options{}, "n1", "n2", "n3")
	u := c.leaderURL()
	r := do(t, http.MethodPut, u+"/v1/kv/almost-big", strings.Repeat("v", kv.DefaultMaxRequestBytes-1024))
	if r.status != http.StatusOK && r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a value at the limit: %d %s", r.status, r.body)
	}
	put(t, c.followerURL(), "after", "ok")
}
