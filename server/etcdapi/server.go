package etcdapi

import (
	"context"
	"crypto/tls"
	"errors"
	"hash/fnv"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/natsraft/natsraft/kv"
	"github.com/natsraft/natsraft/server"
)

// Defaults of Options.
const (
	// DefaultVersion is the etcd version Status reports: one that
	// kube-apiserver and k3s accept, and whose features we serve.
	DefaultVersion = "3.6.0"
	// DefaultProgressNotifyInterval is etcd's --experimental-watch-progress-
	// notify-interval default.
	DefaultProgressNotifyInterval = 10 * time.Minute
	// MinProgressNotifyInterval is etcd's floor for that interval.
	MinProgressNotifyInterval = 100 * time.Millisecond
	// grpcOverheadBytes is etcd's allowance above the request size limit.
	grpcOverheadBytes = 512 << 10
	// requestTimeoutBase is etcd's base request timeout.
	requestTimeoutBase = 5 * time.Second
	// noLeaderTimeouts: a stream that asked for a leader is ended after this
	// many election timeouts without one (etcd's maxNoLeaderCnt).
	noLeaderTimeouts = 3
)

// Options configure a Server.
type Options struct {
	// ClientURLs are the URLs this member's etcd API is reached at, as
	// MemberList shows them (e.g. http://10.0.0.1:2379). Empty: none shown.
	ClientURLs []string
	// ProgressNotifyInterval is how often a watcher created with
	// progress_notify hears about progress when it had no event
	// (DefaultProgressNotifyInterval when 0; at least
	// MinProgressNotifyInterval).
	ProgressNotifyInterval time.Duration
	// Version is the etcd version Status reports (DefaultVersion when empty).
	Version string
	// TLS, when set, serves the API over TLS (https:// client URLs);
	// with ClientAuth set to require and verify client certificates, a
	// client must present one signed by ClientCAs (etcd's
	// --client-cert-auth with --trusted-ca-file). Nil: plain gRPC (h2c).
	TLS *tls.Config
	// Logger receives the API's logs; nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.ProgressNotifyInterval == 0 {
		o.ProgressNotifyInterval = DefaultProgressNotifyInterval
	}
	o.ProgressNotifyInterval = max(o.ProgressNotifyInterval, MinProgressNotifyInterval)
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server serves the etcd v3 gRPC API of one node.
type Server struct {
	node      *server.Node
	opts      Options
	log       *slog.Logger
	clusterID uint64
	grpc      *grpc.Server
	health    *health.Server
	urls      *urlDirectory

	// streams asking for a leader (hasleader), ended when the node stays
	// leaderless; see monitorLeader.
	mu struct {
		sync.Mutex
		leaderStreams map[*leaderStream]struct{}
		watchStreams  int
	}
	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

// New builds the etcd API of node. Serve it with Serve; Stop it before the
// node.
func New(node *server.Node, opts Options) (*Server, error) {
	opts.setDefaults()
	st := node.Status()
	s := &Server{node: node, opts: opts, log: opts.Logger.With("api", "etcd"),
		clusterID: clusterID(st.Cluster), stop: make(chan struct{})}
	s.mu.leaderStreams = map[*leaderStream]struct{}{}
	urls, err := newURLDirectory(node.NATS(), st.Cluster, node.ID(), opts.ClientURLs)
	if err != nil {
		return nil, err
	}
	s.urls = urls
	serverOpts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(kv.DefaultMaxRequestBytes + grpcOverheadBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(math.MaxUint32),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	}
	if opts.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	s.grpc = grpc.NewServer(serverOpts...)
	pb.RegisterKVServer(s.grpc, &kvServer{s: s})
	pb.RegisterWatchServer(s.grpc, &watchServer{s: s})
	pb.RegisterLeaseServer(s.grpc, &leaseServer{s: s})
	pb.RegisterClusterServer(s.grpc, &clusterServer{s: s})
	pb.RegisterMaintenanceServer(s.grpc, &maintenanceServer{s: s})
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.done.Add(1)
	go s.monitorLeader()
	return s, nil
}

// Serve accepts connections on l until Stop.
func (s *Server) Serve(l net.Listener) error {
	err := s.grpc.Serve(l)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop closes every connection and stream at once (clients fail over to
// another member) and waits for the API's goroutines.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.health.Shutdown()
		s.grpc.Stop()
		s.urls.close()
	})
	s.done.Wait()
}

// WatchStreams is the number of open Watch streams (for tests and metrics).
func (s *Server) WatchStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.watchStreams
}

// requestContext bounds one request as etcd's ReqTimeout does (5 s plus
// two election timeouts): a proposal lost with a leader that died fails
// with etcd's "request timed out" instead of waiting for the client's
// deadline.
func (s *Server) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, requestTimeoutBase+2*s.node.ElectionTimeout())
}

// clusterID derives etcd's cluster_id from the cluster name, so every
// member reports the same one.
func clusterID(name string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("natsraft-cluster:" + name))
	return h.Sum64()
}

// header is etcd's response header at revision rev (the node's current
// revision when 0).
func (s *Server) header(rev int64) *pb.ResponseHeader {
	if rev == 0 {
		rev = s.node.Revision()
	}
	return &pb.ResponseHeader{ClusterId: s.clusterID, MemberId: s.node.ID(), Revision: rev, RaftTerm: s.node.Status().Term}
}

// requiresLeader reports whether the caller set etcd's hasleader metadata
// (clientv3.WithRequireLeader).
func requiresLeader(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	ks := md[rpctypes.MetadataRequireLeaderKey]
	return len(ks) > 0 && ks[0] == rpctypes.MetadataHasLeader
}

func (s *Server) hasLeader() bool { return s.node.Status().LeaderID != 0 }

func (s *Server) isLearner() bool { return s.node.Status().Role == "learner" }

// unaryInterceptor refuses, as etcd does, what a learner does not serve
// and requests that require a leader when there is none.
func (s *Server) unaryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.isLearner() && !learnerServes(req) {
		return nil, rpctypes.ErrGRPCNotSupportedForLearner
	}
	if requiresLeader(ctx) && !s.hasLeader() {
		return nil, rpctypes.ErrGRPCNoLeader
	}
	return handler(ctx, req)
}

// learnerServes is etcd's isRPCSupportedForLearner.
func learnerServes(req any) bool {
	switch r := req.(type) {
	case *pb.StatusRequest:
		return true
	case *pb.RangeRequest:
		return r.Serializable
	}
	return false
}

// streamInterceptor does the same for streams, and registers the streams
// that require a leader with monitorLeader.
func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if s.isLearner() {
		return rpctypes.ErrGRPCNotSupportedForLearner
	}
	if !requiresLeader(ss.Context()) {
		return handler(srv, ss)
	}
	if !s.hasLeader() {
		return rpctypes.ErrGRPCNoLeader
	}
	ls := newLeaderStream(ss)
	s.mu.Lock()
	s.mu.leaderStreams[ls] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.mu.leaderStreams, ls)
		s.mu.Unlock()
		ls.cancel(nil)
	}()
	return handler(srv, ls)
}

// leaderStream is a stream whose context monitorLeader cancels with the
// no-leader error.
type leaderStream struct {
	grpc.ServerStream
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func newLeaderStream(ss grpc.ServerStream) *leaderStream {
	ctx, cancel := context.WithCancelCause(ss.Context())
	return &leaderStream{ServerStream: ss, ctx: ctx, cancel: cancel}
}

func (ls *leaderStream) Context() context.Context { return ls.ctx }

// monitorLeader ends the streams that require a leader once the node has
// had none for noLeaderTimeouts election timeouts, as etcd does: they are
// costlier to re-establish than single requests, so it waits a little.
func (s *Server) monitorLeader() {
	defer s.done.Done()
	timeout := time.NewTicker(s.node.ElectionTimeout())
	defer timeout.Stop()
	leaderless := 0
	for {
		select {
		case <-s.stop:
			return
		case <-timeout.C:
		}
		if s.hasLeader() {
			leaderless = 0
			continue
		}
		if leaderless++; leaderless < noLeaderTimeouts {
			continue
		}
		s.mu.Lock()
		for ls := range s.mu.leaderStreams {
			ls.cancel(rpctypes.ErrGRPCNoLeader)
			delete(s.mu.leaderStreams, ls)
		}
		s.mu.Unlock()
	}
}
