package server

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// StatusHandler serves the node's health endpoints:
//
//	GET /healthz    200 while the node runs
//	GET /readyz     200 once a leader is known and this node has applied
//	                the commit index it found at start; 503 otherwise
//	GET /v1/status  the node's Status as JSON
//	GET /metrics    Prometheus metrics
func StatusHandler(n *Node) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.Registry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-n.Done():
			http.Error(w, "node stopped", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ok\n"))
		}
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		st := n.Status()
		if st.LeaderID == 0 || st.AppliedIndex < n.startCommit {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "not ready: no leader yet or still applying", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		WriteStatus(w, n.Status())
	})
	return mux
}

// WriteStatus answers GET /v1/status with st.
func WriteStatus(w http.ResponseWriter, st Status) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}
