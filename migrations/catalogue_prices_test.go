package migrations_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cic-platform/cic/migrations"
)

// migrationOwner is a plain role (no superuser, so row-level security is
// not bypassed) that owns the test database, as a production owner would.
const migrationOwner = "cic_migration_owner"

// ownedDB creates a database owned by migrationOwner and opens it as them.
func ownedDB(t *testing.T) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adminURL := os.Getenv("CIC_TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = "postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable"
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer admin.Close(ctx)
	// Roles are cluster-wide; another package may create it at the same time.
	if _, err := admin.Exec(ctx, `DO $$ BEGIN CREATE ROLE `+migrationOwner+` LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD 'owner';
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "cic_test_migration14_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" OWNER "+migrationOwner); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), adminURL)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(adminURL)
	u.User, u.Path = url.UserPassword(migrationOwner, "owner"), "/"+name
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	goose.SetBaseFS(migrations.FS)
	goose.SetLogger(goose.NopLogger())
	if err := goose.SetDialect("postgres"); err != nil {
		t.Fatal(err)
	}
	return db
}

// Migration 00014 puts tenants that priced their own top-up or overage
// back on catalogue prices: the free billion-contact bundle of issue #15
// item 1 is neither kept as a choice nor charged nor credited.
func TestMigration14_PutsTenantsBackOnCataloguePrices(t *testing.T) {
	db := ownedDB(t)
	ctx := context.Background()
	if err := goose.UpToContext(ctx, db, ".", 13); err != nil {
		t.Fatalf("up to 13: %v", err)
	}
	attacker, honest, other := "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222", "33333333-3333-3333-3333-333333333333"
	req, okReq := "44444444-4444-4444-4444-444444444444", "55555555-5555-5555-5555-555555555555"
	// As the owner with the tenant policies (FORCE) in force, each tenant's
	// rows are written inside its own app.tenant_id, as the app would.
	for _, s := range []struct{ tenant, sql string }{
		{attacker, `INSERT INTO tenants (tenant_id, slug, name, currency) VALUES ('` + attacker + `', 'attacker', 'A', 'EUR')`},
		{attacker, `INSERT INTO metering_settings (tenant_id, policy, overage_price_minor, topup_threshold, topup_contacts, topup_price_minor, topup_validity_days)
			VALUES ('` + attacker + `', 'auto_topup', 0, 100, 1000000000, 0, 1095)`},
		{attacker, `INSERT INTO topup_requests (tenant_id, id, contacts, price_minor, currency, validity_days) VALUES ('` + attacker + `', '` + req + `', 1000000000, 0, 'EUR', 1095)`},
		{attacker, `INSERT INTO topup_charges (tenant_id, request_id, cycle, contacts, price_minor, currency, validity_days, mode)
			VALUES ('` + attacker + `', '` + req + `', 250, 1000000000, 0, 'EUR', 1095, 'local')`},
		{honest, `INSERT INTO tenants (tenant_id, slug, name, currency) VALUES ('` + honest + `', 'honest', 'H', 'EUR')`},
		{honest, `INSERT INTO metering_settings (tenant_id, policy, overage_price_minor, topup_threshold, topup_contacts, topup_price_minor, topup_validity_days)
			VALUES ('` + honest + `', 'auto_topup', 5, 100, 100000, 350000, 365)`},
		{honest, `INSERT INTO topup_requests (tenant_id, id, contacts, price_minor, currency, validity_days) VALUES ('` + honest + `', '` + okReq + `', 100000, 350000, 'EUR', 365)`},
		{honest, `INSERT INTO topup_charges (tenant_id, request_id, cycle, contacts, price_minor, currency, validity_days, mode)
			VALUES ('` + honest + `', '` + okReq + `', 250, 100000, 350000, 'EUR', 365, 'local')`},
		// A currency the catalogue has no tier in: no auto top-up possible.
		{other, `INSERT INTO tenants (tenant_id, slug, name, currency) VALUES ('` + other + `', 'other', 'O', 'CHF')`},
		{other, `INSERT INTO metering_settings (tenant_id, policy, overage_price_minor, topup_threshold, topup_contacts, topup_price_minor, topup_validity_days)
			VALUES ('` + other + `', 'auto_topup', 1, 100, 5, 1, 30)`},
	} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `SELECT set_config('app.tenant_id', $1, true)`, s.tenant); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, s.sql); err != nil {
			t.Fatalf("%s: %v", s.sql, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := goose.UpToContext(ctx, db, ".", 14); err != nil {
		t.Fatalf("up to 14: %v", err)
	}
	var policy string
	var tier sql.NullString
	for _, c := range []struct{ tenant, policy, tier string }{
		{attacker, "auto_topup", "bundle-10k"}, // no tier holds a billion: the smallest
		{honest, "auto_topup", "bundle-100k"},
		{other, "overage", ""},
	} {
		scanOne(t, db, c.tenant, `SELECT policy, topup_tier FROM metering_settings`, &policy, &tier)
		if policy != c.policy || tier.String != c.tier {
			t.Errorf("tenant %s: policy %s tier %v, want %s %q", c.tenant, policy, tier, c.policy, c.tier)
		}
	}
	var status, reqStatus string
	scanOne(t, db, attacker, `SELECT c.status, r.status FROM topup_charges c JOIN topup_requests r ON r.tenant_id = c.tenant_id AND r.id = c.request_id`, &status, &reqStatus)
	if status != "failed" || reqStatus != "failed" {
		t.Errorf("the tenant-priced charge is %s (request %s), want failed", status, reqStatus)
	}
	scanOne(t, db, honest, `SELECT c.status, r.status FROM topup_charges c JOIN topup_requests r ON r.tenant_id = c.tenant_id AND r.id = c.request_id`, &status, &reqStatus)
	if status != "pending" || reqStatus != "pending" {
		t.Errorf("a charge at the catalogue's price is %s (request %s), want still pending", status, reqStatus)
	}
	var price int64
	scanOne(t, db, attacker, `SELECT price_minor FROM catalog_overage_prices WHERE currency = 'EUR'`, &price)
	if price != 5 {
		t.Errorf("catalogue overage rate %d", price)
	}
	var n int
	scanOne(t, db, attacker, `SELECT count(*) FROM information_schema.columns WHERE table_name IN ('metering_settings', 'topup_requests')
		AND column_name IN ('overage_price_minor', 'topup_price_minor', 'topup_contacts', 'topup_validity_days', 'price_minor', 'contacts', 'validity_days')`, &n)
	if n != 0 {
		t.Errorf("%d tenant-set price columns left", n)
	}
	// The tables are forced again, and the migration goes down and up.
	scanOne(t, db, attacker, `SELECT count(*) FROM pg_class WHERE relname IN ('tenants', 'metering_settings', 'topup_requests', 'topup_charges', 'negotiated_overage_prices') AND relforcerowsecurity`, &n)
	if n != 5 {
		t.Errorf("%d of 5 tables force row-level security", n)
	}
	if err := goose.DownToContext(ctx, db, ".", 13); err != nil {
		t.Fatalf("down to 13: %v", err)
	}
	if err := goose.UpToContext(ctx, db, ".", 14); err != nil {
		t.Fatalf("up to 14 again: %v", err)
	}
}

// scanOne runs q inside tenant's app.tenant_id and scans its one row.
func scanOne(t *testing.T, db *sql.DB, tenant, q string, dest ...any) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT set_config('app.tenant_id', $1, true)`, tenant); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRowContext(ctx, q).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
