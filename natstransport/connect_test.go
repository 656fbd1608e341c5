package natstransport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
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
	pki := newTestPKI(t)
	s := startServer(t, ServerOptions{TLS: pki.serverConfig()})
	connect(t, ConnectOptions{URL: s.ClientURL(), TLSCAFile: pki.caFile,
		TLSCertFile: pki.clientCert, TLSKeyFile: pki.clientKey})
	if _, err := Connect(ConnectOptions{URL: s.ClientURL(), TLSCAFile: pki.caFile}); err == nil {
		t.Fatal("connected without a client certificate")
	}
}

// testPKI is a CA with one server and one client certificate, as PEM files.
type testPKI struct {
	ca                    *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	caFile                string
	serverCert, serverKey string
	clientCert, clientKey string
	dir                   string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	p.caKey = newKey(t)
	caTemplate := certTemplate(1, "test CA")
	caTemplate.IsCA, caTemplate.BasicConstraintsValid = true, true
	caTemplate.KeyUsage = x509.KeyUsageCertSign
	der := p.writeCert(t, "ca", caTemplate, &p.caKey.PublicKey, p.caKey)
	p.ca, _ = x509.ParseCertificate(der)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	p.serverCert, p.serverKey = p.issue(t, "server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = p.issue(t, "client", x509.ExtKeyUsageClientAuth)
	return p
}

// issue signs a certificate for 127.0.0.1 and writes it and its key.
func (p *testPKI) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	key := newKey(t)
	tmpl := certTemplate(2, name)
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	p.writeCert(t, name, tmpl, &key.PublicKey, p.caKey)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(p.dir, name+"-key.pem")
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return filepath.Join(p.dir, name+".pem"), keyFile
}

func (p *testPKI) writeCert(t *testing.T, name string, tmpl *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) []byte {
	parent := p.ca
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(p.dir, name+".pem"), "CERTIFICATE", der)
	return der
}

func (p *testPKI) serverConfig() *tls.Config {
	cert, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func certTemplate(serial int64, name string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
