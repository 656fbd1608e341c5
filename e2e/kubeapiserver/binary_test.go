package kubeapiserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/natsraft/natsraft/internal/gobuild"
)

// The kube-apiserver under test. Kubernetes' go.mod points its staging
// modules (k8s.io/api, apimachinery, apiserver, client-go, ...) at
// ./staging; they are published as v0.<minor>.<patch>.
const (
	kubeVersion    = "v1.37.2"
	stagingVersion = "v0.37.2"
)

// EnvBinary names a prebuilt kube-apiserver to use instead of building one.
const EnvBinary = "NATSRAFT_KUBE_APISERVER"

// buildTimeoutMax bounds the build (module downloads included); a test
// deadline (go test -timeout) that comes sooner bounds it too. A cold
// build took about 10 minutes on a 2-core machine.
const buildTimeoutMax = 25 * time.Minute

// kubeAPIServerBinary returns kube-apiserver, built once per version under
// the user cache directory. When it cannot be built the test skips, or
// fails under CI=true.
func kubeAPIServerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	ctx, cancel := buildContext(t)
	defer cancel()
	bin, err := gobuild.Build(ctx, kubeAPIServerCommand())
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(err)
	}
	t.Skipf("kube-apiserver %s is needed (a failure under CI=true): %v", kubeVersion, err)
	return ""
}

// buildContext ends after buildTimeoutMax or a minute before the test's
// deadline, whichever comes first, so a slow build fails with its output
// instead of a test-timeout panic.
func buildContext(t *testing.T) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(buildTimeoutMax)
	if d, ok := t.Deadline(); ok && d.Add(-time.Minute).Before(deadline) {
		deadline = d.Add(-time.Minute)
	}
	return context.WithDeadline(context.Background(), deadline)
}

func kubeAPIServerCommand() gobuild.Command {
	major, minor, _ := strings.Cut(strings.TrimPrefix(kubeVersion, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	// The version is stamped as Kubernetes' release builds do, so that
	// --version and /version tell it (unstamped: v0.0.0-master).
	const versionPkg = "k8s.io/component-base/version"
	ldflags := fmt.Sprintf("-ldflags=-s -w -X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=%[3]s -X %[1]s.gitMinor=%[4]s",
		versionPkg, kubeVersion, major, minor)
	return gobuild.Command{
		Name:       "kube-apiserver",
		Version:    kubeVersion,
		Package:    "k8s.io/kubernetes/cmd/kube-apiserver",
		Require:    []string{"k8s.io/kubernetes " + kubeVersion},
		Replaces:   stagingReplaces,
		Env:        []string{"CGO_ENABLED=0"},
		BuildFlags: []string{ldflags},
		Check:      isKubeVersion,
	}
}

// stagingReplaces maps each module that Kubernetes' go.mod replaces with a
// ./staging directory to its published release.
func stagingReplaces(ctx context.Context) ([]string, error) {
	gomod, err := gobuild.ModFile(ctx, "k8s.io/kubernetes", kubeVersion)
	if err != nil {
		return nil, err
	}
	var replaces []string
	for line := range strings.Lines(string(gomod)) {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "replace "))
		if len(f) == 3 && f[1] == "=>" && strings.HasPrefix(f[2], "./staging/") {
			replaces = append(replaces, f[0]+" => "+f[0]+" "+stagingVersion)
		}
	}
	if len(replaces) == 0 {
		return nil, fmt.Errorf("k8s.io/kubernetes@%s: go.mod replaces no module with ./staging", kubeVersion)
	}
	return replaces, nil
}

func isKubeVersion(bin string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	return err == nil && bytes.Equal(bytes.TrimSpace(out), []byte("Kubernetes "+kubeVersion))
}
