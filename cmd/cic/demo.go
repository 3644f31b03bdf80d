package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// The demo tenant. One shared password keeps the printed block short; it
// passes tenant.ValidatePassword for every demo e-mail.
const (
	demoSlug       = "demo"
	demoCompany    = "Demo Company"
	demoCurrency   = "EUR"
	demoDomain     = "demo.example"
	demoPassword   = "demo-Pass-2026"
	demoDepartment = "Support"
	demoCostCentre = "CC-100"
	// The demo operator: its TOTP secret is fixed (and printed) like the
	// password, so the authenticator entry survives re-runs.
	demoOperatorEmail = "operator@" + demoDomain
	demoOperatorName  = "Otto Operator"
	demoOperatorTOTP  = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

// demoUsers, one per role, owner first (the owner signs the tenant up).
var demoUsers = []struct {
	role cic.Role
	name string
}{
	{cic.RoleOwner, "Olivia Owner"},
	{cic.RoleAdmin, "Adam Admin"},
	{cic.RoleSupervisor, "Sara Supervisor"},
	{cic.RoleAgent, "Alex Agent"},
	{cic.RoleFinance, "Fiona Finance"},
}

func demoEmail(r cic.Role) string { return string(r) + "@" + demoDomain }

// demoMeta marks the demo's actions in the audit log.
var demoMeta = tenant.ClientMeta{RequestID: "cli:demo"}

func (m *Main) demo(ctx context.Context, cfg Config, log *slog.Logger) error {
	// Sign-up issues the owner a session the demo throws away, so a
	// throwaway key serves; only serve needs the real ones.
	a, err := openApp(ctx, cfg, log, tenant.GenerateKeys(), m.passwords)
	if err != nil {
		return err
	}
	defer a.Close()
	// Rate limits guard public endpoints from strangers; the operator
	// seeding the database is not one, and re-runs must never be refused.
	a.tenants.Limiter = nil
	if err := seedDemo(ctx, a.tenants, log); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := seedDemoRouting(ctx, a.tenants, &setup.Service{DB: a.tenants.DB}, log); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := seedDemoChannels(ctx, a.tenants, cfg, log); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := seedDemoUsage(ctx, a.tenants, log); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := m.seedDemoOperator(ctx, cfg, log); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	printDemo(m.Stdout, cfg.PublicURL)
	printDemoChannels(m.Stdout, cfg)
	return nil
}

// seedDemo makes the demo tenant complete, creating only what is missing,
// so it can run on every start (make run, docker compose).
func seedDemo(ctx context.Context, svc *tenant.Service, log *slog.Logger) error {
	owner, err := demoOwner(ctx, svc, log)
	if err != nil {
		return err
	}
	dept, err := ensureDepartment(ctx, svc, owner)
	if err != nil {
		return err
	}
	existing, err := listUsersByEmail(ctx, svc, owner)
	if err != nil {
		return err
	}
	for _, du := range demoUsers[1:] {
		email := demoEmail(du.role)
		var want *uuid.UUID
		if du.role == cic.RoleAgent {
			want = &dept.ID
		}
		u, ok := existing[email]
		if !ok {
			_, err := svc.CreateUser(ctx, owner, tenant.NewUser{Email: email, Name: du.name, Role: du.role, Password: demoPassword, DepartmentID: want})
			if e, isDomain := cic.AsError(err); isDomain && e.Code == "email_taken" {
				// A concurrent `cic demo` got there first: fine.
				continue
			}
			if err != nil {
				return fmt.Errorf("create %s: %w", email, err)
			}
			log.Info("demo user created", "email", email, "role", du.role)
			continue
		}
		if want != nil && (u.DepartmentID == nil || *u.DepartmentID != *want) {
			if _, err := svc.UpdateUser(ctx, owner, u.ID, tenant.UserUpdate{DepartmentID: want}); err != nil {
				return fmt.Errorf("put %s in %s: %w", email, demoDepartment, err)
			}
			log.Info("demo user moved to department", "email", email, "department", demoDepartment)
		}
	}
	return nil
}

// demoOwner signs the demo tenant up when it does not exist yet and
// returns its owner as the actor for everything else.
func demoOwner(ctx context.Context, svc *tenant.Service, log *slog.Logger) (tenant.Actor, error) {
	t, err := svc.TenantBySlug(ctx, demoSlug)
	if cic.ErrorKind(err) == cic.ENOTFOUND {
		var res tenant.SignupResult
		res, err = svc.Signup(ctx, tenant.SignupInput{
			Company: demoCompany, Slug: demoSlug, Name: demoUsers[0].name,
			Email: demoEmail(cic.RoleOwner), Password: demoPassword, Currency: demoCurrency,
		}, demoMeta)
		if after := (*tenant.AfterSignupError)(nil); errors.As(err, &after) {
			// The tenant exists; only a follow-up (a job) failed.
			log.Warn("demo tenant created, but a follow-up step failed", "err", after.Err)
			res, err = after.Result, nil
		}
		switch {
		case err == nil:
			log.Info("demo tenant created", "slug", demoSlug, "tenant_id", res.Tenant.ID)
			return tenant.Actor{TenantID: res.Tenant.ID, UserID: res.User.ID, Role: cic.RoleOwner, RequestID: demoMeta.RequestID}, nil
		case isCode(err, "slug_taken"):
			// A concurrent `cic demo` created it since we looked: use it.
			t, err = svc.TenantBySlug(ctx, demoSlug)
		default:
			return tenant.Actor{}, fmt.Errorf("sign up demo tenant: %w", err)
		}
	}
	if err != nil {
		return tenant.Actor{}, fmt.Errorf("look up demo tenant: %w", err)
	}

	// Act as the demo owner, found through an owner-role actor; listing
	// writes no audit entry, so the missing user id there is harmless.
	users, err := listUsersByEmail(ctx, svc, tenant.Actor{TenantID: t.ID, Role: cic.RoleOwner, RequestID: demoMeta.RequestID})
	if err != nil {
		return tenant.Actor{}, err
	}
	u, ok := users[demoEmail(cic.RoleOwner)]
	if !ok || u.Role != cic.RoleOwner || u.Status != tenant.StatusActive {
		// Someone else's company under the slug "demo", or a demo owner
		// changed by hand: adding users to it would be wrong.
		return tenant.Actor{}, fmt.Errorf("tenant %q exists but %s is not its active owner; it was not made by cic demo (or was changed), so it is left alone",
			demoSlug, demoEmail(cic.RoleOwner))
	}
	log.Debug("demo tenant exists", "slug", demoSlug, "tenant_id", t.ID)
	return tenant.Actor{TenantID: t.ID, UserID: u.ID, Role: cic.RoleOwner, RequestID: demoMeta.RequestID}, nil
}

func ensureDepartment(ctx context.Context, svc *tenant.Service, owner tenant.Actor) (tenant.Department, error) {
	d, err := svc.CreateDepartment(ctx, owner, tenant.DepartmentInput{Name: demoDepartment, CostCentre: demoCostCentre})
	if err == nil {
		return d, nil
	}
	if !isCode(err, "department_exists") {
		return tenant.Department{}, fmt.Errorf("create department %s: %w", demoDepartment, err)
	}
	depts, err := svc.ListDepartments(ctx, owner)
	if err != nil {
		return tenant.Department{}, err
	}
	for _, d := range depts {
		if strings.EqualFold(d.Name, demoDepartment) {
			return d, nil
		}
	}
	return tenant.Department{}, fmt.Errorf("department %s exists but is not listed", demoDepartment)
}

// listUsersByEmail returns every user of the actor's tenant by e-mail.
func listUsersByEmail(ctx context.Context, svc *tenant.Service, a tenant.Actor) (map[string]tenant.User, error) {
	out := map[string]tenant.User{}
	cursor := ""
	for {
		page, next, err := svc.ListUsers(ctx, a, tenant.UserFilter{Cursor: cursor, Limit: 200})
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		for _, u := range page {
			out[u.Email] = u
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

func isCode(err error, code string) bool {
	e, ok := cic.AsError(err)
	return ok && e.Code == code
}

// printDemo prints the logins; it depends on nothing but the constants,
// so every run prints the same block.
func printDemo(w io.Writer, publicURL string) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  Demo tenant ready")
	fmt.Fprintln(w, "  -----------------")
	fmt.Fprintf(w, "  URL:      %s\n", publicURL)
	fmt.Fprintf(w, "  Company:  %s   (%s, %s)\n", demoSlug, demoCompany, demoCurrency)
	fmt.Fprintf(w, "  Password: %s   (every user below)\n", demoPassword)
	fmt.Fprintln(w)
	for _, du := range demoUsers {
		note := ""
		if du.role == cic.RoleAgent {
			note = "   (department " + demoDepartment + ", cost centre " + demoCostCentre + ")"
		}
		fmt.Fprintf(w, "  %-11s %-24s %s%s\n", du.role, demoEmail(du.role), demoPassword, note)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  Operator console: %s/operator\n", strings.TrimRight(publicURL, "/"))
	fmt.Fprintf(w, "  %-11s %-24s %s   TOTP secret %s\n", "operator", demoOperatorEmail, demoPassword, demoOperatorTOTP)
	fmt.Fprintln(w, "  (add the secret to an authenticator app, or: oathtool --totp -b "+demoOperatorTOTP+")")
	fmt.Fprintln(w)
}

// seedDemoOperator makes the demo operator, enrolled, with serve's
// signing keys (they seal its TOTP secret).
func (m *Main) seedDemoOperator(ctx context.Context, cfg Config, log *slog.Logger) error {
	ops, closeFn, err := m.openOperators(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeFn()
	if _, err := ops.EnsureEnrolled(ctx, demoOperatorEmail, demoOperatorName, demoPassword, demoOperatorTOTP, demoMeta); err != nil {
		return fmt.Errorf("demo operator: %w", err)
	}
	log.Info("demo operator ready", "email", demoOperatorEmail)
	return nil
}
