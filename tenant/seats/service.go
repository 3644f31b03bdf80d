package seats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Service is the seat pool as users meet it: the limit and reservations
// from PostgreSQL, the leases in Redis, and the rules and messages that
// join them.
type Service struct {
	DB     *tenant.DB
	Leases *Leases
	Logger *slog.Logger
	Now    func() time.Time
	cache  poolCache
}

// PoolCacheTTL is how long a tenant's limit and reservations are reused.
const PoolCacheTTL = 5 * time.Second

// NewService joins the database and the lease store.
func NewService(db *tenant.DB, leases *Leases, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{DB: db, Leases: leases, Logger: log, Now: time.Now, cache: poolCache{ttl: PoolCacheTTL}}
}

// NeedsSeat says whether a role takes a seat when it logs in to the
// pages: the people who handle contacts. Back-office roles (owner, admin,
// finance) do not use up the pool; they may still take a lease through
// the API.
func NeedsSeat(r cic.Role) bool {
	return r.In(cic.RoleAgent, cic.RoleSupervisor)
}

var (
	errUnavailable = cic.Codef(cic.EUNAVAILABLE, "seat_service_unavailable",
		"The seat service is unavailable right now, so no new seat can be given; try again in a moment.")
	errNoWorkstation = cic.Codef(cic.EINVALID, "invalid_workstation",
		"Name the workstation (1 to 100 printable characters).")
)

// Pool returns the tenant's limit and reservations, cached briefly.
func (s *Service) Pool(ctx context.Context, tenantID uuid.UUID) (PoolInfo, error) {
	now := s.Now()
	if info, ok := s.cache.get(tenantID, now); ok {
		return info, nil
	}
	var info PoolInfo
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		info, err = loadPool(ctx, tx, tenantID, now)
		return err
	})
	if err != nil {
		return PoolInfo{}, fmt.Errorf("seat pool: %w", err)
	}
	s.cache.put(tenantID, info, now)
	return info, nil
}

// ValidateWorkstation checks a workstation name.
func ValidateWorkstation(ws string) error {
	if ws == "" || len(ws) > 100 || !utf8.ValidString(ws) || strings.TrimSpace(ws) != ws {
		return errNoWorkstation
	}
	for _, r := range ws {
		if !unicode.IsPrint(r) {
			return errNoWorkstation
		}
	}
	return nil
}

// Acquire gives the caller a seat from workstation ws, moving their lease
// if they hold one elsewhere.
func (s *Service) Acquire(ctx context.Context, p tenant.Principal, ws, ip string) (Granted, error) {
	return s.acquire(ctx, p, ws, ip, false)
}

func (s *Service) acquire(ctx context.Context, p tenant.Principal, ws, ip string, resume bool) (Granted, error) {
	if err := ValidateWorkstation(ws); err != nil {
		return Granted{}, err
	}
	info, err := s.Pool(ctx, p.TenantID)
	if err != nil {
		return Granted{}, err
	}
	g, err := s.Leases.Acquire(ctx, Request{TenantID: p.TenantID, UserID: p.UserID, DepartmentID: p.DepartmentID, Workstation: ws, IP: ip, Resume: resume}, info.pool())
	if err != nil {
		return Granted{}, s.leaseError(err, p, info)
	}
	if g.MovedFrom != "" {
		s.Logger.Info("seat moved", "tenant", p.TenantID, "user", p.UserID, "from", g.MovedFrom, "to", ws)
	}
	return g, nil
}

// Heartbeat is a renewed (or, after Redis lost it, re-acquired) lease.
type Heartbeat struct {
	LeaseID    uuid.UUID
	Token      int64
	ExpiresAt  time.Time
	Reacquired bool
}

// Heartbeat renews the caller's lease. A lease Redis no longer knows of
// (it restarted empty, or the lease lapsed) is taken again if a seat is
// free, so a holder that keeps heartbeating keeps working; one that was
// moved or released by an admin is not.
func (s *Service) Heartbeat(ctx context.Context, p tenant.Principal, leaseID uuid.UUID, ws, ip string) (Heartbeat, error) {
	r, err := s.Leases.Renew(ctx, p.TenantID, leaseID, p.UserID)
	if err == nil {
		return Heartbeat{LeaseID: leaseID, Token: r.Token, ExpiresAt: r.ExpiresAt}, nil
	}
	var gone *Gone
	if !errors.As(err, &gone) || (gone.Reason != "" && gone.Reason != "expired") {
		return Heartbeat{}, s.leaseError(err, p, PoolInfo{})
	}
	if ws == "" {
		ws = "unnamed"
	}
	g, err := s.acquire(ctx, p, ws, ip, true)
	if err != nil {
		return Heartbeat{}, err
	}
	return Heartbeat{LeaseID: g.ID, Token: g.Token, ExpiresAt: g.ExpiresAt, Reacquired: true}, nil
}

// Check renews the caller's lease, for routes only an agent at a seat may
// use; unlike Heartbeat it never takes a new seat.
func (s *Service) Check(ctx context.Context, p tenant.Principal, leaseID uuid.UUID) (Renewed, error) {
	r, err := s.Leases.Renew(ctx, p.TenantID, leaseID, p.UserID)
	if err != nil {
		return Renewed{}, s.leaseError(err, p, PoolInfo{})
	}
	return r, nil
}

// Release frees the caller's lease (uuid.Nil: whichever they hold).
func (s *Service) Release(ctx context.Context, p tenant.Principal, leaseID uuid.UUID) error {
	if err := s.Leases.Release(ctx, p.TenantID, leaseID, p.UserID); err != nil {
		return s.leaseError(err, p, PoolInfo{})
	}
	return nil
}

// leaseError turns a lease store error into what the user reads.
func (s *Service) leaseError(err error, p tenant.Principal, info PoolInfo) error {
	var ref *Refusal
	var gone *Gone
	switch {
	case errors.As(err, &ref):
		return exhausted(ref, p, info)
	case errors.As(err, &gone):
		switch gone.Reason {
		case "moved":
			return cic.Codef(cic.ECONFLICT, "lease_moved",
				"Your seat moved to workstation %q, where you logged in since.", gone.Workstation)
		case "released":
			return cic.Codef(cic.ECONFLICT, "lease_released", "An admin released your seat; log in again to take one.")
		case "ended":
			return cic.Codef(cic.ECONFLICT, "lease_ended", "This seat lease was given back (logout); take a new one to work at a seat.")
		case "expired":
			return cic.Codef(cic.ECONFLICT, "lease_expired", "Your seat lease ran out without a heartbeat; log in again to take one.")
		}
		return cic.Codef(cic.ECONFLICT, "lease_not_held", "You do not hold this seat lease (any more).")
	case errors.Is(err, ErrUnavailable):
		s.Logger.Error("seat store", "err", err)
		return errUnavailable
	}
	return err
}

// exhausted words a refusal so the user knows who can help and when to
// retry, naming their department's reservation if they have one.
func exhausted(r *Refusal, p tenant.Principal, info PoolInfo) error {
	company := p.TenantName
	if company == "" {
		company = "your company"
	}
	const help = " — ask an admin to free one, or try again in a moment."
	if r.Limit == 0 {
		return cic.Codef(cic.ECONFLICT, "seats_exhausted", "%s has no seats at the moment — ask an admin to buy seats.", company)
	}
	var b strings.Builder
	if r.Held < r.Limit && r.AllReserved > r.DeptReserved {
		// The shared seats are full; what is free is reserved for others.
		fmt.Fprintf(&b, "All %d shared seats of %s are in use (%d more are reserved for other departments)%s",
			max(r.Limit-r.AllReserved, 0), company, r.AllReserved-r.DeptReserved, help)
	} else {
		fmt.Fprintf(&b, "All %d seats of %s are in use%s", r.Limit, company, help)
	}
	// Worded apart from the sentence before: in the shared-seats case the
	// department's seats are not among the seats it counts.
	if res, ok := info.reservation(p.DepartmentID); ok && r.DeptReserved > 0 {
		if res.Seats == 1 {
			fmt.Fprintf(&b, " The 1 seat reserved for your department, %s, is taken.", res.Department)
		} else {
			fmt.Fprintf(&b, " The %d seats reserved for your department, %s, are all taken.", res.Seats, res.Department)
		}
	}
	return cic.Codef(cic.ECONFLICT, "seats_exhausted", "%s", b.String())
}
