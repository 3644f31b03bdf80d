package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cic-platform/cic/infra/secretbox"
	"github.com/cic-platform/cic/migrations"
)

func TestLoadConfig_SecretsKeyAndPrivateOutbound(t *testing.T) {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	good := base64.StdEncoding.EncodeToString(k)
	cfg, err := LoadConfig(envOf(map[string]string{"SECRETS_KEY": good + "," + good, "ALLOW_PRIVATE_OUTBOUND": "1"}))
	if err != nil || cfg.SecretsKey != good+","+good || !cfg.AllowPrivateOutbound {
		t.Fatalf("cfg %+v, %v", cfg, err)
	}
	if cfg, _ := LoadConfig(envOf(nil)); cfg.AllowPrivateOutbound {
		t.Fatal("private outbound is allowed by default")
	}
	for _, env := range []map[string]string{
		{"SECRETS_KEY": "not-base64!"},
		{"SECRETS_KEY": base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))},
		{"ALLOW_PRIVATE_OUTBOUND": "yes please"},
	} {
		if _, err := LoadConfig(envOf(env)); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
}

// A database from before secrets were sealed: its plain-text provider
// secrets are sealed by `cic secrets rotate` (and serve at start), the
// database never holds them in plain text again, a new first key seals
// them again while the old one still opens, and a wrong key fails with a
// clear error.
func TestSecretsRotate_SealsPlainRowsAndReSealsWithTheNewKey(t *testing.T) {
	dbURL := emptyDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	goose.SetBaseFS(migrations.FS)
	goose.SetLogger(goose.NopLogger())
	if err := goose.SetDialect("postgres"); err != nil {
		t.Fatal(err)
	}
	if err := goose.UpToContext(ctx, db, ".", 13); err != nil {
		t.Fatalf("migrate to 13: %v", err)
	}
	const tenantID = "6f1c1d8e-6a53-4c52-9d1e-3f4c2b1a0e01"
	for _, q := range []string{
		`INSERT INTO tenants (tenant_id, slug, name, currency) VALUES ('` + tenantID + `', 'oldco', 'Old Co', 'EUR')`,
		`INSERT INTO channel_providers (tenant_id, provider, account_id, secret) VALUES ('` + tenantID + `', 'twilio', 'AC1', 'legacy-twilio-token')`,
		`INSERT INTO channel_providers (tenant_id, provider, secret) VALUES ('` + tenantID + `', 'social', 'legacy-social-secret')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	key1, key2 := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(key1)
	_, _ = rand.Read(key2)
	b64 := base64.StdEncoding.EncodeToString
	c := newCLI(t, dbURL)
	c.mustRun("migrate")
	// Migrated: the plain text waits in secret_plain, nothing sealed yet.
	if n := countRows(t, db, `SELECT count(*) FROM channel_providers WHERE secret IS NULL AND secret_plain IS NOT NULL`); n != 2 {
		t.Fatalf("%d rows waiting to be sealed after migrate, want 2", n)
	}

	// serve seals them before it takes requests.
	c.env["SECRETS_KEY"] = b64(key1)
	c.env["HTTP_ADDR"] = "127.0.0.1:" + freePort(t)
	c.env["SMTP_ADDR"] = "127.0.0.1:" + freePort(t)
	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { _, _, err := c.run(serveCtx, "serve"); served <- err }()
	for countRows(t, db, `SELECT count(*) FROM channel_providers WHERE secret_plain IS NOT NULL`) != 0 {
		select {
		case err := <-served:
			t.Fatalf("serve stopped: %v", err)
		case <-ctx.Done():
			t.Fatal("serve did not seal the plain-text secrets")
		case <-time.After(50 * time.Millisecond):
		}
	}
	stopServe()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if out := c.mustRun("secrets", "rotate"); !strings.Contains(out, "sealed 0 secrets") {
		t.Fatalf("rotate after serve sealed them printed %q", out)
	}
	sealed := sealedSecrets(t, db)
	box1, _ := secretbox.New(key1)
	for provider, want := range map[string]string{"twilio": "legacy-twilio-token", "social": "legacy-social-secret"} {
		s := sealed[provider]
		if strings.Contains(string(s), want) {
			t.Fatalf("%s: the database holds the plain text", provider)
		}
		if got, err := box1.Open(s); err != nil || string(got) != want {
			t.Fatalf("%s opens to %q, %v", provider, got, err)
		}
	}
	if n := countRows(t, db, `SELECT count(*) FROM channel_providers WHERE secret_plain IS NOT NULL`); n != 0 {
		t.Fatalf("%d rows still hold plain text", n)
	}

	// Rotation: key2 first, key1 after; rotate seals again with key2.
	c.env["SECRETS_KEY"] = b64(key2) + "," + b64(key1)
	if out := c.mustRun("secrets", "rotate"); !strings.Contains(out, "sealed 2 secrets") {
		t.Fatalf("rotate with a new key printed %q", out)
	}
	box2, _ := secretbox.New(key2)
	for provider, s := range sealedSecrets(t, db) {
		if box2.NeedsRotation(s) {
			t.Fatalf("%s is not sealed with the new key", provider)
		}
		if _, err := box2.Open(s); err != nil {
			t.Fatalf("%s: %v", provider, err)
		}
	}

	// A wrong key: a clear error naming SECRETS_KEY, and nothing changed.
	key3 := make([]byte, 32)
	_, _ = rand.Read(key3)
	c.env["SECRETS_KEY"] = b64(key3)
	_, logs, err := c.run(ctx, "secrets", "rotate")
	if err == nil || !strings.Contains(err.Error(), "SECRETS_KEY") {
		t.Fatalf("rotate with a wrong key: %v\n%s", err, logs)
	}
	for provider, s := range sealedSecrets(t, db) {
		if _, err := box2.Open(s); err != nil {
			t.Fatalf("%s after the failed rotate: %v", provider, err)
		}
	}
	// serve refuses to start when no secret opens with its key.
	if _, _, err := c.run(ctx, "serve"); err == nil || !strings.Contains(err.Error(), "SECRETS_KEY") {
		t.Fatalf("serve with a wrong key: %v", err)
	}
	if _, _, err := c.run(ctx, "secrets", "burn"); err == nil {
		t.Fatal("cic secrets burn ran")
	}
}

func countRows(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func sealedSecrets(t *testing.T, db *sql.DB) map[string][]byte {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT provider, secret FROM channel_providers`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var p string
		var s []byte
		if err := rows.Scan(&p, &s); err != nil {
			t.Fatal(err)
		}
		out[p] = s
	}
	return out
}
