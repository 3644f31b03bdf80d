package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/live"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/web"
)

// shutdownTimeout bounds the wait for in-flight requests on SIGTERM; it
// stays under the usual 30 s a container runtime grants before SIGKILL.
const shutdownTimeout = 10 * time.Second

func (m *Main) serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	slog.SetDefault(log)
	keys, err := loadKeys(cfg)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, log, keys, m.passwords)
	if err != nil {
		return err
	}
	defer a.Close()

	// The Meter's flushers commit the contacts integrators report; it
	// starts before the server takes requests and closes after the last
	// request has finished, so no acknowledged contact is left behind.
	meter := metering.NewMeter(a.tenants.DB)
	meter.Logger = log
	meter.Start()
	defer meter.Close()

	switch a.billing.Mode() {
	case billing.ModeLocal:
		log.Warn("BILLING_MODE=local: purchases go through the built-in local checkout (no card, same signed-webhook path); never for real customers", "self_url", cfg.selfURL())
	case billing.ModeOff:
		log.Warn("billing is off (no STRIPE_SECRET_KEY, BILLING_MODE not local): nothing can be bought and /webhooks/stripe refuses every event")
	}
	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL for asynq: %w", err)
	}
	jobs := asynq.NewInspector(redisOpt)
	defer jobs.Close()

	// Routing: the engine in Redis, the setup that configures it, the
	// contacts that record it, and the ticker that keeps it moving.
	engine := routing.New(a.redis, redisPrefix)
	routingSetup := &setup.Service{DB: a.tenants.DB}
	contactSvc := contacts.New(a.tenants.DB, engine, routingSetup, meter, log)
	routingSetup.OnChange = contactSvc.SetupChanged
	// Every recorded change goes to the desks and wallboards of every
	// replica (routing/live); the chat hook below wraps this one.
	contactSvc.Notify = live.NewPublisher(a.redis, redisPrefix, log).Notify
	tickCtx, stopTicker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTicker()
	ticker := &contacts.Ticker{Contacts: contactSvc, Holders: seatHolders(a.seats)}
	// Rebuilding routing from PostgreSQL when Redis lost it: who holds a
	// seat, and the counters on /metrics.
	contactSvc.Seated = ticker.Holders
	promRegistry := prometheus.NewRegistry()
	contactSvc.Metrics = contacts.NewMetrics(promRegistry)

	// Web chat: one Redis subscription per process fans messages out to
	// the sockets it serves; contact changes reach the visitors too.
	chatSvc := chat.New(a.tenants.DB, contactSvc, routingSetup, a.redis, redisPrefix, log)
	chatSvc.IdentityKey = keys.Derive(chat.IdentityPurpose)
	defer chatSvc.Close()
	notify := contactSvc.Notify
	contactSvc.Notify = func(tenantID uuid.UUID, kind string, contactID uuid.UUID, agentID *uuid.UUID) {
		if notify != nil {
			notify(tenantID, kind, contactID, agentID)
		}
		chatSvc.ContactChanged(tenantID, kind, contactID, agentID)
	}
	ticker.Sweeps = append(ticker.Sweeps, func(ctx context.Context, tenantID uuid.UUID) error {
		return chatSvc.SweepGone(ctx, tenantID, chat.LeaveGraceSweep)
	})

	wc := web.Config{
		Chat:        chatSvc,
		Setup:       routingSetup,
		Contacts:    contactSvc,
		Billing:     a.billing,
		SelfURL:     cfg.selfURL(),
		Reports:     newReports(a, cfg, log, nil),
		Jobs:        jobs,
		Enqueue:     a.jobs,
		Tenants:     a.tenants,
		Meter:       meter,
		Seats:       a.seats,
		Pool:        a.pool,
		Redis:       a.redis,
		Logger:      log,
		PublicURL:   cfg.PublicURL,
		RedisPrefix: redisPrefix,
		// A registry of our own rather than the global one, so /metrics
		// shows exactly what this process registered.
		Registry: promRegistry,
	}
	// Checked by LoadConfig.
	wc.TrustedProxies, _ = web.ParseTrustedProxies(cfg.TrustedProxies)
	// The channels beyond chat: e-mail (its SMTP listener), calls, SMS,
	// social, fax; one customer behind them; the survey after close.
	// Providers' secrets are sealed; what an older version stored in
	// plain text is sealed before the first request.
	box, err := openSecrets(cfg, keys)
	if err != nil {
		return err
	}
	dir := newDirectory(cfg, a.tenants.DB, box)
	sealing, err := dir.SealSecrets(ctx, false)
	if err != nil {
		return fmt.Errorf("seal provider secrets: %w", err)
	}
	if sealing.Sealed > 0 {
		log.Info("sealed provider secrets kept in plain text", "count", sealing.Sealed)
	}
	if sealing.Unreadable > 0 {
		// None opens: the key is wrong, and every provider webhook would fail.
		if sealing.Opened == 0 {
			return fmt.Errorf("no provider secret opens with the configured key (SECRETS_KEY, or the JWT keys it is derived from): %w", sealing.First)
		}
		log.Error("provider secrets that no configured key opens", "count", sealing.Unreadable, "first", sealing.First)
	}
	if cfg.AllowPrivateOutbound {
		log.Warn("ALLOW_PRIVATE_OUTBOUND=1: provider API addresses may lead to private and loopback addresses (local stubs only)")
	}
	customers := &customer.Service{DB: a.tenants.DB}
	registry := &channels.Registry{}
	stopChannels, err := startChannels(ctx, channelDeps{app: a, cfg: cfg, log: log, contacts: contactSvc, customers: customers,
		conversations: &conversation.Store{DB: a.tenants.DB}, directory: dir, registry: registry,
		ticker: ticker}, &wc)
	if err != nil {
		return err
	}
	defer stopChannels()
	go ticker.Run(tickCtx)
	registry.Register(chat.Channel{S: chatSvc})
	surveys := &customer.Surveys{DB: a.tenants.DB, Channels: registry}
	contactSvc.OnClosed = func(ctx context.Context, tenantID uuid.UUID, c contacts.Contact) error {
		return surveys.ContactClosed(ctx, tenantID, c.ID, c.Channel)
	}
	srv, err := web.New(wc)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}

	stopMetrics, err := serveMetrics(cfg.MetricsAddr, srv.MetricsHandler(), log)
	if err != nil {
		return err
	}
	defer stopMetrics()

	listenErr := make(chan error, 1)
	go func() { listenErr <- srv.Listen(cfg.HTTPAddr) }()
	log.Info("starting HTTP server", "addr", cfg.HTTPAddr, "public_url", cfg.PublicURL)

	select {
	case err := <-listenErr:
		// Listen only returns early when it could not start (port taken).
		if err == nil {
			err = errors.New("server stopped unexpectedly")
		}
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Bounded: a signal that lands before Listen has bound the port
	// leaves a listener Shutdown never saw.
	select {
	case err := <-listenErr:
		if err != nil {
			log.Warn("listener", "err", err)
		}
	case <-sctx.Done():
		log.Warn("listener did not stop within the shutdown timeout")
	}
	log.Info("stopped")
	return nil
}

// serveMetrics serves /metrics on addr (METRICS_ADDR), a listener apart
// from the public one; empty addr: none. The port is bound before it
// returns, so a taken port stops serve at once.
func serveMetrics(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	}, nil
}
