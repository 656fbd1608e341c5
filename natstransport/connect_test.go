package natstransport

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/natsraft/natsraft/internal/testpki"
)

// TestConnectToken: a token-protected server admits the right token only.
func TestConnectToken(t *testing.T) {
	s := startServer(t, ServerOptions{Token: "s3cret"})
	connect(t, ConnectOptions{URL: s.ClientURL(), Token: "s3cret"})
	if _, err := Connect(ConnectOptions{URL: s.ClientURL(), Token: "guess"}); err == nil {
		t.Fatal("connected with a wrong token")
	}
}

// TestConnectNkeySeedFile: a user nkey authenticates with its seed file.
func TestConnectNkeySeedFile(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	public, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, ServerOptions{Users: []User{{Nkey: public}}})
	connect(t, ConnectOptions{URL: s.ClientURL(), NkeySeedFile: seedFile})
	if _, err := Connect(ConnectOptions{URL: s.ClientURL()}); err == nil {
		t.Fatal("connected without credentials")
	}
}

// TestConnectTLSWithClientCert: the server requires a client certificate
// signed by the test CA; the client trusts the same CA.
func TestConnectTLSWithClientCert(t *testing.T) {
	pki := testpki.New(t)
	s := startServer(t, ServerOptions{TLS: pki.ServerConfig(t)})
	connect(t, ConnectOptions{URL: s.ClientURL(), TLSCAFile: pki.CAFile,
		TLSCertFile: pki.ClientCert, TLSKeyFile: pki.ClientKey})
	if _, err := Connect(ConnectOptions{URL: s.ClientURL(), TLSCAFile: pki.CAFile}); err == nil {
		t.Fatal("connected without a client certificate")
	}
}
