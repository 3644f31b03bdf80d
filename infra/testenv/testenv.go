// Package testenv gives integration tests a fresh, migrated PostgreSQL
// database and a Redis connection on the real servers that `make test`
// starts. Each call creates its own database, dropped when the test ends,
// so no state is shared between tests or runs.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra"
)

// The private instances that infra/scripts/services.sh starts.
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:56379/1"
)

// AppRole is the app role tests connect as; it is created by the first
// migration and shared by every test database on the server.
var AppRole = infra.AppRole{Name: "cic_app", Password: "cic_app"}

// DB is a fresh database: Owner bypasses row-level security (superuser,
// for fixtures and checks), App is the product's non-bypass role.
type DB struct {
	Name     string
	OwnerURL string
	AppURL   string
	Owner    *pgxpool.Pool
	App      *pgxpool.Pool
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// NewDB creates and migrates a database named after the test.
func NewDB(t testing.TB) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	adminURL := env("CIC_TEST_DATABASE_URL", defaultDatabaseURL)
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("testenv: connect to PostgreSQL at %s (run the tests with `make test`, which starts it): %v", adminURL, err)
	}
	defer admin.Close(ctx)

	name := "cic_test_" + sanitize(t.Name()) + "_" + randomHex(4)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	u, _ := url.Parse(adminURL)
	u.Path = "/" + name
	ownerURL := u.String()
	if err := infra.Migrate(ctx, ownerURL, AppRole); err != nil {
		t.Fatalf("testenv: migrate: %v", err)
	}
	appURL, err := infra.AppURL(ownerURL, AppRole)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := infra.OpenPool(ctx, ownerURL)
	if err != nil {
		t.Fatalf("testenv: owner pool: %v", err)
	}
	app, err := infra.OpenPool(ctx, appURL)
	if err != nil {
		t.Fatalf("testenv: app pool: %v", err)
	}
	db := &DB{Name: name, OwnerURL: ownerURL, AppURL: appURL, Owner: owner, App: app}
	t.Cleanup(func() {
		app.Close()
		owner.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
		}
	})
	return db
}

// NewRedis connects to the test Redis. Keys carry random tenant ids or a
// Prefix, so tests never see each other's data.
func NewRedis(t testing.TB) *redis.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := env("CIC_TEST_REDIS_URL", defaultRedisURL)
	c, err := infra.OpenRedis(ctx, u)
	if err != nil {
		t.Fatalf("testenv: connect to Redis at %s (run the tests with `make test`, which starts it): %v", u, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// RedisURL is the test Redis address, for components that dial it
// themselves (asynq).
func RedisURL() string { return env("CIC_TEST_REDIS_URL", defaultRedisURL) }

// Prefix returns a unique key prefix for one test.
func Prefix() string { return "test:" + randomHex(6) + ":" }

func sanitize(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 30 {
			break
		}
	}
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// defaultStripeURL is the stripe-mock that infra/scripts/stripe-mock.sh
// starts for `make test`.
const defaultStripeURL = "http://127.0.0.1:12111"

// StripeURL is the stripe-mock the billing tests drive the real stripe-go
// client against (CIC_TEST_STRIPE_URL). The test fails, never skips, when
// it does not answer: a skipped payment test is a payment bug let through.
func StripeURL(t testing.TB) string {
	t.Helper()
	u := env("CIC_TEST_STRIPE_URL", defaultStripeURL)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(strings.TrimRight(u, "/") + "/v1/customers")
	if err != nil {
		t.Fatalf("testenv: stripe-mock at %s does not answer (run the tests with `make test`, which installs and starts it): %v", u, err)
	}
	resp.Body.Close()
	return u
}

// Context is the context of one test's calls: cancelled when the test
// ends, and bounded, so a call that hangs fails the test instead of
// stalling the suite.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Code is the code of a domain error (cic.Error), "" for nil, and
// "internal: <message>" for any other error, so a table test can compare
// one string whatever went wrong.
func Code(err error) string {
	if e, ok := cic.AsError(err); ok {
		return e.Code
	}
	if err != nil {
		return "internal: " + err.Error()
	}
	return ""
}
