// Package metering counts handled contacts against a tenant's prepaid
// bundles. Invariants: a contact is metered exactly once, and money is
// integer minor units, never a float.
package metering

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/tenant"
)

// Bundle sources.
const (
	SourceTrial     = "trial"
	SourcePurchase  = "purchase"
	SourceGrant     = "grant"
	SourceAutoTopup = "auto_topup"
)

// Bundle is a prepaid block of contacts.
type Bundle struct {
	ID         uuid.UUID `json:"id"`
	Source     string    `json:"source"`
	Contacts   int64     `json:"contacts"`
	Remaining  int64     `json:"remaining"`
	PriceMinor int64     `json:"price_minor"`
	Currency   string    `json:"currency"`
	ValidFrom  time.Time `json:"valid_from"`
	ValidUntil time.Time `json:"valid_until"`
}

// Trial is what every new tenant gets for free.
type Trial struct {
	Contacts int64
	Validity time.Duration
}

// DefaultTrial: 250 contacts for 30 days.
var DefaultTrial = Trial{Contacts: 250, Validity: 30 * 24 * time.Hour}

// TrialHook records the trial bundle inside the sign-up transaction.
func TrialHook(tr Trial) tenant.SignupHook {
	return func(ctx context.Context, tx pgx.Tx, t tenant.Tenant, now time.Time) error {
		_, err := insertBundle(ctx, tx, t.ID, Bundle{
			Source: SourceTrial, Contacts: tr.Contacts, Remaining: tr.Contacts,
			PriceMinor: 0, Currency: t.Currency, ValidFrom: now, ValidUntil: now.Add(tr.Validity),
		})
		return err
	}
}

// CreditBundle records a bought bundle (a purchase or an auto top-up)
// inside the caller's transaction, so the bundle exists exactly when the
// payment that bought it is recorded. It takes the tenant's metering lock
// first: the draw-down must not read the bundles half-way.
func CreditBundle(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, b Bundle) (Bundle, error) {
	if err := LockTenant(ctx, tx, tenantID); err != nil {
		return Bundle{}, err
	}
	b.Remaining = b.Contacts
	return insertBundle(ctx, tx, tenantID, b)
}

// TotalBought is every contact the tenant was ever credited (all bundles,
// expired or not): it only grows, with each purchase or top-up, so it names
// one "cycle" between purchases (low-balance warnings, auto top-up).
func TotalBought(ctx context.Context, q tenant.Querier, tenantID uuid.UUID) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, `SELECT coalesce(sum(contacts), 0) FROM bundles WHERE tenant_id = $1`, tenantID).Scan(&n); err != nil {
		return 0, fmt.Errorf("total bought: %w", err)
	}
	return n, nil
}

func insertBundle(ctx context.Context, q tenant.Querier, tenantID uuid.UUID, b Bundle) (Bundle, error) {
	b.ID = uuid.New()
	_, err := q.Exec(ctx, `INSERT INTO bundles (tenant_id, id, source, contacts, remaining, price_minor, currency, valid_from, valid_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		tenantID, b.ID, b.Source, b.Contacts, b.Remaining, b.PriceMinor, b.Currency, b.ValidFrom, b.ValidUntil)
	if err != nil {
		return Bundle{}, fmt.Errorf("insert bundle: %w", err)
	}
	return b, nil
}

// ActiveBundles lists the bundles valid at now with contacts left,
// earliest expiry first (the drawdown order).
func ActiveBundles(ctx context.Context, q tenant.Querier, tenantID uuid.UUID, now time.Time) ([]Bundle, error) {
	rows, err := q.Query(ctx, `SELECT id, source, contacts, remaining, price_minor, currency, valid_from, valid_until
		FROM bundles WHERE tenant_id = $1 AND remaining > 0 AND valid_from <= $2 AND valid_until > $2
		ORDER BY valid_until, created_at, id`, tenantID, now)
	if err != nil {
		return nil, fmt.Errorf("active bundles: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Bundle, error) {
		var b Bundle
		var cur string
		err := r.Scan(&b.ID, &b.Source, &b.Contacts, &b.Remaining, &b.PriceMinor, &cur, &b.ValidFrom, &b.ValidUntil)
		b.Currency = cur
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("active bundles: %w", err)
	}
	return out, nil
}
