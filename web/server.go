// Package web is the HTTP edge: it decodes requests, calls a feature
// package, and encodes the answer, as JSON under /api/v1 and as
// server-rendered pages elsewhere. It holds no business rule; the one
// mapping from domain error kinds to HTTP statuses lives in errors.go.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/billing/chargeback"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/fax"
	"github.com/cic-platform/cic/channels/sms"
	"github.com/cic-platform/cic/channels/social"
	"github.com/cic-platform/cic/channels/voice"
	"github.com/cic-platform/cic/infra/secretbox"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the server needs from cmd/cic.
type Config struct {
	Tenants   *tenant.Service
	Pool      *pgxpool.Pool // app role pool, for /readyz
	Redis     *redis.Client
	Logger    *slog.Logger
	PublicURL string // e.g. https://cic.example.com; decides Secure cookies
	// RedisPrefix namespaces the server's own Redis keys (CSRF tokens).
	RedisPrefix string
	// Registry receives the HTTP metrics; nil means a fresh registry.
	Registry *prometheus.Registry
	// BodyLimit caps request bodies; 0 means 1 MiB.
	BodyLimit int
	// IngestBodyLimit caps the body of POST /api/v1/usage/contacts, which
	// carries up to 1,000 contacts; 0 means 4 MiB.
	IngestBodyLimit int
	// Meter meters the contacts integrators report; it must be started.
	Meter *metering.Meter
	// Billing sells bundles and seats; nil turns the billing routes off.
	Billing *billing.Service
	// SelfURL is how this server reaches itself (the local checkout posts
	// its signed event to SelfURL/webhooks/stripe); empty: the address of
	// the request that pays.
	SelfURL string
	// Operators are the platform operators' accounts, for /operator and
	// /api/v1/operator/*; nil builds them on Tenants (its database, keys,
	// limiter and password costs).
	Operators *tenant.Operators
	// Jobs reads the job queue for the operator (archived tasks); nil: no
	// job listing.
	Jobs *asynq.Inspector
	// Enqueue queues a job (the catalogue sync after an operator edit);
	// nil: the next periodic run does it.
	Enqueue *asynq.Client
	// Seats is the concurrent-seat pool: logins of agents take a lease.
	Seats *seats.Service
	// Setup is the routing setup: skills, queues, routing profiles.
	Setup *setup.Service
	// Contacts drives routing and records contacts; nil builds one on
	// Redis, the app's database and Meter.
	Contacts *contacts.Service
	// Chat is the web chat channel; nil builds one on the app's database,
	// Contacts, Setup and Redis.
	Chat *chat.Service
	// Reports makes finance's chargeback reports; nil turns the report
	// routes off. Without a link key of its own, its download links are
	// signed with a key derived from the JWT signing key (shared by the
	// replicas that share JWT_KEYS).
	Reports *chargeback.Service
	// Channels answers on a contact's channel (desk replies, surveys,
	// outbound contacts); nil: only chat answers, live.
	Channels *channels.Registry
	// Customers links contacts to the one customer behind them.
	Customers *customer.Service
	// Conversations holds the messages of e-mail, SMS, social, fax.
	Conversations *conversation.Store
	// Directory holds the tenants' channel addresses and providers.
	Directory *directory.Directory
	// InboundDomain is where tenants' own mailboxes live:
	// <name>@<tenant slug>.<InboundDomain> (shown on /channels).
	InboundDomain string
	// Voice, SMS, Social and Fax take their providers' webhooks under
	// /webhooks/<provider>/...; nil turns a channel's webhooks off.
	Voice  *voice.Service
	SMS    *sms.Service
	Social *social.Service
	Fax    *fax.Service
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (TRUSTED_PROXIES); empty: DefaultTrustedProxies (loopback).
	TrustedProxies []netip.Prefix
}

// Server is the Fiber application with its dependencies.
type Server struct {
	app     *fiber.App
	cfg     Config
	log     *slog.Logger
	pages   map[string]*template.Template
	secure  bool
	metrics *httpMetrics
	// operators is cfg.Operators.
	operators *tenant.Operators
	trusted   []netip.Prefix
	// csrfKey signs the form tokens (csrfMiddleware).
	csrfKey []byte
	// api is the /api/v1 group, for routes registered outside routes().
	api fiber.Router
}

// New builds the application and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.Tenants == nil || cfg.Pool == nil || cfg.Redis == nil || cfg.Meter == nil || cfg.Seats == nil {
		return nil, fmt.Errorf("web: Tenants, Pool, Redis, Meter and Seats are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Setup == nil {
		cfg.Setup = &setup.Service{DB: cfg.Tenants.DB}
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 1 << 20
	}
	if cfg.IngestBodyLimit == 0 {
		cfg.IngestBodyLimit = 4 << 20
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = "cic:"
	}
	if cfg.Contacts == nil {
		cfg.Contacts = contacts.New(cfg.Tenants.DB, routing.New(cfg.Redis, cfg.RedisPrefix), cfg.Setup, cfg.Meter, cfg.Logger)
	}
	if cfg.Customers == nil {
		cfg.Customers = &customer.Service{DB: cfg.Tenants.DB}
	}
	if cfg.Conversations == nil {
		cfg.Conversations = &conversation.Store{DB: cfg.Tenants.DB}
	}
	if cfg.Directory == nil {
		cfg.Directory = &directory.Directory{DB: cfg.Tenants.DB, InboundDomain: cfg.InboundDomain}
		if cfg.Tenants.Keys != nil {
			// As cmd/cic derives them when SECRETS_KEY is unset.
			box, err := secretbox.New(cfg.Tenants.Keys.DeriveRing("secrets-at-rest")...)
			if err != nil {
				return nil, fmt.Errorf("secrets box: %w", err)
			}
			cfg.Directory.Secrets = box
		}
	}
	if cfg.Channels == nil {
		cfg.Channels = &channels.Registry{}
	}
	if cfg.Setup.OnChange == nil {
		// Routing follows the admin's changes through this hook only.
		cfg.Setup.OnChange = cfg.Contacts.SetupChanged
	}
	if cfg.Reports != nil && len(cfg.Reports.Links.Key) == 0 && cfg.Tenants.Keys != nil {
		cfg.Reports.Links.Key = cfg.Tenants.Keys.Derive("report-download-links")
	}
	if cfg.Operators == nil {
		cfg.Operators = tenant.NewOperators(cfg.Tenants.DB, cfg.Tenants.Keys, cfg.Tenants.Limiter)
		cfg.Operators.Password = cfg.Tenants.Password
	}
	s := &Server{cfg: cfg, log: cfg.Logger, operators: cfg.Operators, trusted: cfg.TrustedProxies}
	if len(s.trusted) == 0 {
		s.trusted = DefaultTrustedProxies
	}
	if cfg.Tenants.Keys != nil {
		s.csrfKey = cfg.Tenants.Keys.Derive("csrf-form-tokens")
	} else {
		// One process only: its tokens are good nowhere else.
		s.csrfKey = make([]byte, 32)
		if _, err := rand.Read(s.csrfKey); err != nil {
			return nil, fmt.Errorf("csrf key: %w", err)
		}
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Scheme == "https" {
		s.secure = true
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.metrics = newHTTPMetrics(cfg.Registry)

	s.app = fiber.New(fiber.Config{
		AppName: "cic",
		// Fiber reads bodies up to the larger limit; limitBody holds every
		// route but ingest to the smaller one.
		BodyLimit:             max(cfg.BodyLimit, cfg.IngestBodyLimit, largeBodyLimit(cfg)),
		ErrorHandler:          s.handleError,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		// No ProxyHeader: c.IP() is the peer; the client's address behind
		// trusted proxies is clientIP's (clientip.go).

		// Multipart bodies stay as sent (parsed when a handler asks): the
		// fax webhook's signature covers the raw body, which fasthttp's
		// pre-parsing would re-encode.
		DisablePreParseMultipartForm: true,
	})
	s.routes()
	return s, nil
}

// App exposes the Fiber app, for tests (app.Test) and for Listen.
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Serve serves on an open listener (tests listen on 127.0.0.1:0).
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits for in-flight requests.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

func (s *Server) routes() {
	app := s.app
	// The access log sits outside recover so a panic is still logged with its 500.
	app.Use(s.resolveClientIP, s.requestID, s.metrics.middleware, s.accessLog, s.recoverPanics, securityHeaders, s.limitBody, s.refuseBadText)

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/static/*", s.static)

	api := app.Group("/api/v1", apiNoStore)
	api.Post("/signup", s.apiSignup)
	api.Post("/auth/login", s.apiLogin)
	api.Post("/auth/refresh", s.apiRefresh)
	api.Post("/auth/logout", s.apiLogout)
	api.Get("/invitations/:token", s.apiGetInvitation)
	api.Post("/invitations/:token/accept", s.apiAcceptInvitation)

	// Bearer auth is attached per route, not as group middleware, so an
	// unknown route is a 404 rather than a 401.
	bearer := s.requireBearer
	api.Get("/me", bearer, s.apiMe)
	api.Post("/me/password", bearer, s.apiChangePassword)
	api.Get("/users", bearer, s.apiListUsers)
	api.Post("/users", bearer, s.apiCreateUser)
	api.Post("/users/invite", bearer, s.apiInviteUser)
	api.Get("/users/:id", bearer, s.apiGetUser)
	api.Patch("/users/:id", bearer, s.apiUpdateUser)
	api.Post("/users/:id/deactivate", bearer, s.apiDeactivateUser)
	api.Delete("/users/:id/invitation", bearer, s.apiRevokeInvitation)
	api.Get("/departments", bearer, s.apiListDepartments)
	api.Post("/departments", bearer, s.apiCreateDepartment)
	api.Get("/departments/:id", bearer, s.apiGetDepartment)
	api.Patch("/departments/:id", bearer, s.apiUpdateDepartment)
	api.Delete("/departments/:id", bearer, s.apiDeleteDepartment)
	api.Get("/audit", bearer, s.apiListAudit)
	api.Get("/api-keys", bearer, s.apiListAPIKeys)
	api.Post("/api-keys", bearer, s.apiCreateAPIKey)
	api.Delete("/api-keys/:id", bearer, s.apiRevokeAPIKey)
	// Integrators report handled contacts with an API key, not a user token.
	api.Post("/usage/contacts", s.requireAPIKey, s.apiIngestContacts)
	api.Get("/usage/balance", bearer, s.apiUsageBalance)
	api.Get("/usage/daily", bearer, s.apiUsageDaily)
	api.Get("/usage/policy", bearer, s.apiGetUsagePolicy)
	api.Put("/usage/policy", bearer, s.apiPutUsagePolicy)
	bill := s.requireBilling
	api.Get("/catalog", bearer, bill, s.apiCatalog)
	api.Post("/purchases", bearer, bill, s.apiCreatePurchase)
	api.Get("/purchases", bearer, bill, s.apiListPurchases)
	api.Get("/purchases/:id", bearer, bill, s.apiGetPurchase)
	api.Get("/seats/subscription", bearer, bill, s.apiGetSubscription)
	api.Post("/seats/subscription", bearer, bill, s.apiChangeSeats)
	api.Get("/billing/invoices", bearer, bill, s.apiListInvoices)
	api.Post("/billing/portal", bearer, bill, s.apiPortal)
	op := s.requireOperator
	api.Post("/operator/login", s.apiOperatorLogin)
	api.Post("/operator/logout", op, s.apiOperatorLogout)
	api.Get("/operator/audit", op, s.apiOperatorAudit)
	api.Get("/operator/catalog", op, bill, s.apiOperatorCatalog)
	api.Put("/operator/catalog/tiers/:tier", op, bill, s.apiOperatorPutTier)
	api.Put("/operator/catalog/seat-prices/:currency", op, bill, s.apiOperatorPutSeatPrice)
	api.Put("/operator/catalog/overage-prices/:currency", op, bill, s.apiOperatorPutCatalogOveragePrice)
	api.Put("/operator/tenants/:id/overage-price", op, bill, s.apiOperatorPutOveragePrice)
	api.Delete("/operator/tenants/:id/overage-price", op, bill, s.apiOperatorDeleteOveragePrice)
	api.Get("/operator/tasks", op, s.apiOperatorTasks)
	api.Get("/operator/tenants", op, s.apiOperatorTenants)
	api.Get("/operator/queues", op, s.apiOperatorQueues)
	api.Get("/operator/findings", op, bill, s.apiOperatorFindings)
	// The caller's own lease first, so "lease" is never read as an :id.
	api.Post("/seats/lease", bearer, s.apiAcquireSeat)
	api.Post("/seats/lease/heartbeat", bearer, s.apiSeatHeartbeat)
	api.Delete("/seats/lease", bearer, s.apiReleaseSeat)
	api.Get("/seats/lease", bearer, s.requireSeat, s.apiCurrentSeat)
	api.Get("/seats", bearer, s.apiListSeats)
	api.Get("/seats/usage", bearer, s.apiSeatUsage)
	api.Put("/seats/reservations/:id", bearer, s.apiSetReservation)
	api.Delete("/seats/:id", bearer, s.apiForceReleaseSeat)
	api.Get("/skills", bearer, s.apiListSkills)
	api.Post("/skills", bearer, s.apiCreateSkill)
	api.Delete("/skills/:id", bearer, s.apiDeleteSkill)
	api.Get("/queues", bearer, s.apiListQueues)
	api.Post("/queues", bearer, s.apiCreateQueue)
	api.Get("/queues/:id", bearer, s.apiGetQueue)
	api.Patch("/queues/:id", bearer, s.apiUpdateQueue)
	api.Delete("/queues/:id", bearer, s.apiDeleteQueue)
	api.Get("/calendars", bearer, s.apiListCalendars)
	api.Post("/calendars", bearer, s.apiCreateCalendar)
	api.Get("/calendars/:id", bearer, s.apiGetCalendar)
	api.Patch("/calendars/:id", bearer, s.apiUpdateCalendar)
	api.Delete("/calendars/:id", bearer, s.apiDeleteCalendar)
	api.Get("/agents/:id/routing", bearer, s.apiGetRouting)
	api.Put("/agents/:id/routing", bearer, s.apiPutRouting)
	api.Get("/dispositions", bearer, s.apiListDispositions)
	api.Put("/dispositions/:code", bearer, s.apiPutDisposition)
	api.Delete("/dispositions/:code", bearer, s.apiDeleteDisposition)
	api.Put("/agent/status", bearer, s.apiSetAgentStatus)
	api.Get("/contacts", bearer, s.apiListContacts)
	api.Post("/contacts", s.requireAPIKey, s.apiOpenContact)
	api.Get("/contacts/:id", bearer, s.apiGetContact)
	api.Post("/contacts/:id/accept", bearer, s.apiAcceptContact)
	api.Post("/contacts/:id/reject", bearer, s.apiRejectContact)
	api.Post("/contacts/:id/transfer", bearer, s.apiTransferContact)
	api.Post("/contacts/:id/wrapup", bearer, s.apiWrapUpContact)
	api.Post("/contacts/:id/close", bearer, s.apiCloseContact)
	// Channel and desk routes register their API routes on api before
	// the catch-all below, and their pages on app.
	s.api = api
	s.chatRoutes()
	s.deskRoutes()
	s.reportRoutes()
	s.channelsRoutes()
	s.voiceRoutes()
	s.messagingRoutes()
	api.Use(s.apiNotFound)

	// Stripe (or the local checkout) calls this; the signature is the
	// authentication, so it has neither bearer nor CSRF.
	app.Post("/webhooks/stripe", s.requireBilling, s.stripeWebhook)

	s.pageRoutes()
	app.Use(s.notFound)
}

// publicLink makes an absolute URL for links we hand out (invitations).
func (s *Server) publicLink(c *fiber.Ctx, path string) string {
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	if base == "" {
		base = c.BaseURL()
	}
	return base + path
}

// ingestPath is the one route allowed IngestBodyLimit.
const ingestPath = "/api/v1/usage/contacts"

// limitBody answers 413 when a body exceeds BodyLimit, except on the
// ingest route (IngestBodyLimit) and the webhooks that take documents
// (webhookBodyLimit).
func (s *Server) limitBody(c *fiber.Ctx) error {
	limit := s.cfg.BodyLimit
	if c.Method() == fiber.MethodPost && strings.EqualFold(strings.TrimSuffix(c.Path(), "/"), ingestPath) {
		limit = max(limit, s.cfg.IngestBodyLimit)
	} else if l := s.webhookBodyLimit(c); l > limit {
		limit = l
	}
	if len(c.Request().Body()) > limit {
		return fiber.ErrRequestEntityTooLarge
	}
	return c.Next()
}
