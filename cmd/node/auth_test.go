package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/natsraft/natsraft/natstransport"
	"github.com/natsraft/natsraft/server"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuthFileRoles(t *testing.T) {
	p := writeFile(t, `{"users":[{"user":"n1","password":"a","role":"node","id":"n1"},{"user":"app","password":"b","role":"client"}]}`)
	users, err := loadAuthFile(p, "prod")
	if err != nil {
		t.Fatal(err)
	}
	node, client := users[0], users[1]
	if !slices.Contains(node.Publish, natstransport.PublishPermission("prod")) ||
		!slices.Contains(node.Subscribe, natstransport.SubscribePermission("prod", server.NodeID("n1"))) {
		t.Fatalf("node user lacks Raft permissions: %+v", node)
	}
	for _, s := range append(client.Publish, client.Subscribe...) {
		if strings.Contains(s, ".raft.") {
			t.Fatalf("client user may use a Raft subject: %q", s)
		}
	}
	for _, bad := range []string{
		`{"users":[{"user":"x","role":"admin"}]}`,
		`{"users":[{"user":"x","role":"node"}]}`,
		`{"users":[{"user":"x","role":"client","extra":1}]}`,
		`not json`,
	} {
		if _, err := loadAuthFile(writeFile(t, bad), "prod"); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestHealthProbe(t *testing.T) {
	var notReady atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if notReady.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := probe(context.Background(), srv.URL); err != nil {
		t.Fatalf("healthy endpoint: %v", err)
	}
	notReady.Store(true)
	if err := probe(context.Background(), srv.URL); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unhealthy endpoint: err %v", err)
	}
}
