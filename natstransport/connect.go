package natstransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectOptions configure a client connection to the embedded server or to
// an external NATS deployment. The connection reconnects forever with
// exponential backoff and jitter.
type ConnectOptions struct {
	URL  string // one URL or a comma-separated list (default nats.DefaultURL)
	Name string // connection name shown by the server's monitoring

	// InProcess connects to an embedded server without TCP (a
	// *server.Server is one); URL is then ignored.
	InProcess nats.InProcessConnProvider

	// Authentication: at most one of user/password, token, nkey seed file
	// and creds file.
	User, Password string
	Token          string
	NkeySeedFile   string
	CredsFile      string

	// TLS: TLSCAFile is trusted for the server's certificate; TLSCertFile
	// and TLSKeyFile present a client certificate.
	TLSCAFile   string
	TLSCertFile string
	TLSKeyFile  string

	// ReconnectWaitMin is the first delay between reconnect attempts
	// (default 50ms); it doubles up to ReconnectWaitMax (default 2s).
	ReconnectWaitMin time.Duration
	ReconnectWaitMax time.Duration
	// ReconnectBufBytes bounds what is published while disconnected and
	// sent after reconnecting (0: the client's 8 MiB; negative: none).
	ReconnectBufBytes int
	// RetryOnFailedConnect returns a connection that keeps trying in the
	// background when the first attempt fails, instead of an error.
	RetryOnFailedConnect bool
	// PingInterval is how often the client checks the server (default 10s;
	// two unanswered pings count as a disconnect).
	PingInterval time.Duration

	// Events, when set, counts connection events for metrics.
	Events *ConnEvents
	// OnEvent, when set, is called on every event, from the client's
	// callback goroutine; it must not block.
	OnEvent func(ev ConnEvent, err error)
	Logger  *slog.Logger // nil: no logging
}

// ConnEvent is something that happened to a connection.
type ConnEvent uint8

const (
	EventDisconnected ConnEvent = iota
	EventReconnected
	EventClosed
	EventSlowConsumer // a subscription's pending limit was hit and messages were dropped
	EventError        // an asynchronous error: permissions violation, protocol error
)

var connEventNames = [...]string{"disconnected", "reconnected", "closed", "slow_consumer", "error"}

func (e ConnEvent) String() string {
	if int(e) < len(connEventNames) {
		return connEventNames[e]
	}
	return fmt.Sprintf("ConnEvent(%d)", uint8(e))
}

// ConnEvents counts connection events. Slow consumer events are counted
// once per episode by the client; the messages dropped are in the
// transport's Stats (DropSlowConsumer).
type ConnEvents struct {
	Disconnects   atomic.Uint64
	Reconnects    atomic.Uint64
	Closes        atomic.Uint64
	SlowConsumers atomic.Uint64
	Errors        atomic.Uint64
}

func (c *ConnEvents) count(ev ConnEvent) {
	counters := [...]*atomic.Uint64{&c.Disconnects, &c.Reconnects, &c.Closes, &c.SlowConsumers, &c.Errors}
	counters[ev].Add(1)
}

// Connect dials NATS with opts.
func Connect(opts ConnectOptions) (*nats.Conn, error) {
	nopts, err := opts.natsOptions()
	if err != nil {
		return nil, err
	}
	url := opts.URL
	if url == "" || opts.InProcess != nil {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		return nil, fmt.Errorf("natstransport: connect %s: %w", url, err)
	}
	return nc, nil
}

func (o *ConnectOptions) natsOptions() ([]nats.Option, error) {
	auth, err := o.authOptions()
	if err != nil {
		return nil, err
	}
	waitMin := orDefault(o.ReconnectWaitMin, 50*time.Millisecond)
	waitMax := max(orDefault(o.ReconnectWaitMax, 2*time.Second), waitMin)
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectBackoff(waitMin, waitMax)),
		nats.PingInterval(orDefault(o.PingInterval, 10*time.Second)),
		nats.MaxPingsOutstanding(2),
	}
	opts = append(opts, auth...)
	opts = append(opts, o.tlsOptions()...)
	opts = append(opts, o.eventOptions()...)
	if o.InProcess != nil {
		opts = append(opts, nats.InProcessServer(o.InProcess))
	}
	if o.ReconnectBufBytes != 0 {
		opts = append(opts, nats.ReconnectBufSize(o.ReconnectBufBytes))
	}
	if o.RetryOnFailedConnect {
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	return opts, nil
}

func (o *ConnectOptions) authOptions() ([]nats.Option, error) {
	var opts []nats.Option
	if o.User != "" || o.Password != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.NkeySeedFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("%w: nkey seed: %w", ErrConfig, err)
		}
		opts = append(opts, opt)
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if len(opts) > 1 {
		return nil, fmt.Errorf("%w: more than one of user/password, token, nkey, creds", ErrConfig)
	}
	return opts, nil
}

func (o *ConnectOptions) tlsOptions() []nats.Option {
	var opts []nats.Option
	if o.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(o.TLSCAFile))
	}
	if o.TLSCertFile != "" || o.TLSKeyFile != "" {
		opts = append(opts, nats.ClientCert(o.TLSCertFile, o.TLSKeyFile))
	}
	return opts
}

// eventOptions installs the handlers that count, log and forward events.
func (o *ConnectOptions) eventOptions() []nats.Option {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	notify := func(ev ConnEvent, err error) {
		if o.Events != nil {
			o.Events.count(ev)
		}
		level := slog.LevelInfo
		if ev >= EventSlowConsumer {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "natstransport: nats "+ev.String(), "name", o.Name, "err", err)
		if o.OnEvent != nil {
			o.OnEvent(ev, err)
		}
	}
	return []nats.Option{
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { notify(EventDisconnected, err) }),
		nats.ReconnectHandler(func(*nats.Conn) { notify(EventReconnected, nil) }),
		nats.ClosedHandler(func(*nats.Conn) { notify(EventClosed, nil) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				notify(EventSlowConsumer, err)
				return
			}
			notify(EventError, err)
		}),
	}
}

// reconnectBackoff doubles the delay from waitMin to waitMax per attempt
// and draws it uniformly from its upper half, so restarted nodes do not
// reconnect in lockstep.
func reconnectBackoff(waitMin, waitMax time.Duration) nats.ReconnectDelayHandler {
	return func(attempts int) time.Duration {
		shift := min(max(attempts-1, 0), 20)
		d := min(waitMin<<shift, waitMax)
		return d/2 + rand.N(d/2+1)
	}
}
