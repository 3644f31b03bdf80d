// Package infra connects the product to the services it runs on:
// PostgreSQL (migrations, the two database roles, pools) and Redis. The
// shell scripts that start private instances live in infra/scripts.
package infra

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cic-platform/cic/migrations"
)

// AppRole is the database role the server and worker use for tenant data.
// It is created by Migrate without BYPASSRLS, so row-level security always
// applies to it.
type AppRole struct {
	Name     string
	Password string
}

var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// AppURL returns ownerURL with the app role's credentials in place of the
// owner's: same server, same database.
func AppURL(ownerURL string, role AppRole) (string, error) {
	u, err := url.Parse(ownerURL)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("database url: want postgres:// scheme, got %q", u.Scheme)
	}
	u.User = url.UserPassword(role.Name, role.Password)
	return u.String(), nil
}

// Migrate applies every embedded migration as the owner and makes sure the
// app role exists with exactly the rights it needs: no ownership, no
// BYPASSRLS, DML on the tables.
func Migrate(ctx context.Context, ownerURL string, role AppRole) error {
	if !roleName.MatchString(role.Name) {
		return fmt.Errorf("app role name %q: want a plain lower-case identifier", role.Name)
	}
	cfg, err := pgx.ParseConfig(ownerURL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()

	if err := ensureRole(ctx, db, role); err != nil {
		return err
	}
	goose.SetBaseFS(migrations.FS)
	goose.SetLogger(goose.NopLogger())
	if err := goose.SetDialect("postgres"); err != nil {
		return fmt.Errorf("goose dialect: %w", err)
	}
	if err := goose.UpContext(ctx, db, "."); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	grants := []string{
		fmt.Sprintf(`GRANT CONNECT ON DATABASE %s TO %s`, pgx.Identifier{cfg.Database}.Sanitize(), role.Name),
		fmt.Sprintf(`GRANT USAGE ON SCHEMA public TO %s`, role.Name),
		fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %s`, role.Name),
		fmt.Sprintf(`REVOKE ALL ON goose_db_version FROM %s`, role.Name),
		fmt.Sprintf(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %s`, role.Name),
		fmt.Sprintf(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO %s`, role.Name),
	}
	for _, g := range grants {
		if _, err := db.ExecContext(ctx, g); err != nil {
			return fmt.Errorf("grant app role: %w", err)
		}
	}
	return nil
}

func ensureRole(ctx context.Context, db *sql.DB, role AppRole) error {
	// Roles are cluster-wide and several databases (test packages) may
	// migrate at once: create-if-missing tolerates the race.
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role.Name).Scan(&exists); err != nil {
		return fmt.Errorf("look up app role: %w", err)
	}
	lit := "'" + escapeLiteral(role.Password) + "'"
	if !exists {
		_, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD %s`, role.Name, lit))
		if err != nil && !isDuplicate(err) {
			return fmt.Errorf("create app role: %w", err)
		}
		return nil
	}
	// An existing role is brought back to the safe attributes, whatever
	// someone did to it by hand. Roles are shared by the whole cluster, so
	// two migrations at once (replicas, test packages) can collide on the
	// same catalog row: "tuple concurrently updated" is retried.
	var err error
	for attempt := range 5 {
		_, err = db.ExecContext(ctx, fmt.Sprintf(`ALTER ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD %s`, role.Name, lit))
		if err == nil || !isConcurrentUpdate(err) {
			break
		}
		time.Sleep(time.Duration(20*(attempt+1)) * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("alter app role: %w", err)
	}
	return nil
}

func isConcurrentUpdate(err error) bool {
	type coder interface{ SQLState() string }
	var c coder
	return errors.As(err, &c) && c.SQLState() == "XX000" && strings.Contains(err.Error(), "concurrently updated")
}

func escapeLiteral(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func isDuplicate(err error) bool {
	type coder interface{ SQLState() string }
	var c coder
	if errors.As(err, &c) {
		return c.SQLState() == "42710" || c.SQLState() == "23505"
	}
	return false
}

// OpenPool opens a pgx pool and checks that the server answers.
func OpenPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return pool, nil
}
