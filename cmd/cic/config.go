package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/infra"
	"github.com/cic-platform/cic/infra/secretbox"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/web"
)

// Defaults point at the private PostgreSQL and Redis that
// infra/scripts/services.sh starts, so a fresh checkout runs unconfigured.
const (
	defaultDatabaseURL   = "postgres://postgres@127.0.0.1:55432/cic?sslmode=disable"
	defaultAppDBUser     = "cic_app"
	defaultAppDBPassword = "cic_app"
	defaultRedisURL      = "redis://127.0.0.1:56379/0"
	defaultHTTPAddr      = ":8080"
	defaultSMTPAddr      = ":2525"
	defaultInboundDomain = "mail.localhost"
	defaultPublicURL     = "http://localhost:8080"
	defaultDataDir       = "./.data"
	// Loopback only: a proxy on the same host. A load balancer elsewhere
	// must be named, or every client could claim any address.
	defaultTrustedProxies = "127.0.0.0/8,::1/128"
	// Loopback: the metrics are for the host's scraper, not the public.
	defaultMetricsAddr = "127.0.0.1:9090"
)

// Config is everything cic reads from the environment.
type Config struct {
	// DatabaseURL is the owner's (superuser or schema owner's) URL: only
	// migrate uses it directly; the others derive the app role's from it.
	DatabaseURL string
	// AppDatabaseURL, when set, is used as is by serve, worker and demo
	// instead of DatabaseURL with the app role's credentials.
	AppDatabaseURL string
	AppRole        infra.AppRole
	RedisURL       string
	HTTPAddr       string
	PublicURL      string
	DataDir        string
	// JWTKeys is a comma-separated list of base64 Ed25519 seeds; empty
	// means DataDir/jwt-keys, created on first start.
	JWTKeys   string
	LogLevel  slog.Level
	LogFormat string // json or text
	// SMTPAddr is where serve's inbound SMTP listener (the e-mail
	// channel) listens.
	SMTPAddr string
	// SMTPRelay is the SMTP relay (host:port) outbound mail goes through:
	// agents' replies, low-balance warnings, report-ready mails; empty
	// means outbound mail is off (logged, or marked failed on a contact).
	SMTPRelay string
	// SMTPFrom is the sender of the platform's own mail; empty means
	// metering.DefaultMailFrom.
	SMTPFrom string
	// InboundDomain is the domain of tenant mailboxes:
	// <anything>@<tenant slug>.<InboundDomain>.
	InboundDomain string
	// SMTPMaxBytes is the largest inbound message accepted.
	SMTPMaxBytes int64
	// SMTPMaxConns and SMTPMaxConnsPerIP bound the inbound listener's
	// open connections, in all and from one address.
	SMTPMaxConns, SMTPMaxConnsPerIP int
	// BillingMode is where purchases are paid: billing.ModeStripe (set
	// whenever STRIPE_SECRET_KEY is), billing.ModeLocal (the built-in
	// local checkout, only when BILLING_MODE=local asks for it) or
	// billing.ModeOff (nothing can be bought, the webhook refuses all).
	BillingMode string
	// StripeSecretKey turns Stripe on (sk_... or rk_...).
	StripeSecretKey string
	// StripeWebhookSecret verifies Stripe's webhook (whsec_...); required
	// with a key, and only with one (the local checkout's secret is
	// derived from the signing keys).
	StripeWebhookSecret string
	// StripeAPIBase replaces https://api.stripe.com (stripe-mock, a proxy).
	StripeAPIBase string
	// SelfURL is how serve reaches itself (the local checkout's webhook
	// call); empty: derived from HTTP_ADDR.
	SelfURL string
	// ReportsDir keeps chargeback report files in this folder (shared by
	// server and worker replicas); empty keeps them in PostgreSQL.
	ReportsDir string
	// ReportsRetention is how long a report and its files are kept.
	ReportsRetention time.Duration
	// SecretsKey seals secrets at rest (providers' auth tokens and
	// webhook secrets): comma-separated base64 32-byte keys, the first
	// sealing; empty: keys derived from the JWT keys.
	SecretsKey string
	// AllowPrivateOutbound lets calls to tenant-given URLs (providers'
	// API addresses) go to http and private or loopback addresses: tests'
	// and `make run`'s stubs only.
	AllowPrivateOutbound bool
	// TrustedProxies are the proxies (comma-separated CIDRs, checked by
	// web.ParseTrustedProxies) whose X-Forwarded-For is believed; the
	// client is the rightmost address not among them.
	TrustedProxies string
	// MetricsAddr is where serve's Prometheus listener (/metrics) listens,
	// apart from the public HTTP_ADDR; empty: no metrics listener.
	MetricsAddr string
}

// envVar documents one setting, for `cic help` and for LoadConfig.
type envVar struct {
	name, def, help string
}

var envVars = []envVar{
	{"DATABASE_URL", defaultDatabaseURL, "PostgreSQL URL of the owner role (runs migrations, creates the app role)"},
	{"APP_DB_USER", defaultAppDBUser, "app role that serve/worker/demo connect as (no BYPASSRLS)"},
	{"APP_DB_PASSWORD", defaultAppDBPassword, "password of the app role"},
	{"APP_DATABASE_URL", "", "full URL for the app role; default: DATABASE_URL with APP_DB_USER/APP_DB_PASSWORD"},
	{"REDIS_URL", defaultRedisURL, "Redis URL (rate limits, CSRF tokens, job queue)"},
	{"HTTP_ADDR", defaultHTTPAddr, "address serve listens on"},
	{"PUBLIC_URL", defaultPublicURL, "URL users reach the server at (links, Secure cookies when https)"},
	{"DATA_DIR", defaultDataDir, "folder for local state (JWT signing keys in DATA_DIR/jwt-keys)"},
	{"JWT_KEYS", "", "comma-separated base64 Ed25519 seeds, first one signs; overrides DATA_DIR/jwt-keys"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
	{"LOG_FORMAT", "text", "text or json"},
	{"SMTP_ADDR", defaultSMTPAddr, "address serve's inbound SMTP listener (the e-mail channel) listens on"},
	{"SMTP_RELAY", "", "SMTP relay host:port for outbound e-mail (replies, low-balance warnings); empty: e-mail is logged, not sent"},
	{"SMTP_FROM", "cic@localhost", "sender address of the platform's own e-mail"},
	{"INBOUND_DOMAIN", defaultInboundDomain, "domain of tenant mailboxes: <anything>@<tenant slug>.<INBOUND_DOMAIN>"},
	{"SMTP_MAX_BYTES", "26214400", "largest inbound e-mail accepted, in bytes (25 MiB)"},
	{"SMTP_MAX_CONNECTIONS", "200", "most connections the inbound SMTP listener holds open at once; more are answered 421"},
	{"SMTP_MAX_CONNECTIONS_PER_IP", "20", "most open inbound SMTP connections from one address; more are answered 421"},
	{"BILLING_MODE", "", "stripe (default when STRIPE_SECRET_KEY is set) or local (the built-in checkout, no card: demos and development only); unset without a key: nothing can be bought (503 billing_not_configured) and /webhooks/stripe refuses every event"},
	{"STRIPE_SECRET_KEY", "", "Stripe secret key (sk_... or rk_...): purchases go to Stripe Checkout"},
	{"STRIPE_WEBHOOK_SECRET", "", "signing secret of the Stripe webhook endpoint /webhooks/stripe (whsec_...); required with STRIPE_SECRET_KEY"},
	{"STRIPE_API_BASE", "", "Stripe API base URL instead of https://api.stripe.com (e.g. stripe-mock)"},
	{"SELF_URL", "", "URL serve reaches itself at, for the local checkout's webhook call; default: from HTTP_ADDR"},
	{"REPORTS_DIR", "", "folder (shared by server and worker) for chargeback report files; unset: kept in PostgreSQL"},
	{"TRUSTED_PROXIES", defaultTrustedProxies, "comma-separated CIDRs of the proxies whose X-Forwarded-For is believed; the client is the rightmost address not in them"},
	{"METRICS_ADDR", defaultMetricsAddr, "address of serve's Prometheus listener (/metrics), apart from HTTP_ADDR; off: none"},
	{"REPORTS_RETENTION", "90d", "how long chargeback reports and their files are kept (e.g. 90d, 2160h; at least 1h)"},
	{"SECRETS_KEY", "", "comma-separated base64 32-byte keys sealing provider secrets at rest, first one seals (rotate: new first, then cic secrets rotate); unset: derived from the JWT keys"},
	{"ALLOW_PRIVATE_OUTBOUND", "0", "1: provider API addresses may be http and private/loopback (local stubs only); 0: https to public addresses only"},
}

// inboundDomain is a host name of two or more labels (localhost alone
// would make a mailbox's slug the whole domain).
var inboundDomain = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Same rule as infra.Migrate's: the role name is spliced into SQL.
var appRoleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// LoadConfig reads the environment through getenv, applying defaults. All
// invalid settings are reported at once, so one run fixes them all.
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	cfg := Config{
		DatabaseURL:    get("DATABASE_URL", defaultDatabaseURL),
		AppDatabaseURL: get("APP_DATABASE_URL", ""),
		AppRole:        infra.AppRole{Name: get("APP_DB_USER", defaultAppDBUser), Password: get("APP_DB_PASSWORD", defaultAppDBPassword)},
		RedisURL:       get("REDIS_URL", defaultRedisURL),
		HTTPAddr:       get("HTTP_ADDR", defaultHTTPAddr),
		PublicURL:      strings.TrimRight(get("PUBLIC_URL", defaultPublicURL), "/"),
		DataDir:        get("DATA_DIR", defaultDataDir),
		JWTKeys:        get("JWT_KEYS", ""),
		LogFormat:      strings.ToLower(get("LOG_FORMAT", "text")),
		SMTPAddr:       get("SMTP_ADDR", defaultSMTPAddr),
		SMTPRelay:      get("SMTP_RELAY", ""),
		SMTPFrom:       get("SMTP_FROM", ""),
		InboundDomain:  strings.ToLower(strings.TrimSuffix(get("INBOUND_DOMAIN", defaultInboundDomain), ".")),

		BillingMode:         strings.ToLower(get("BILLING_MODE", "")),
		StripeSecretKey:     get("STRIPE_SECRET_KEY", ""),
		StripeWebhookSecret: get("STRIPE_WEBHOOK_SECRET", ""),
		StripeAPIBase:       strings.TrimRight(get("STRIPE_API_BASE", ""), "/"),
		SelfURL:             strings.TrimRight(get("SELF_URL", ""), "/"),
		ReportsDir:          get("REPORTS_DIR", ""),
		SecretsKey:          get("SECRETS_KEY", ""),
	}

	if err := checkPostgresURL(cfg.DatabaseURL); err != nil {
		bad("DATABASE_URL", "%v", err)
	}
	if cfg.AppDatabaseURL != "" {
		if err := checkPostgresURL(cfg.AppDatabaseURL); err != nil {
			bad("APP_DATABASE_URL", "%v", err)
		}
	}
	if !appRoleName.MatchString(cfg.AppRole.Name) {
		bad("APP_DB_USER", "%q is not a plain lower-case identifier (letters, digits, _; at most 63)", cfg.AppRole.Name)
	}
	if _, err := redis.ParseURL(cfg.RedisURL); err != nil {
		bad("REDIS_URL", "%v", err)
	} else if _, err := asynq.ParseRedisURI(cfg.RedisURL); err != nil {
		// The worker dials Redis through asynq, which reads the URL itself.
		bad("REDIS_URL", "%v", err)
	}
	if addr, err := normalizeAddr(cfg.HTTPAddr); err != nil {
		bad("HTTP_ADDR", "%v", err)
	} else {
		cfg.HTTPAddr = addr
	}
	if u, err := url.Parse(cfg.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("PUBLIC_URL", "%q is not an absolute http(s) URL", cfg.PublicURL)
	}
	if cfg.JWTKeys != "" {
		if _, err := tenant.ParseKeys(cfg.JWTKeys); err != nil {
			bad("JWT_KEYS", "%v", err)
		}
	}
	switch lvl := strings.ToLower(get("LOG_LEVEL", "info")); lvl {
	case "debug":
		cfg.LogLevel = slog.LevelDebug
	case "info":
		cfg.LogLevel = slog.LevelInfo
	case "warn", "warning":
		cfg.LogLevel = slog.LevelWarn
	case "error":
		cfg.LogLevel = slog.LevelError
	default:
		bad("LOG_LEVEL", "%q: want debug, info, warn or error", lvl)
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		bad("LOG_FORMAT", "%q: want text or json", cfg.LogFormat)
	}
	if addr, err := normalizeAddr(cfg.SMTPAddr); err != nil {
		bad("SMTP_ADDR", "%v", err)
	} else {
		cfg.SMTPAddr = addr
	}
	if cfg.SMTPRelay != "" {
		if host, port, err := net.SplitHostPort(cfg.SMTPRelay); err != nil || host == "" {
			bad("SMTP_RELAY", "%q: want host:port", cfg.SMTPRelay)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			bad("SMTP_RELAY", "%q: port must be a number from 1 to 65535", cfg.SMTPRelay)
		}
	}
	if !inboundDomain.MatchString(cfg.InboundDomain) {
		bad("INBOUND_DOMAIN", "%q is not a domain name (e.g. mail.example.com)", cfg.InboundDomain)
	}
	if n, err := strconv.ParseInt(get("SMTP_MAX_BYTES", "26214400"), 10, 64); err != nil || n < 1024 || n > 1<<30 {
		bad("SMTP_MAX_BYTES", "%q: want a number of bytes from 1024 to 1073741824", get("SMTP_MAX_BYTES", ""))
	} else {
		cfg.SMTPMaxBytes = n
	}
	for _, lim := range []struct {
		name, def string
		to        *int
	}{{"SMTP_MAX_CONNECTIONS", "200", &cfg.SMTPMaxConns}, {"SMTP_MAX_CONNECTIONS_PER_IP", "20", &cfg.SMTPMaxConnsPerIP}} {
		if n, err := strconv.Atoi(get(lim.name, lim.def)); err != nil || n < 1 || n > 100000 {
			bad(lim.name, "%q: want a number of connections from 1 to 100000", get(lim.name, ""))
		} else {
			*lim.to = n
		}
	}
	if cfg.SMTPFrom != "" {
		if _, err := mail.ParseAddress(cfg.SMTPFrom); err != nil {
			bad("SMTP_FROM", "%q is not an e-mail address", cfg.SMTPFrom)
		}
	}
	if k := cfg.StripeSecretKey; k != "" && !strings.HasPrefix(k, "sk_") && !strings.HasPrefix(k, "rk_") {
		bad("STRIPE_SECRET_KEY", "want a secret (sk_...) or restricted (rk_...) key, not a publishable one")
	}
	if cfg.StripeSecretKey != "" && cfg.StripeWebhookSecret == "" {
		bad("STRIPE_WEBHOOK_SECRET", "required with STRIPE_SECRET_KEY: without it no payment could be confirmed")
	}
	if w := cfg.StripeWebhookSecret; w != "" && !strings.HasPrefix(w, "whsec_") {
		bad("STRIPE_WEBHOOK_SECRET", "want the endpoint's signing secret, whsec_...")
	}
	switch cfg.BillingMode {
	case "":
		cfg.BillingMode = billing.ModeOff
		if cfg.StripeSecretKey != "" {
			cfg.BillingMode = billing.ModeStripe
		}
	case billing.ModeStripe:
		if cfg.StripeSecretKey == "" {
			bad("BILLING_MODE", "stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET")
		}
	case billing.ModeLocal:
		// Local mode takes no card: with keys set, asking for it is a
		// mistake that would give bundles away.
		if cfg.StripeSecretKey != "" {
			bad("BILLING_MODE", "local (the free built-in checkout) cannot be combined with STRIPE_SECRET_KEY; unset one of them")
		}
		if cfg.StripeWebhookSecret != "" {
			bad("STRIPE_WEBHOOK_SECRET", "not used with BILLING_MODE=local (its events are signed with a secret derived from the signing keys)")
		}
	case billing.ModeOff:
	default:
		bad("BILLING_MODE", "%q: want stripe or local (or unset)", cfg.BillingMode)
	}
	if cfg.StripeSecretKey == "" && cfg.BillingMode != billing.ModeLocal && cfg.StripeWebhookSecret != "" {
		bad("STRIPE_WEBHOOK_SECRET", "set without STRIPE_SECRET_KEY: set both for Stripe")
	}
	for _, v := range []struct{ key, val string }{{"STRIPE_API_BASE", cfg.StripeAPIBase}, {"SELF_URL", cfg.SelfURL}} {
		if v.val == "" {
			continue
		}
		if u, err := url.Parse(v.val); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(v.key, "%q is not an absolute http(s) URL", v.val)
		}
	}
	// The shared operator secret is gone; a deployment that still sets it
	// is told so rather than left believing it guards anything.
	if getenv("OPERATOR_TOKEN") != "" {
		bad("OPERATOR_TOKEN", "no longer exists: operators are people with accounts now (`cic operator add EMAIL`); unset it")
	}
	if cfg.SecretsKey != "" {
		if _, err := secretbox.ParseKeys(cfg.SecretsKey); err != nil {
			bad("SECRETS_KEY", "%v", err)
		}
	}
	switch v := get("ALLOW_PRIVATE_OUTBOUND", "0"); v {
	case "1", "true":
		cfg.AllowPrivateOutbound = true
	case "0", "false":
	default:
		bad("ALLOW_PRIVATE_OUTBOUND", "%q: want 0 or 1", v)
	}
	if d, err := parseRetention(get("REPORTS_RETENTION", "90d")); err != nil {
		bad("REPORTS_RETENTION", "%v", err)
	} else {
		cfg.ReportsRetention = d
	}
	cfg.TrustedProxies = get("TRUSTED_PROXIES", defaultTrustedProxies)
	if _, err := web.ParseTrustedProxies(cfg.TrustedProxies); err != nil {
		bad("TRUSTED_PROXIES", "%v", err)
	}
	if m := get("METRICS_ADDR", defaultMetricsAddr); !strings.EqualFold(m, "off") {
		if addr, err := normalizeAddr(m); err != nil {
			bad("METRICS_ADDR", "%v", err)
		} else if addr == cfg.HTTPAddr {
			bad("METRICS_ADDR", "%q is HTTP_ADDR: the metrics must not be served on the public address", m)
		} else {
			cfg.MetricsAddr = addr
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// parseRetention reads a number of days ("90d") or a Go duration ("2160h").
func parseRetention(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 36500 {
			return 0, fmt.Errorf("%q: want a number of days (e.g. 90d) or a duration (e.g. 2160h)", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: want a number of days (e.g. 90d) or a duration (e.g. 2160h)", s)
		}
	}
	if d < time.Hour {
		return 0, fmt.Errorf("%q: at least 1h", s)
	}
	return d, nil
}

// selfURL is where serve reaches itself: SELF_URL, else HTTP_ADDR on
// loopback when it listens on every address.
func (c Config) selfURL() string {
	if c.SelfURL != "" {
		return c.SelfURL
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return ""
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// checkPostgresURL accepts only URLs: infra.AppURL swaps the credentials
// of a URL, which a key=value DSN does not allow.
func checkPostgresURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		// url's error quotes the whole URL, password included.
		return errors.New("not a valid URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("want a postgres:// URL, got scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host in URL")
	}
	return nil
}

// normalizeAddr accepts "host:port", ":port" and a bare port (as
// infra/scripts/run.sh does) and returns host:port.
func normalizeAddr(addr string) (string, error) {
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q: want host:port or :port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	return addr, nil
}

// AppDSN is the URL serve, worker and demo connect with.
func (c Config) AppDSN() (string, error) {
	if c.AppDatabaseURL != "" {
		return c.AppDatabaseURL, nil
	}
	dsn, err := infra.AppURL(c.DatabaseURL, c.AppRole)
	if err != nil {
		return "", fmt.Errorf("app database url: %w", err)
	}
	return dsn, nil
}

// NewLogger returns the process logger, writing to w.
func (c Config) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redact hides the password of a URL for logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
