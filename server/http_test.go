package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/internal/testcluster"
	"github.com/natsraft/natsraft/server"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestStatusEndpointsAndMetrics(t *testing.T) {
	c := testcluster.Start(t, "n1", "n2", "n3")
	lead := c.Leader()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const writes = 7
	for i := range writes {
		if _, err := put(ctx, c.Nodes[lead], fmt.Sprint("k", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(server.StatusHandler(c.Nodes[lead]))
	defer srv.Close()

	if code, _ := httpGet(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	if code, _ := httpGet(t, srv.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz on a leader = %d", code)
	}
	code, body := httpGet(t, srv.URL+"/v1/status")
	var st server.Status
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil {
		t.Fatalf("/v1/status = %d %v: %s", code, err, body)
	}
	if st.Role != "leader" || st.Name != lead || st.AppliedIndex < st.CommitIndex-1 || len(st.Members) != 3 || len(st.Progress) != 3 {
		t.Fatalf("status of the leader: %+v", st)
	}
	_, metrics := httpGet(t, srv.URL+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`natsraft_proposals_total{result="applied"} %d`, writes),
		fmt.Sprintf("natsraft_commit_latency_seconds_count %d", writes),
		"natsraft_raft_is_leader 1",
		`natsraft_mailbox_depth{lane="client"}`,
		`natsraft_transport_messages_sent_total{lane="app"}`,
		"natsraft_nats_reconnects_total 0",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// metricValue scrapes n's metrics and returns the sample of name whose
// single label has the given value.
func metricValue(t *testing.T, n *server.Node, name, label string) float64 {
	t.Helper()
	families, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}
