// Package artifacts keeps what a failed end-to-end test leaves behind (node
// logs, data directories, the history) in a directory that survives the
// test, and removes it when the test passes.
package artifacts

import (
	"os"
	"strings"
	"testing"
)

// Dir makes a directory for the test's artifacts. When the test fails, the
// directory stays and its path is logged; when it passes, it is removed.
// Cleanups registered after Dir run before it, so they can still write
// logs into it.
func Dir(t testing.TB) string {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	dir, err := os.MkdirTemp("", "natsraft-e2e-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node logs, data and history are kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}
