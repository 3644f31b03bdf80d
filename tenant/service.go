package tenant

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// SignupHook records what a new tenant starts with (the trial contact
// bundle, the trial seats) inside the sign-up transaction; the packages
// that own those tables provide the hooks, so tenant imports none of them.
type SignupHook func(ctx context.Context, tx pgx.Tx, t Tenant, now time.Time) error

// Service is tenancy's entry point: sign-up, sessions, users, departments.
type Service struct {
	DB       *DB
	Keys     *Keys
	Limiter  *Limiter // nil: no rate limiting
	Password PasswordParams
	OnSignup []SignupHook
	// AfterSignup runs once the sign-up has committed (e.g. enqueue the
	// payment-customer job). Its error is logged by the caller, not fatal.
	AfterSignup func(ctx context.Context, t Tenant) error
	// AfterDeactivate runs once a user's deactivation has committed (e.g.
	// free the seat they hold). Its error is logged, not returned: the
	// user is deactivated either way.
	AfterDeactivate func(ctx context.Context, tenantID, userID uuid.UUID) error
	Logger          *slog.Logger

	AccessTTL  time.Duration
	RefreshTTL time.Duration
	InviteTTL  time.Duration
	Now        func() time.Time

	dummyOnce sync.Once
	dummy     string
}

// NewService returns a Service with the production defaults.
func NewService(db *DB, keys *Keys, limiter *Limiter) *Service {
	return &Service{
		DB: db, Keys: keys, Limiter: limiter,
		Password:   DefaultPasswordParams,
		AccessTTL:  15 * time.Minute,
		RefreshTTL: 30 * 24 * time.Hour,
		InviteTTL:  7 * 24 * time.Hour,
		Now:        time.Now,
	}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Actor is who performs an action, for authorization and the audit log.
type Actor struct {
	TenantID  uuid.UUID
	UserID    uuid.UUID
	Role      cic.Role
	IP        string
	RequestID string
}

// Principal is an authenticated user, as the edge sees them.
type Principal struct {
	Actor
	Email        string
	Name         string
	DepartmentID *uuid.UUID
	TenantSlug   string
	TenantName   string
	// SessionID is the login session (refresh-token family) of the access
	// token: logout ends it, and with it the token.
	SessionID uuid.UUID
}

func requireManager(a Actor) error {
	if !a.Role.Manages() {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may do this.")
	}
	return nil
}
