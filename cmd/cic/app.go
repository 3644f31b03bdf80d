package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/infra"
	"github.com/cic-platform/cic/infra/outbound"
	"github.com/cic-platform/cic/infra/secretbox"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

// redisPrefix namespaces the product's own Redis keys (rate limits, CSRF
// tokens); asynq keeps its "asynq:" keys apart.
const redisPrefix = "cic:"

// app is what serve, worker and demo share: the app-role pool, Redis and
// the tenancy service wired like production.
type app struct {
	cfg     Config
	log     *slog.Logger
	pool    *pgxpool.Pool
	redis   *redis.Client
	tenants *tenant.Service
	billing *billing.Service
	// jobs enqueues asynq tasks (the Stripe customer after sign-up).
	jobs  *asynq.Client
	seats *seats.Service
}

// openApp connects to PostgreSQL as the app role and to Redis and builds
// the tenant service, signing with keys. passwords, when not nil,
// overrides the argon2 costs (tests only).
func openApp(ctx context.Context, cfg Config, log *slog.Logger, keys *tenant.Keys, passwords *tenant.PasswordParams) (*app, error) {
	dsn, err := cfg.AppDSN()
	if err != nil {
		return nil, err
	}
	pool, err := infra.OpenPool(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", redact(dsn), err)
	}
	rdb, err := infra.OpenRedis(ctx, cfg.RedisURL)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("redis %s: %w", redact(cfg.RedisURL), err)
	}
	svc := tenant.NewService(&tenant.DB{Pool: pool}, keys, tenant.NewLimiter(rdb, redisPrefix, tenant.DefaultLimits))
	if passwords != nil {
		svc.Password = *passwords
	}
	// Every new tenant starts with the trial contacts and seats, recorded
	// in the sign-up transaction by the packages that own those tables.
	svc.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial), seats.TrialHook(seats.DefaultTrial)}
	svc.Logger = log
	seatSvc := seats.NewService(svc.DB, seats.NewLeases(rdb, redisPrefix), log)
	// A deactivated user's seat is freed at once, not when it runs out.
	svc.AfterDeactivate = func(ctx context.Context, tenantID, userID uuid.UUID) error {
		return seatSvc.ReleaseUser(ctx, tenantID, userID)
	}
	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		pool.Close()
		_ = rdb.Close()
		return nil, fmt.Errorf("REDIS_URL for asynq: %w", err)
	}
	jobs := asynq.NewClient(redisOpt)
	// Its Stripe customer is made by the worker, retried until Stripe
	// answers; sign-up does not wait for it.
	svc.AfterSignup = billing.AfterSignup(jobs)
	log.Debug("connected", "postgres", redact(dsn), "redis", redact(cfg.RedisURL))
	return &app{cfg: cfg, log: log, pool: pool, redis: rdb, tenants: svc, seats: seatSvc, jobs: jobs, billing: newBilling(cfg, svc.DB, keys, log)}, nil
}

// newBilling wires billing as BILLING_MODE says: Stripe (its key and
// webhook secret), the local checkout (its secret derived from the
// signing keys: random per installation, shared by the replicas that
// share the keys), or off (nothing sold, every webhook event refused).
func newBilling(cfg Config, db *tenant.DB, keys *tenant.Keys, log *slog.Logger) *billing.Service {
	b := &billing.Service{DB: db, PublicURL: cfg.PublicURL, Logger: log}
	switch cfg.BillingMode {
	case billing.ModeStripe:
		b.Stripe = billing.NewStripe(cfg.StripeSecretKey, cfg.StripeAPIBase, nil)
		b.WebhookSecret = cfg.StripeWebhookSecret
	case billing.ModeLocal:
		b.Local = true
		b.WebhookSecret = billing.LocalWebhookSecret(keys)
	}
	return b
}

// loadKeys returns the JWT signing ring: JWT_KEYS when set (several
// replicas), else DATA_DIR/jwt-keys, created on first use (one machine).
func loadKeys(cfg Config) (*tenant.Keys, error) {
	if cfg.JWTKeys != "" {
		keys, err := tenant.ParseKeys(cfg.JWTKeys)
		if err != nil {
			return nil, fmt.Errorf("JWT_KEYS: %w", err)
		}
		return keys, nil
	}
	path := filepath.Join(cfg.DataDir, "jwt-keys")
	keys, err := tenant.LoadOrCreateKeys(path)
	if err != nil {
		return nil, fmt.Errorf("JWT signing keys %s (set DATA_DIR to a writable folder, or JWT_KEYS): %w", path, err)
	}
	return keys, nil
}

// secretsPurpose names the JWT-derived keys of secrets at rest.
const secretsPurpose = "secrets-at-rest"

// openSecrets returns the box sealing secrets at rest: SECRETS_KEY when
// set, else keys derived from the JWT ring (keys, or loadKeys's when
// nil), which rotate with it: after a new JWT key goes first, run `cic
// secrets rotate` before the old one is dropped.
func openSecrets(cfg Config, keys *tenant.Keys) (*secretbox.Box, error) {
	if cfg.SecretsKey != "" {
		ks, err := secretbox.ParseKeys(cfg.SecretsKey)
		if err != nil {
			return nil, fmt.Errorf("SECRETS_KEY: %w", err)
		}
		return secretbox.New(ks...)
	}
	if keys == nil {
		var err error
		if keys, err = loadKeys(cfg); err != nil {
			return nil, err
		}
	}
	return secretbox.New(keys.DeriveRing(secretsPurpose)...)
}

// outboundPolicy is where calls to tenant-given URLs may go.
func outboundPolicy(cfg Config) *outbound.Policy {
	return &outbound.Policy{AllowPrivate: cfg.AllowPrivateOutbound}
}

// newDirectory is the channel directory as serve, demo and `cic secrets`
// use it: secrets sealed with box, API addresses under the policy.
func newDirectory(cfg Config, db *tenant.DB, box *secretbox.Box) *directory.Directory {
	return &directory.Directory{DB: db, InboundDomain: cfg.InboundDomain, Secrets: box, Outbound: outboundPolicy(cfg)}
}

// Close releases the connections; the caller has stopped using them.
func (a *app) Close() {
	if err := a.jobs.Close(); err != nil {
		a.log.Warn("closing job client", "err", err)
	}
	if err := a.redis.Close(); err != nil {
		a.log.Warn("closing redis", "err", err)
	}
	a.pool.Close()
}
