// Package app wires the Rollcall server together: it opens the store and
// the CA in the data directory, and serves the agent API and the web side
// on their own listeners until its context ends.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/grpcapi"
	"github.com/rollcall/rollcall/server/notify"
	"github.com/rollcall/rollcall/server/pki"
	"github.com/rollcall/rollcall/server/vault"
	"github.com/rollcall/rollcall/server/web"
)

// Options configure a running server.
type Options struct {
	DataDir         string
	Config          Config // DB, addresses; empty addresses take the defaults
	Logger          *slog.Logger
	CheckInInterval time.Duration // zero means grpcapi.DefaultCheckInInterval
	// SMTPPassword goes with Config.SMTP.Username; it is never stored.
	SMTPPassword string
	// Remember, when not nil, is written into the data directory once the
	// store and both listeners are ready and before anything is served,
	// so a later command that finds the server up finds its database too.
	Remember *Config
}

// App is a running server.
type App struct {
	Store inventory.Store
	CA    *pki.CA

	// AgentAddr and HTTPAddr are the addresses actually listened on.
	AgentAddr net.Addr
	HTTPAddr  net.Addr
	// Advertise is the host:port written into enrolment tokens.
	Advertise string

	logger *slog.Logger
	grpc   *grpc.Server
	http   *http.Server
	errc   chan error
	// sweeping is closed to stop the background sweep, which then
	// closes sweepDone.
	sweeping  chan struct{}
	sweepDone chan struct{}
	// mail sends the loan emails (nil: email is off); publicURL starts
	// their links.
	mail      web.Mailer
	outbox    *notify.Outbox
	publicURL string
}

// Start opens the store and the CA, listens on both addresses and serves
// in the background. Call Wait to serve until ctx ends.
func Start(ctx context.Context, o Options) (*App, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := Config{AgentAddr: DefaultAgentAddr, HTTPAddr: DefaultHTTPAddr}.Merge(o.Config)
	store, err := OpenStore(ctx, o.DataDir, cfg.DB)
	if err != nil {
		return nil, err
	}
	a := &App{Store: store, logger: logger, errc: make(chan error, 2)}
	if err := a.start(ctx, o, cfg); err != nil {
		store.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, o Options, cfg Config) error {
	now := time.Now()
	ca, err := pki.LoadOrCreateCA(o.DataDir, now)
	if err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	a.CA = ca
	agentLn, err := net.Listen("tcp", cfg.AgentAddr)
	if err != nil {
		return fmt.Errorf("agent listener: %w", err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		agentLn.Close()
		return fmt.Errorf("web listener: %w", err)
	}
	a.AgentAddr, a.HTTPAddr = agentLn.Addr(), httpLn.Addr()
	a.Advertise = AdvertiseAddr(cfg.Advertise, a.AgentAddr.String())

	cert, err := ca.LoadOrCreateServerCert(o.DataDir, certHosts(a.Advertise, cfg.AgentAddr), now)
	if err != nil {
		agentLn.Close()
		httpLn.Close()
		return fmt.Errorf("agent listener certificate: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := []grpcapi.Option{grpcapi.WithMetrics(reg)}
	if o.CheckInInterval > 0 {
		opts = append(opts, grpcapi.WithCheckInInterval(o.CheckInInterval))
	}
	v, err := vault.LoadOrCreate(o.DataDir)
	if err != nil {
		agentLn.Close()
		httpLn.Close()
		return fmt.Errorf("vault: %w", err)
	}
	if err := a.startMail(o, cfg, reg); err != nil {
		agentLn.Close()
		httpLn.Close()
		return err
	}
	a.grpc = grpcapi.New(a.logger, a.Store, ca, v, opts...).NewGRPCServer(cert)
	advertise := a.Advertise
	a.http = &http.Server{
		Handler: web.NewServer(a.logger, a.Store, reg, web.Options{
			Vault:      v,
			TrustProxy: cfg.TrustProxy,
			Mail:       a.mail,
			PublicURL:  a.publicURL,
			Enroll: func(ctx context.Context, school string, uses int, ttl time.Duration) (string, error) {
				return admin.CreateEnrollToken(ctx, a.Store, ca, admin.EnrollTokenRequest{School: school, Uses: uses, TTL: ttl, Advertise: advertise, Now: time.Now()})
			},
		}),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if o.Remember != nil {
		if err := SaveConfig(o.DataDir, *o.Remember); err != nil {
			agentLn.Close()
			httpLn.Close()
			return fmt.Errorf("remember configuration: %w", err)
		}
	}
	a.sweeping, a.sweepDone = make(chan struct{}), make(chan struct{})
	go a.sweep(context.WithoutCancel(ctx), a.sweeping)
	go func() { a.errc <- a.grpc.Serve(agentLn) }()
	go func() {
		if err := a.http.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			a.errc <- err
			return
		}
		a.errc <- nil
	}()
	a.logger.Info("serving", "agent_addr", a.AgentAddr.String(), "http_addr", a.HTTPAddr.String(), "advertise", a.Advertise)
	return nil
}

// Wait serves until ctx ends or a listener fails, then shuts down
// gracefully and closes the store.
func (a *App) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-a.errc:
	}
	a.shutdown()
	return err
}

func (a *App) shutdown() {
	const grace = 10 * time.Second
	var wg sync.WaitGroup
	wg.Go(func() {
		done := make(chan struct{})
		go func() { a.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			a.grpc.Stop()
		}
	})
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := a.http.Shutdown(ctx); err != nil {
			a.http.Close()
		}
	})
	// Close the store only when no handler or sweep can still use it.
	close(a.sweeping)
	wg.Wait()
	<-a.sweepDone
	if a.outbox != nil {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		if err := a.outbox.Close(ctx); err != nil {
			a.logger.Error("emails still queued at shutdown were not sent", "err", err)
		}
		cancel()
	}
	a.Store.Close()
}

// startMail sets up the outbox for the school's relay, or no email at
// all when none is configured, and the address the emails' links start
// with.
func (a *App) startMail(o Options, cfg Config, reg prometheus.Registerer) error {
	a.publicURL = strings.TrimRight(cfg.PublicURL, "/")
	if a.publicURL == "" {
		a.publicURL = "http://" + AdvertiseAddr("", a.HTTPAddr.String())
	}
	if cfg.SMTP.Host == "" {
		a.logger.Info("email is off: no SMTP relay is configured (serve --smtp-host)")
		return nil
	}
	c := notify.Config{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username, Password: o.SMTPPassword, From: cfg.SMTP.From, Security: cfg.SMTP.Security}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	smtp, err := notify.NewSMTP(c)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	a.outbox = notify.NewOutbox(a.logger, smtp, notify.OutboxOptions{Registerer: reg})
	a.mail = a.outbox
	return nil
}

// AdvertiseAddr returns the address agents should dial: advertise when
// given, else the listen address with an empty or unspecified host replaced
// by this machine's host name. It returns "" when both are empty.
func AdvertiseAddr(advertise, listen string) string {
	if advertise != "" || listen == "" {
		return advertise
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	return net.JoinHostPort(host, port)
}

// certHosts lists the names the agent listener's certificate must cover.
func certHosts(advertise, listen string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, a := range []string{advertise, listen} {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
				hosts = append(hosts, h)
			}
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	return hosts
}
