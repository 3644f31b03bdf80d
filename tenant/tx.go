// Package tenant holds tenancy itself: tenants, their users, roles and
// departments, sign-up, authentication and the audit log. Its one
// invariant: tenant data is only ever touched inside DB.Tx, which sets
// app.tenant_id for that transaction so PostgreSQL's row-level security
// hides every other tenant's rows, whatever the query says.
package tenant

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is the app role's pool. It has no BYPASSRLS: a query outside Tx sees
// no tenant rows at all.
type DB struct {
	Pool *pgxpool.Pool
}

// Tx runs fn in a transaction scoped to tenantID: app.tenant_id is set
// with set_config(..., true), which lasts until COMMIT or ROLLBACK, so a
// pooled connection never carries one tenant's setting into the next.
func (db *DB) Tx(ctx context.Context, tenantID uuid.UUID, fn func(pgx.Tx) error) error {
	if tenantID == uuid.Nil {
		return errors.New("tenant tx: nil tenant id")
	}
	return db.tx(ctx, "app.tenant_id", tenantID.String(), fn)
}

// SnapshotTx runs fn in a read-only REPEATABLE READ transaction scoped to
// tenantID, on a connection of its own outside the pool: for long reads
// (a report streaming a million rows) whose queries must all see one
// snapshot, and which must not hold a pooled connection that the writes
// they cause (the report's file) are waiting for.
func (db *DB) SnapshotTx(ctx context.Context, tenantID uuid.UUID, fn func(pgx.Tx) error) (err error) {
	if tenantID == uuid.Nil {
		return errors.New("tenant tx: nil tenant id")
	}
	conn, err := pgx.ConnectConfig(ctx, db.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err = tx.Exec(ctx, `SELECT set_config('app.tenant_id', $1, true)`, tenantID.String()); err != nil {
		return fmt.Errorf("set app.tenant_id: %w", err)
	}
	return fn(tx)
}

// MultiTx runs fn in one transaction that visits several tenants in turn:
// enter(id) switches app.tenant_id for the statements that follow, so RLS
// still confines each statement to one tenant. It exists for group commit
// (metering), where one COMMIT for many tenants' work saves an fsync each.
func (db *DB) MultiTx(ctx context.Context, fn func(tx pgx.Tx, enter func(uuid.UUID) error) error) (err error) {
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	enter := func(id uuid.UUID) error {
		if id == uuid.Nil {
			return errors.New("tenant tx: nil tenant id")
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant_id', $1, true)`, id.String()); err != nil {
			return fmt.Errorf("enter tenant: %w", err)
		}
		return nil
	}
	if err = fn(tx, enter); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// slugTx scopes a transaction to the single tenant row whose slug is slug
// (policy tenant_by_slug), for login, which knows nothing else yet.
func (db *DB) slugTx(ctx context.Context, slug string, fn func(pgx.Tx) error) error {
	return db.tx(ctx, "app.tenant_slug", slug, fn)
}

// PlatformTx may read the list of tenants (policy platform_read) and
// nothing else; platform jobs use it to then enter each tenant's Tx.
func (db *DB) PlatformTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.tx(ctx, "app.platform", "on", fn)
}

func (db *DB) tx(ctx context.Context, key, value string, fn func(pgx.Tx) error) (err error) {
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err = tx.Exec(ctx, `SELECT set_config($1, $2, true)`, key, value); err != nil {
		return fmt.Errorf("set %s: %w", key, err)
	}
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Querier is what the helpers of feature packages need from a Tx.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func isUniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return constraint == "" || pe.ConstraintName == constraint
	}
	return false
}

func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// AddressTx scopes a transaction to the one channel address row whose
// lookup key ("<channel>:<address>") is key (policy address_lookup): for
// inbound mail, whose tenant is known only from the recipient address.
func (db *DB) AddressTx(ctx context.Context, key string, fn func(pgx.Tx) error) error {
	return db.tx(ctx, "app.channel_address", key, fn)
}

// SlugTx is slugTx for channel packages that know a tenant only by the
// slug in an address (support@acme.<inbound domain>).
func (db *DB) SlugTx(ctx context.Context, slug string, fn func(pgx.Tx) error) error {
	return db.slugTx(ctx, slug, fn)
}
