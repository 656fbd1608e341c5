package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/natsraft/natsraft/internal/testpki"
)

// TestEtcdTLSFlags: the etcd API's TLS comes from the flags: none is plain
// gRPC, a certificate and key serve TLS, a trusted CA requires client
// certificates; incomplete or bad files are errors, not plain gRPC.
func TestEtcdTLSFlags(t *testing.T) {
	pki := testpki.New(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := (etcdFlags{}).tlsConfig(); cfg != nil || err != nil {
		t.Fatalf("no flags: %v, %v", cfg, err)
	}
	cfg, err := etcdFlags{certFile: pki.ServerCert, keyFile: pki.ServerKey}.tlsConfig()
	if err != nil || len(cfg.Certificates) != 1 || cfg.ClientAuth != tls.NoClientCert {
		t.Fatalf("certificate and key: %+v, %v", cfg, err)
	}
	cfg, err = etcdFlags{certFile: pki.ServerCert, keyFile: pki.ServerKey, trustedCAFile: pki.CAFile}.tlsConfig()
	if err != nil || cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil {
		t.Fatalf("with a trusted CA: %+v, %v", cfg, err)
	}
	for name, f := range map[string]etcdFlags{
		"key missing":       {certFile: pki.ServerCert},
		"CA without cert":   {trustedCAFile: pki.CAFile},
		"key of another":    {certFile: pki.ServerCert, keyFile: pki.ClientKey},
		"CA file not PEM":   {certFile: pki.ServerCert, keyFile: pki.ServerKey, trustedCAFile: notPEM},
		"CA file missing":   {certFile: pki.ServerCert, keyFile: pki.ServerKey, trustedCAFile: notPEM + ".gone"},
		"cert file not PEM": {certFile: notPEM, keyFile: pki.ServerKey},
	} {
		if cfg, err := f.tlsConfig(); err == nil {
			t.Errorf("%s: %+v, want an error", name, cfg)
		}
	}
}
