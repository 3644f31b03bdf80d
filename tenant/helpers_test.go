package tenant_test

import (
	"testing"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

// wantError fails unless err carries a *cic.Error of kind and code with a
// message for people, and returns it for further checks.
func wantError(t *testing.T, err error, kind cic.Kind, code string) *cic.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s/%s", kind, code)
	}
	e, ok := cic.AsError(err)
	if !ok {
		t.Fatalf("got unclassified error %v, want %s/%s", err, kind, code)
	}
	if e.Kind != kind || e.Code != code {
		t.Fatalf("got %s/%s (%q), want %s/%s", e.Kind, e.Code, e.Message, kind, code)
	}
	if e.Message == "" {
		t.Fatalf("%s/%s has an empty message", kind, code)
	}
	return e
}

// mustOK fails the test on any error.
func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// countRows counts a table's rows through the owner pool, which bypasses
// row-level security, so it sees every tenant's rows.
func countRows(t *testing.T, db *testenv.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Owner.QueryRow(ctx(t), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// Passwords that satisfy the policy.
const (
	goodPassword  = "correct horse battery"
	otherPassword = "another fine passphrase"
)

// loginInput is the owner of the tenant signed up with signup(t, s, slug).
func loginInput(r tenant.SignupResult) tenant.LoginInput {
	return tenant.LoginInput{Tenant: r.Tenant.Slug, Email: r.User.Email, Password: goodPassword}
}

var client = tenant.ClientMeta{IP: "198.51.100.7", UserAgent: "test-agent", RequestID: "req-1"}

// createUser makes an active user of role in the actor's tenant.
func createUser(t *testing.T, s *tenant.Service, a tenant.Actor, email string, role cic.Role) tenant.User {
	t.Helper()
	u, err := s.CreateUser(ctx(t), a, tenant.NewUser{Email: email, Name: "User " + email, Role: role, Password: goodPassword})
	if err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return u
}

// actorOf is u acting from the test IP.
func actorOf(u tenant.User) tenant.Actor {
	return tenant.Actor{TenantID: u.TenantID, UserID: u.ID, Role: u.Role, IP: "203.0.113.9"}
}
