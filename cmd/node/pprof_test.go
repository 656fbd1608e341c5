package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPprofIsServedOnlyUnderItsPrefix(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	srv := httptest.NewServer(withPprof(next))
	defer srv.Close()
	for path, want := range map[string]int{"/debug/pprof/": http.StatusOK, "/v1/status": http.StatusTeapot} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, want)
		}
	}
}
