package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/natsraft/natsraft/server"
	"github.com/natsraft/natsraft/server/etcdapi"
)

// etcdFlags are the settings of a member's etcd v3 gRPC API.
type etcdFlags struct {
	// addr is where the API listens; empty: no etcd API.
	addr string
	// advertise is the client URL other members list for this one
	// (MemberList, etcdctl endpoint status --cluster); default http://addr.
	advertise string
	// progressInterval is etcd's --experimental-watch-progress-notify-interval.
	progressInterval time.Duration
	// certFile and keyFile serve the API over TLS; trustedCAFile, when
	// set, requires client certificates signed by it (etcd's --cert-file,
	// --key-file, --trusted-ca-file with --client-cert-auth).
	certFile, keyFile, trustedCAFile string
}

// tlsConfig is the API's TLS from the flags; nil when it is plain gRPC.
func (f etcdFlags) tlsConfig() (*tls.Config, error) {
	if f.certFile == "" && f.keyFile == "" && f.trustedCAFile == "" {
		return nil, nil
	}
	if f.certFile == "" || f.keyFile == "" {
		return nil, errors.New("--etcd-cert-file and --etcd-key-file go together (and --etcd-trusted-ca-file needs them)")
	}
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--etcd-cert-file/--etcd-key-file: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.trustedCAFile != "" {
		pem, err := os.ReadFile(f.trustedCAFile)
		if err != nil {
			return nil, fmt.Errorf("--etcd-trusted-ca-file: %w", err)
		}
		cfg.ClientCAs = x509.NewCertPool()
		if !cfg.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd-trusted-ca-file %s: no PEM certificate in it", f.trustedCAFile)
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// startEtcdAPI serves the etcd API of node on f.addr; the returned function
// stops it (before the node stops).
func startEtcdAPI(node *server.Node, f etcdFlags, logger *slog.Logger) (func(), error) {
	tlsConfig, err := f.tlsConfig()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, fmt.Errorf("--etcd-addr: %w", err)
	}
	advertise := f.advertise
	if advertise == "" {
		advertise = "http://" + l.Addr().String()
		if tlsConfig != nil {
			advertise = "https://" + l.Addr().String()
		}
	}
	api, err := etcdapi.New(node, etcdapi.Options{
		ClientURLs: []string{advertise}, ProgressNotifyInterval: f.progressInterval, TLS: tlsConfig, Logger: logger,
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	go func() {
		if err := api.Serve(l); err != nil {
			logger.Error("etcd API failed", "addr", f.addr, "err", err)
		}
	}()
	logger.Info("etcd API serving", "addr", l.Addr().String(), "advertise", advertise)
	return api.Stop, nil
}
