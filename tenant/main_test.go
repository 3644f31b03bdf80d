package tenant_test

import (
	"context"
	"testing"
	"time"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

// newService returns a Service on a fresh database, wired like
// production (trial hooks) but with cheap password hashing.
func newService(t testing.TB) (*tenant.Service, *testenv.DB) {
	t.Helper()
	db := testenv.NewDB(t)
	rdb := testenv.NewRedis(t)
	s := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), tenant.NewLimiter(rdb, testenv.Prefix(), tenant.Limits{}))
	s.Password = tenant.FastPasswordParams
	s.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial), seats.TrialHook(seats.DefaultTrial)}
	return s, db
}

func signup(t *testing.T, s *tenant.Service, slug string) tenant.SignupResult {
	t.Helper()
	res, err := s.Signup(context.Background(), tenant.SignupInput{
		Company: "Company " + slug, Slug: slug, Name: "Olive Owner", Email: "owner@" + slug + ".example",
		Password: "correct horse battery", Currency: "EUR",
	}, tenant.ClientMeta{IP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("signup %s: %v", slug, err)
	}
	return res
}

func ownerActor(r tenant.SignupResult) tenant.Actor {
	return tenant.Actor{TenantID: r.Tenant.ID, UserID: r.User.ID, Role: r.User.Role, IP: "192.0.2.1"}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
