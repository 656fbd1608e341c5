package natstransport

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// RandomPort asks for any free port.
const RandomPort = -1

// ServerOptions configure an embedded nats-server: the default for the
// single binary (one per node, joined by routes into one NATS cluster) and
// for tests.
type ServerOptions struct {
	Name       string // server name (default: generated)
	Host       string // client listen host (default 127.0.0.1)
	Port       int    // client port; 0 or RandomPort: any free port
	MaxPayload int32  // largest message (default: the server's 1 MiB)
	DontListen bool   // no client listener: in-process connections only

	ClusterName string // NATS cluster name (default "natsraft")
	ClusterHost string // route listen host (default Host)
	// ClusterPort is the route port; RandomPort for any. 0 means no route
	// listener, unless Routes are given (then any free port).
	ClusterPort int
	// Routes are the route URLs of the other servers, e.g.
	// "nats-route://10.0.0.2:6222". A server recognises and skips its own,
	// so every node may be given the same list.
	Routes []string

	Users []User      // authorization; none and no Token: anyone may connect
	Token string      // a shared token instead of Users
	TLS   *tls.Config // client TLS; set ClientAuth to require client certificates

	ReadyTimeout time.Duration // default 10s
	Logger       *slog.Logger  // nil: the server logs nothing
}

// User is an account of the embedded server with its permissions.
type User struct {
	Name     string
	Password string
	// Nkey is a public user nkey ("U..."), instead of Name and Password.
	Nkey string
	// Publish and Subscribe list the subjects allowed (wildcards allowed);
	// nil allows everything. See PublishPermission and SubscribePermission
	// for what a node needs.
	Publish   []string
	Subscribe []string
}

// StartServer starts an in-process nats-server and waits until it accepts
// connections. Stop it with Shutdown (and WaitForShutdown).
func StartServer(opts ServerOptions) (*server.Server, error) {
	so := opts.serverOptions()
	s, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("natstransport: nats-server: %w", err)
	}
	if opts.Logger != nil {
		debug := opts.Logger.Enabled(context.Background(), slog.LevelDebug)
		s.SetLoggerV2(serverLogger{opts.Logger}, debug, false, false)
	}
	s.Start()
	if !s.ReadyForConnections(orDefault(opts.ReadyTimeout, 10*time.Second)) {
		s.Shutdown()
		return nil, fmt.Errorf("natstransport: nats-server %s not ready", so.ServerName)
	}
	return s, nil
}

func (o *ServerOptions) serverOptions() *server.Options {
	so := &server.Options{
		ServerName:    o.Name,
		Host:          o.Host,
		Port:          o.Port,
		MaxPayload:    o.MaxPayload,
		DontListen:    o.DontListen,
		NoSigs:        true,
		NoLog:         o.Logger == nil,
		Authorization: o.Token,
		PingInterval:  time.Second,
		MaxPingsOut:   3,
		WriteDeadline: 2 * time.Second,
	}
	if so.Host == "" {
		so.Host = "127.0.0.1"
	}
	if so.Port == 0 {
		so.Port = server.RANDOM_PORT
	}
	o.clusterOptions(so)
	for _, u := range o.Users {
		perms := u.permissions()
		if u.Nkey != "" {
			so.Nkeys = append(so.Nkeys, &server.NkeyUser{Nkey: u.Nkey, Permissions: perms})
			continue
		}
		so.Users = append(so.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: perms})
	}
	if o.TLS != nil {
		so.TLS, so.TLSConfig = true, o.TLS
		so.TLSVerify = o.TLS.ClientAuth == tls.RequireAndVerifyClientCert
		so.TLSTimeout = 2
	}
	return so
}

func (o *ServerOptions) clusterOptions(so *server.Options) {
	port := o.ClusterPort
	if port == 0 && len(o.Routes) > 0 {
		port = RandomPort
	}
	if port == 0 {
		return
	}
	so.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: o.ClusterHost, Port: port}
	if so.Cluster.Name == "" {
		so.Cluster.Name = "natsraft"
	}
	if so.Cluster.Host == "" {
		so.Cluster.Host = so.Host
	}
	if len(o.Routes) > 0 {
		so.Routes = server.RoutesFromStr(strings.Join(o.Routes, ","))
	}
}

func (u *User) permissions() *server.Permissions {
	if u.Publish == nil && u.Subscribe == nil {
		return nil
	}
	p := &server.Permissions{}
	if u.Publish != nil {
		p.Publish = &server.SubjectPermission{Allow: u.Publish}
	}
	if u.Subscribe != nil {
		p.Subscribe = &server.SubjectPermission{Allow: u.Subscribe}
	}
	return p
}

// RouteURL returns the URL other servers use to route to s, or "" when s
// has no route listener.
func RouteURL(s *server.Server) string {
	addr := s.ClusterAddr()
	if addr == nil {
		return ""
	}
	return "nats-route://" + addr.String()
}

// RoutedServers returns how many other servers s has a route to, for
// readiness checks. (A pair of servers may share several route
// connections; they count once.)
func RoutedServers(s *server.Server) int {
	rz, err := s.Routez(&server.RoutezOptions{})
	if err != nil {
		return 0
	}
	remotes := make(map[string]struct{}, len(rz.Routes))
	for _, r := range rz.Routes {
		remotes[r.RemoteID] = struct{}{}
	}
	return len(remotes)
}

// serverLogger routes the server's log to slog.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.HasPrefix(msg, routeRetryPrefix) {
		l.log.Warn(msg) // a peer not up yet, or down: expected, and retried
		return
	}
	l.log.Error(msg)
}

// routeRetryPrefix begins the server's message for a failed attempt to
// connect a route, which it retries every second.
const routeRetryPrefix = "Error trying to connect to route"

func (l serverLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Tracef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
