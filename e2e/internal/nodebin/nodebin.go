// Package nodebin builds the node binary (cmd/node) for the end-to-end
// tests: static (CGO_ENABLED=0), so the same file runs as a process on the
// host and inside a FROM scratch image.
package nodebin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
)

// EnvBinary names a prebuilt node binary to use instead of building one.
const EnvBinary = "NATSRAFT_E2E_NODE"

var (
	once     sync.Once
	dir      string
	path     string
	buildErr error
)

// Path builds the node binary once per test binary and returns its path.
// Call Cleanup from TestMain to remove it.
func Path() (string, error) {
	once.Do(func() {
		if p := os.Getenv(EnvBinary); p != "" {
			path = p
			return
		}
		dir, buildErr = os.MkdirTemp("", "natsraft-e2e-bin-")
		if buildErr != nil {
			return
		}
		path = filepath.Join(dir, "node")
		buildErr = build(path)
	})
	return path, buildErr
}

// Cleanup removes the built binary.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// build runs go build for cmd/node. The end-to-end packages run in
// parallel test binaries; a lock file makes the second wait for the first
// and take the result from the build cache instead of compiling twice.
func build(out string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "natsraft-e2e-build.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, "./cmd/node")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/node: %v\n%s", err, b)
	}
	return nil
}

// ModuleRoot is the repository root: the directory of go.mod above the
// working directory.
func ModuleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		d = parent
	}
}
