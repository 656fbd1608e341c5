// Package gobuild builds the command of another Go module into the user
// cache directory, once per version, for tests that drive real third-party
// binaries (etcdctl, kube-apiserver). `go install pkg@version` refuses a
// module whose go.mod has replace directives, so the command is built in a
// scratch module that requires it (and replaces what it must) instead.
//
// The binary lands in <os.UserCacheDir>/natsraft/<name>-<version>/<name>:
// CI builds it once per machine, a developer once. A lock file in that
// directory makes a second test process wait for the first build instead of
// running its own, and the binary appears by rename, never half-written.
package gobuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockPollInterval is how often a process waiting for another one's build
// retries the lock.
const lockPollInterval = 200 * time.Millisecond

// Command says what to build.
type Command struct {
	// Name is the binary's file name, e.g. "etcdctl".
	Name string
	// Version is the command's version; it names the cache directory.
	Version string
	// Package is the import path of the main package.
	Package string
	// Require lists the scratch module's requirements as "module version".
	Require []string
	// Replaces, when set, returns the scratch module's replacements as
	// "old => new version". It runs only when a build is needed.
	Replaces func(ctx context.Context) ([]string, error)
	// Env is added to the environment of every go command, e.g.
	// CGO_ENABLED=0.
	Env []string
	// BuildFlags go between `go build -o <out>` and the package, e.g.
	// "-ldflags=-X ...".
	BuildFlags []string
	// Check reports whether the binary at path is the wanted one, e.g. by
	// running it with --version. Nil: any file at the path is.
	Check func(path string) bool
}

// Path is where the binary of c is cached.
func (c Command) Path() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "natsraft", c.Name+"-"+c.Version, c.Name), nil
}

func (c Command) cached(path string) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	return c.Check == nil || c.Check(path)
}

// Build returns the path of the binary of c, building it first unless the
// cache holds it. ctx bounds the build, module downloads included.
func Build(ctx context.Context, c Command) (string, error) {
	bin, err := c.Path()
	if err != nil {
		return "", err
	}
	if c.cached(bin) {
		return bin, nil
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lock(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if c.cached(bin) { // built by the process that held the lock
		return bin, nil
	}
	if err := c.build(ctx, bin); err != nil {
		return "", fmt.Errorf("building %s %s: %w", c.Name, c.Version, err)
	}
	if !c.cached(bin) {
		return "", fmt.Errorf("built %s %s, but %s fails its check", c.Name, c.Version, bin)
	}
	return bin, nil
}

// build writes the scratch module, resolves it with go mod tidy and builds
// the binary next to bin, then renames it into place.
func (c Command) build(ctx context.Context, bin string) error {
	mod, err := os.MkdirTemp("", "natsraft-gobuild-"+c.Name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(mod)
	gomod, err := c.goMod(ctx)
	if err != nil {
		return err
	}
	files := map[string]string{
		"go.mod":   gomod,
		"tools.go": fmt.Sprintf("//go:build tools\n\npackage tools\n\nimport _ %q\n", c.Package),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	defer os.Remove(tmp)
	build := append(append([]string{"build", "-o", tmp}, c.BuildFlags...), c.Package)
	for _, args := range [][]string{{"mod", "tidy"}, build} {
		if out, err := c.goCommand(ctx, mod, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return os.Rename(tmp, bin)
}

// goMod is the scratch module's go.mod. Its go line is natsraft's, so the
// build needs no other toolchain than the one running the tests (Env may
// set GOTOOLCHAIN for a command that needs a newer one).
func (c Command) goMod(ctx context.Context) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "module natsraft-gobuild/%s\n\ngo 1.26.0\n\nrequire (\n", c.Name)
	for _, r := range c.Require {
		fmt.Fprintf(&b, "\t%s\n", r)
	}
	b.WriteString(")\n")
	if c.Replaces == nil {
		return b.String(), nil
	}
	replaces, err := c.Replaces(ctx)
	if err != nil {
		return "", err
	}
	b.WriteString("\nreplace (\n")
	for _, r := range replaces {
		fmt.Fprintf(&b, "\t%s\n", r)
	}
	b.WriteString(")\n")
	return b.String(), nil
}

func (c Command) goCommand(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off"), c.Env...)
	return cmd
}

// ModFile returns the go.mod of module at version, downloading the module
// into the module cache (`go mod download`) if it is not there yet.
func ModFile(ctx context.Context, module, version string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir() // outside any module
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download %s@%s: %v\n%s", module, version, err, out)
	}
	var info struct{ GoMod, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return nil, fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	if info.Error != "" {
		return nil, fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	return os.ReadFile(info.GoMod)
}

// lock takes an exclusive lock on the file at path. flock cannot wait on
// a context, so it retries a non-blocking attempt until ctx ends.
func lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(lockPollInterval)
	defer tick.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another build to release %s: %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}
