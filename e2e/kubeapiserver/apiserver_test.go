package kubeapiserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natsraft/natsraft/e2e/internal/artifacts"
	"github.com/natsraft/natsraft/e2e/internal/probe"
	"github.com/natsraft/natsraft/internal/testpki"
)

// Timeouts, generous for a loaded 2-core machine.
const (
	readyTimeout   = 2 * time.Minute
	requestTimeout = 30 * time.Second
	stopTimeout    = 15 * time.Second
	// writeRetryTimeout bounds the retries of a write that fails while
	// natsraft elects a new leader.
	writeRetryTimeout = time.Minute
)

// compactionInterval is kube-apiserver's --etcd-compaction-interval. Its
// compactor compacts, at each tick, to the revision it saw at the tick
// before, so a revision is compacted one to two intervals after it was
// written. It is well above progressNotifyInterval (see there).
const compactionInterval = 5 * time.Second

// The resources the test writes: ConfigMaps go through kube-apiserver's
// watch cache; PodTemplates have theirs disabled (--watch-cache-sizes
// podtemplates#0), so their lists and watches go to natsraft directly.
const (
	cached   = "configmaps"
	uncached = "podtemplates"
)

// apiServer is a kube-apiserver process and an HTTPS client with a bearer
// token of a system:masters user. Its methods fail t, the test that uses
// it: a subtest takes its own copy with forTest.
type apiServer struct {
	t       *testing.T
	base    string // https://127.0.0.1:<port>
	token   string
	client  *http.Client
	logPath string
	proc    *process
}

// process is the state of the running kube-apiserver.
type process struct {
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
}

// forTest is a copy of a whose methods fail t.
func (a *apiServer) forTest(t *testing.T) *apiServer {
	c := *a
	c.t = t
	return &c
}

// startAPIServer starts kube-apiserver on etcdServers and waits for
// /readyz. The process is stopped when the test ends; its log is kept in
// the test's artifacts directory when the test fails.
func startAPIServer(t *testing.T, bin string, etcdServers []string) *apiServer {
	t.Helper()
	dir := artifacts.Dir(t)
	files := writeCredentials(t, dir)
	port := freePort(t)
	a := &apiServer{t: t, base: fmt.Sprintf("https://127.0.0.1:%d", port), token: files.token,
		client:  &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: files.roots}}},
		logPath: filepath.Join(dir, "kube-apiserver.log"), proc: &process{exited: make(chan struct{})}}
	args := []string{
		"--etcd-servers=" + strings.Join(etcdServers, ","),
		"--storage-backend=etcd3",
		"--etcd-compaction-interval=" + compactionInterval.String(),
		"--watch-cache=true",
		"--watch-cache-sizes=" + uncached + "#0",
		"--bind-address=127.0.0.1",
		// The lease endpoint reconciler (which keeps a leased key in
		// natsraft) refuses a loopback address; nothing dials this one
		// (RFC 5737 TEST-NET-1).
		"--advertise-address=192.0.2.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + dir,
		"--tls-cert-file=" + files.servingCert,
		"--tls-private-key-file=" + files.servingKey,
		"--token-auth-file=" + files.tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + files.serviceAccountPublicKey,
		"--service-account-signing-key-file=" + files.serviceAccountKey,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--profiling=false",
		"--v=1",
	}
	a.start(bin, args)
	a.waitReady()
	return a
}

func (a *apiServer) start(bin string, args []string) {
	a.t.Helper()
	logFile, err := os.Create(a.logPath)
	if err != nil {
		a.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		a.t.Fatal(err)
	}
	go func() {
		a.proc.waitErr = cmd.Wait()
		logFile.Close()
		close(a.proc.exited)
	}()
	a.t.Cleanup(func() { a.stop(cmd) })
}

// stop ends kube-apiserver with SIGTERM (its graceful shutdown), then
// SIGKILL after stopTimeout.
func (a *apiServer) stop(cmd *exec.Cmd) {
	select {
	case <-a.proc.exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.proc.exited:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-a.proc.exited
	}
}

// waitReady polls /readyz until it answers 200, the process exits or
// readyTimeout passes.
func (a *apiServer) waitReady() {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-a.proc.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := probe.Until(ctx, readyTimeout, "kube-apiserver /readyz", func(ctx context.Context) (bool, string, error) {
		code, body, err := a.request(ctx, http.MethodGet, "/readyz?verbose", nil)
		if err != nil {
			return false, err.Error(), nil
		}
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, failedChecks(body)), nil
	})
	if err != nil {
		a.fatalf("%v", err)
	}
}

// failedChecks keeps the failing lines of a verbose /readyz answer.
func failedChecks(body []byte) string {
	var failed []string
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "[-]") {
			failed = append(failed, strings.TrimSpace(line))
		}
	}
	return strings.Join(failed, "; ")
}

// fatalf fails the test with the tail of kube-apiserver's log.
func (a *apiServer) fatalf(format string, args ...any) {
	a.t.Helper()
	select {
	case <-a.proc.exited:
		format += fmt.Sprintf("\nkube-apiserver exited: %v", a.proc.waitErr)
	default:
	}
	a.t.Fatalf(format+"\nkube-apiserver log (%s), last lines:\n%s", append(args, a.logPath, a.logTail(40))...)
}

func (a *apiServer) logTail(lines int) string {
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// request sends one request with the bearer token; body, when not nil, is
// sent as JSON.
func (a *apiServer) request(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	resp, err := a.send(ctx, method, path, body)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (a *apiServer) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return a.client.Do(req)
}

// credentials are the files kube-apiserver is started with.
type credentials struct {
	servingCert, servingKey string
	roots                   *x509.CertPool // trusts the serving certificate
	serviceAccountKey       string         // signs service account tokens
	serviceAccountPublicKey string         // verifies them
	tokens                  string         // --token-auth-file
	token                   string         // its one token, of a system:masters user
}

func writeCredentials(t *testing.T, dir string) credentials {
	t.Helper()
	pki := testpki.New(t) // the serving certificate, for 127.0.0.1
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	saKeyPEM, err := privateKeyPEM(saKey)
	if err != nil {
		t.Fatal(err)
	}
	saPublicDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	token := rand.Text()
	c := credentials{
		servingCert:             pki.ServerCert,
		servingKey:              pki.ServerKey,
		roots:                   pki.ClientConfig(t, false).RootCAs,
		serviceAccountKey:       filepath.Join(dir, "service-account.key"),
		serviceAccountPublicKey: filepath.Join(dir, "service-account.pub"),
		tokens:                  filepath.Join(dir, "tokens.csv"),
		token:                   token,
	}
	for path, data := range map[string][]byte{
		c.serviceAccountKey:       saKeyPEM,
		c.serviceAccountPublicKey: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPublicDER}),
		// token,user,uid,"group,..."
		c.tokens: []byte(token + `,natsraft-e2e,natsraft-e2e,"system:masters"` + "\n"),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func privateKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// freePort is a loopback port that was free a moment ago: kube-apiserver
// takes a port number, not a listener.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
