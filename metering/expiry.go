package metering

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/tenant"
)

// Forfeit is what a bundle still held when it expired: Contacts unused,
// worth ValueNum / ValueDen minor units of Currency (remaining * price /
// contacts, exact; never a float).
type Forfeit struct {
	BundleID   uuid.UUID `json:"bundle_id"`
	Contacts   int64     `json:"contacts"`
	ValueNum   int64     `json:"value_num"`
	ValueDen   int64     `json:"value_den"`
	Currency   string    `json:"currency"`
	ExpiredAt  time.Time `json:"expired_at"`
	RecordedAt time.Time `json:"recorded_at"`
}

// ExpireBundles records a forfeit for every bundle of tenantID that has
// expired (valid_until <= now) with contacts left and no forfeit yet, and
// returns how many it recorded. It is idempotent: a bundle is forfeited
// once (the forfeits primary key), so running it again, or on two
// replicas at once, records nothing new.
//
// Expiry never changes bundles.remaining: the draw-down already ignores a
// bundle past its valid_until, and the invariant "records drawn from a
// bundle = contacts - remaining" must keep holding.
//
// It takes the tenant's metering lock, so no group commit of this tenant
// is between reading a bundle and drawing from it while the forfeit is
// written. The cutoff is also capped by the database clock read after
// the lock: the draw-down reads that same clock after taking the lock,
// so once a forfeit is committed, every later draw sees its bundle
// expired, whatever the skew between this process's clock and the
// database's.
func ExpireBundles(ctx context.Context, db *tenant.DB, tenantID uuid.UUID, now time.Time) (int, error) {
	var n int
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		if err := LockTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO forfeits (tenant_id, bundle_id, contacts, value_num, value_den, currency, expired_at)
			SELECT b.tenant_id, b.id, b.remaining, b.remaining * b.price_minor, b.contacts, b.currency, b.valid_until
			FROM bundles b
			WHERE b.tenant_id = $1 AND b.remaining > 0
				AND b.valid_until <= $2 AND b.valid_until <= clock_timestamp()
				AND NOT EXISTS (SELECT 1 FROM forfeits f WHERE f.tenant_id = b.tenant_id AND f.bundle_id = b.id)
			ORDER BY b.valid_until, b.id
			ON CONFLICT (tenant_id, bundle_id) DO NOTHING`, tenantID, now)
		if err != nil {
			return fmt.Errorf("record forfeits: %w", err)
		}
		n = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire bundles: %w", err)
	}
	return n, nil
}

// Forfeits lists a tenant's forfeits, latest expiry first.
func Forfeits(ctx context.Context, db *tenant.DB, tenantID uuid.UUID) ([]Forfeit, error) {
	var out []Forfeit
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT bundle_id, contacts, value_num, value_den, currency, expired_at, recorded_at
			FROM forfeits WHERE tenant_id = $1 ORDER BY expired_at DESC, bundle_id`, tenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Forfeit, error) {
			var f Forfeit
			err := r.Scan(&f.BundleID, &f.Contacts, &f.ValueNum, &f.ValueDen, &f.Currency, &f.ExpiredAt, &f.RecordedAt)
			return f, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("forfeits: %w", err)
	}
	return out, nil
}
