package tenant_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

func signupInput(company, slug string) tenant.SignupInput {
	return tenant.SignupInput{Company: company, Slug: slug, Name: "Olive Owner", Email: "olive@" + strings.ToLower(strings.ReplaceAll(company, " ", "")) + ".example",
		Password: goodPassword, Currency: "EUR"}
}

func TestSignup_CreatesTenantOwnerTrialBundleAndSeats(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	in := tenant.SignupInput{Company: "  Acme Widgets  ", Slug: " Acme ", Name: " Olive Owner ", Email: " Olive@Acme.Example ",
		Password: goodPassword, Currency: "eur"}
	r, err := s.Signup(c, in, client)
	mustOK(t, err)

	if r.Tenant.Slug != "acme" || r.Tenant.Name != "Acme Widgets" || r.Tenant.Currency != "EUR" || r.Tenant.Status != "active" {
		t.Fatalf("tenant %+v", r.Tenant)
	}
	if r.User.Role != cic.RoleOwner || r.User.Status != tenant.StatusActive || r.User.Email != "olive@acme.example" ||
		r.User.Name != "Olive Owner" || r.User.TenantID != r.Tenant.ID {
		t.Fatalf("owner %+v", r.User)
	}
	got, err := s.GetTenant(c, r.Tenant.ID)
	mustOK(t, err)
	if got.ID != r.Tenant.ID || got.Slug != "acme" {
		t.Fatalf("GetTenant %+v", got)
	}

	now := time.Now()
	mustOK(t, s.DB.Tx(c, r.Tenant.ID, func(tx pgx.Tx) error {
		bundles, err := metering.ActiveBundles(c, tx, r.Tenant.ID, now)
		if err != nil {
			return err
		}
		if len(bundles) != 1 || bundles[0].Source != metering.SourceTrial || bundles[0].Contacts != 250 ||
			bundles[0].Remaining != 250 || bundles[0].PriceMinor != 0 || bundles[0].Currency != "EUR" {
			t.Errorf("bundles %+v, want one free trial bundle of 250 contacts in EUR", bundles)
		}
		n, err := seats.Limit(c, tx, r.Tenant.ID, now)
		if err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("seats.Limit = %d, want 2", n)
		}
		// The trial ends: no bundle, no seats.
		later := now.Add(31 * 24 * time.Hour)
		if bundles, _ := metering.ActiveBundles(c, tx, r.Tenant.ID, later); len(bundles) != 0 {
			t.Errorf("trial bundle still active after 31 days")
		}
		if n, _ := seats.Limit(c, tx, r.Tenant.ID, later); n != 0 {
			t.Errorf("trial seats still granted after 31 days: %d", n)
		}
		return nil
	}))

	// The owner is logged in and can log in again.
	p, err := s.Authenticate(c, r.Tokens.AccessToken)
	mustOK(t, err)
	if p.UserID != r.User.ID || p.Role != cic.RoleOwner {
		t.Fatalf("principal %+v", p)
	}
	if _, _, err := s.Login(c, tenant.LoginInput{Tenant: "acme", Email: "olive@acme.example", Password: goodPassword}, client); err != nil {
		t.Fatalf("login after sign-up: %v", err)
	}
	entries, err := s.ListAudit(c, ownerActor(r), 0, 0)
	mustOK(t, err)
	if len(entries) == 0 || entries[len(entries)-1].Action != "tenant.signup" || entries[len(entries)-1].IP != client.IP ||
		entries[len(entries)-1].Details["slug"] != "acme" {
		t.Fatalf("first audit entry is not the sign-up: %+v", entries)
	}
}

func TestSignup_ExplicitTakenSlugIsAConflict(t *testing.T) {
	s, db := newService(t)
	c := ctx(t)
	signup(t, s, "acme")
	in := signupInput("Other Co", "acme")
	_, err := s.Signup(c, in, client)
	e := wantError(t, err, cic.ECONFLICT, "slug_taken")
	if !strings.Contains(e.Message, "acme") {
		t.Fatalf("message %q does not name the slug", e.Message)
	}
	if n := countRows(t, db, "tenants"); n != 1 {
		t.Fatalf("%d tenants, want 1", n)
	}
	if n := countRows(t, db, "users"); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
}

func TestSignup_ReservedSlugIsTaken(t *testing.T) {
	s, db := newService(t)
	_, err := s.Signup(ctx(t), signupInput("Admin Co", "admin"), client)
	wantError(t, err, cic.ECONFLICT, "slug_taken")
	if n := countRows(t, db, "tenants"); n != 0 {
		t.Fatalf("%d tenants written", n)
	}
}

func TestSignup_DerivedSlugThatCollidesGetsASuffix(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	first, err := s.Signup(c, signupInput("Acme Widgets", ""), client)
	mustOK(t, err)
	if first.Tenant.Slug != "acme-widgets" {
		t.Fatalf("slug %q, want acme-widgets", first.Tenant.Slug)
	}
	seen := map[string]bool{first.Tenant.Slug: true}
	suffixed := regexp.MustCompile(`^acme-widgets-[0-9a-f]{4}$`)
	for i := 0; i < 3; i++ {
		in := signupInput("Acme Widgets", "")
		in.Email = "owner" + string(rune('a'+i)) + "@acme.example"
		r, err := s.Signup(c, in, client)
		mustOK(t, err)
		if !suffixed.MatchString(r.Tenant.Slug) || seen[r.Tenant.Slug] {
			t.Fatalf("slug %q, want a new acme-widgets-xxxx", r.Tenant.Slug)
		}
		seen[r.Tenant.Slug] = true
	}
}

func TestSignup_CompanyNamesWithoutASCIIGetUsableSlugs(t *testing.T) {
	// Slugify gives nothing for these, so the slug falls back to
	// "company"; the second such company must still get a slug.
	s, _ := newService(t)
	c := ctx(t)
	seen := map[string]bool{}
	for i, company := range []string{"株式会社", "Ωμέγα", "!!!"} {
		in := signupInput(company, "")
		in.Email = "owner" + string(rune('a'+i)) + "@example.com"
		r, err := s.Signup(c, in, client)
		if err != nil {
			t.Fatalf("sign-up of %q: %v", company, err)
		}
		if err := tenant.ValidateSlug(r.Tenant.Slug); err != nil || seen[r.Tenant.Slug] || !strings.HasPrefix(r.Tenant.Slug, "company") {
			t.Fatalf("slug %q for %q", r.Tenant.Slug, company)
		}
		seen[r.Tenant.Slug] = true
	}
}

func TestSignup_CompanyNamedLikeAReservedSlugGetsAnother(t *testing.T) {
	s, _ := newService(t)
	r, err := s.Signup(ctx(t), signupInput("Support", ""), client)
	mustOK(t, err)
	if r.Tenant.Slug == "support" || tenant.ValidateSlug(r.Tenant.Slug) != nil {
		t.Fatalf("slug %q", r.Tenant.Slug)
	}
}

func TestSignup_RefusesBadInputAndWritesNothing(t *testing.T) {
	s, db := newService(t)
	for _, tc := range []struct {
		name   string
		mutate func(in *tenant.SignupInput)
		code   string
	}{
		{"empty company", func(in *tenant.SignupInput) { in.Company = " " }, "missing_company"},
		{"multi-line company", func(in *tenant.SignupInput) { in.Company = "Acme\nEvil" }, "invalid_company"},
		{"bad slug", func(in *tenant.SignupInput) { in.Slug = "a_b" }, "invalid_slug"},
		{"empty name", func(in *tenant.SignupInput) { in.Name = "" }, "missing_name"},
		{"bad email", func(in *tenant.SignupInput) { in.Email = "olive at acme" }, "invalid_email"},
		{"empty email", func(in *tenant.SignupInput) { in.Email = "" }, "invalid_email"},
		{"short password", func(in *tenant.SignupInput) { in.Password = "short" }, "weak_password"},
		{"password is the e-mail name", func(in *tenant.SignupInput) { in.Password = "olive-olive-olive" }, "weak_password"},
		{"common password", func(in *tenant.SignupInput) { in.Password = "Password123" }, "weak_password"},
		{"bad currency", func(in *tenant.SignupInput) { in.Currency = "XXX" }, "invalid_currency"},
		{"no currency", func(in *tenant.SignupInput) { in.Currency = "" }, "invalid_currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := signupInput("Acme", "acme")
			in.Email = "olive@acme.example"
			tc.mutate(&in)
			r, err := s.Signup(ctx(t), in, client)
			wantError(t, err, cic.EINVALID, tc.code)
			if r.Tenant.Slug != "" || r.Tokens.AccessToken != "" {
				t.Fatalf("returned a result alongside the error: %+v", r)
			}
		})
	}
	for _, table := range []string{"tenants", "users", "refresh_tokens", "audit_log", "bundles", "seat_grants"} {
		if n := countRows(t, db, table); n != 0 {
			t.Errorf("%d rows in %s after refused sign-ups", n, table)
		}
	}
}

func TestSignup_FailingHookRollsEverythingBack(t *testing.T) {
	s, db := newService(t)
	boom := errors.New("boom")
	s.OnSignup = append(s.OnSignup, func(context.Context, pgx.Tx, tenant.Tenant, time.Time) error { return boom })
	_, err := s.Signup(ctx(t), signupInput("Acme", "acme"), client)
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want the hook's", err)
	}
	for _, table := range []string{"tenants", "users", "refresh_tokens", "audit_log", "bundles", "seat_grants"} {
		if n := countRows(t, db, table); n != 0 {
			t.Errorf("%d rows in %s after a failed sign-up", n, table)
		}
	}
}

func TestSignup_AfterSignupFailureKeepsTheTenant(t *testing.T) {
	s, db := newService(t)
	var called tenant.Tenant
	boom := errors.New("queue down")
	s.AfterSignup = func(_ context.Context, t tenant.Tenant) error { called = t; return boom }
	r, err := s.Signup(ctx(t), signupInput("Acme", "acme"), client)
	var ae *tenant.AfterSignupError
	if !errors.As(err, &ae) || !errors.Is(err, boom) {
		t.Fatalf("err %v, want an AfterSignupError wrapping the hook's", err)
	}
	if ae.Result.Tenant.ID != r.Tenant.ID || r.Tenant.Slug != "acme" || called.ID != r.Tenant.ID {
		t.Fatalf("result %+v, hook saw %+v", r.Tenant, called)
	}
	if _, ok := cic.AsError(err); ok {
		t.Fatal("AfterSignupError must not read as a client error")
	}
	if n := countRows(t, db, "tenants"); n != 1 {
		t.Fatalf("%d tenants, want the committed one", n)
	}
}

func TestSignup_IsRateLimitedPerIP(t *testing.T) {
	s, db := newService(t)
	c := ctx(t)
	s.Limiter = tenant.NewLimiter(testenv.NewRedis(t), testenv.Prefix(), tenant.Limits{SignupPerIP: redis_rate.PerHour(1)})
	_, err := s.Signup(c, signupInput("Acme", "acme"), client)
	mustOK(t, err)
	_, err = s.Signup(c, signupInput("Beta", "beta"), client)
	wantError(t, err, cic.ERATELIMIT, "rate_limited")
	_, err = s.Signup(c, signupInput("Gamma", "gamma"), tenant.ClientMeta{IP: "192.0.2.77"})
	mustOK(t, err)
	if n := countRows(t, db, "tenants"); n != 2 {
		t.Fatalf("%d tenants, want 2", n)
	}
}

func TestSignup_IsRateLimitedPerEmail(t *testing.T) {
	s, db := newService(t)
	c := ctx(t)
	s.Limiter = tenant.NewLimiter(testenv.NewRedis(t), testenv.Prefix(), tenant.Limits{SignupPerEmail: redis_rate.PerHour(1)})
	first := signupInput("Acme", "acme")
	_, err := s.Signup(c, first, tenant.ClientMeta{IP: "192.0.2.1"})
	mustOK(t, err)
	// Same address (in another case), another IP: still the same account.
	again := signupInput("Beta", "beta")
	again.Email = strings.ToUpper(first.Email)
	_, err = s.Signup(c, again, tenant.ClientMeta{IP: "192.0.2.2"})
	wantError(t, err, cic.ERATELIMIT, "rate_limited")
	_, err = s.Signup(c, signupInput("Gamma", "gamma"), tenant.ClientMeta{IP: "192.0.2.3"})
	mustOK(t, err)
	if n := countRows(t, db, "tenants"); n != 2 {
		t.Fatalf("%d tenants, want 2", n)
	}
}

func TestSignup_TenantsAreIsolatedByID(t *testing.T) {
	s, _ := newService(t)
	c := ctx(t)
	a := signup(t, s, "tenant-a")
	b := signup(t, s, "tenant-b")
	if a.Tenant.ID == b.Tenant.ID {
		t.Fatal("two tenants share an id")
	}
	// GetTenant enters the tenant's own Tx, so each sees only itself.
	mustOK(t, s.DB.Tx(c, a.Tenant.ID, func(tx pgx.Tx) error {
		_, err := tenant.Get(c, tx, b.Tenant.ID)
		wantError(t, err, cic.ENOTFOUND, "not_found")
		return nil
	}))
	ids, err := s.DB.ListTenantIDs(c)
	mustOK(t, err)
	if len(ids) != 2 {
		t.Fatalf("ListTenantIDs = %v, want both tenants", ids)
	}
}
