package tenant_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

// BenchmarkTenantTx is the cost of isolation: reading a user inside
// tenant.DB.Tx (app role, set_config, row-level security) against the same
// read in a plain transaction of the owner role, which bypasses RLS.
func BenchmarkTenantTx(b *testing.B) {
	s, db := newService(b)
	res := signupB(b, s)
	ctx := context.Background()
	const q = `SELECT email FROM users WHERE tenant_id = $1 AND id = $2`
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			err := pgx.BeginFunc(ctx, db.Owner, func(tx pgx.Tx) error {
				var e string
				return tx.QueryRow(ctx, q, res.Tenant.ID, res.User.ID).Scan(&e)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rls", func(b *testing.B) {
		for b.Loop() {
			err := s.DB.Tx(ctx, res.Tenant.ID, func(tx pgx.Tx) error {
				var e string
				return tx.QueryRow(ctx, q, res.Tenant.ID, res.User.ID).Scan(&e)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticate is what every API call pays to know its caller:
// signature check alone (baseline) against signature check plus loading
// the user and tenant under RLS (so deactivation bites at once).
func BenchmarkAuthenticate(b *testing.B) {
	s, _ := newService(b)
	res := signupB(b, s)
	ctx := context.Background()
	tok := res.Tokens.AccessToken
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Keys.Verify(tok, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify_and_load", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func signupB(b *testing.B, s *tenant.Service) tenant.SignupResult {
	b.Helper()
	res, err := s.Signup(context.Background(), tenant.SignupInput{
		Company: "Bench Co", Slug: "bench-" + testenv.Prefix()[5:11], Name: "Bea", Email: "bea@bench.example",
		Password: "correct horse battery", Currency: "EUR",
	}, tenant.ClientMeta{IP: "192.0.2.9"})
	if err != nil {
		b.Fatal(err)
	}
	return res
}
