package main

import (
	"fmt"
	"log/slog"
	"net"
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
}

// startEtcdAPI serves the etcd API of node on f.addr; the returned function
// stops it (before the node stops).
func startEtcdAPI(node *server.Node, f etcdFlags, logger *slog.Logger) (func(), error) {
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, fmt.Errorf("--etcd-addr: %w", err)
	}
	advertise := f.advertise
	if advertise == "" {
		advertise = "http://" + l.Addr().String()
	}
	api, err := etcdapi.New(node, etcdapi.Options{
		ClientURLs: []string{advertise}, ProgressNotifyInterval: f.progressInterval, Logger: logger,
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
