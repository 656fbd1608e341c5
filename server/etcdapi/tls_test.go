package etcdapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/natsraft/natsraft/internal/testpki"
	"github.com/natsraft/natsraft/server/etcdapi"
	"github.com/natsraft/natsraft/server/etcdapi/etcdapitest"
)

// TestTLSWithClientCertificates: with Options.TLS requiring client
// certificates, clientv3 with the CA and a client certificate works; one
// without a certificate, or speaking plain gRPC, is refused.
func TestTLSWithClientCertificates(t *testing.T) {
	pki := testpki.New(t)
	c := etcdapitest.Start(t, etcdapi.Options{TLS: pki.ServerConfig(t)}, "n1", "n2", "n3")
	var secure []string
	for _, ep := range c.Endpoints() {
		secure = append(secure, "https://"+strings.TrimPrefix(ep, "http://"))
	}
	dial := func(cfg clientv3.Config) *clientv3.Client {
		if cfg.Endpoints == nil {
			cfg.Endpoints = secure
		}
		cfg.DialTimeout = 5 * time.Second
		cli, err := clientv3.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return cli
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cli := dial(clientv3.Config{TLS: pki.ClientConfig(t, true)})
	if _, err := cli.Put(ctx, "secure", "yes"); err != nil {
		t.Fatalf("put over TLS with a client certificate: %v", err)
	}
	if got, err := cli.Get(ctx, "secure"); err != nil || got.Count != 1 || string(got.Kvs[0].Value) != "yes" {
		t.Fatalf("get over TLS: %v, %v", got, err)
	}
	for name, cfg := range map[string]clientv3.Config{
		"no client certificate": {TLS: pki.ClientConfig(t, false)},
		"plain gRPC":            {Endpoints: c.Endpoints()},
	} {
		refusedCtx, cancelRefused := context.WithTimeout(ctx, 3*time.Second)
		if _, err := dial(cfg).Get(refusedCtx, "secure"); err == nil {
			t.Errorf("%s: served", name)
		}
		cancelRefused()
	}
}
