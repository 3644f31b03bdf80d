package tenant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// Tenant is a customer company.
type Tenant struct {
	ID        uuid.UUID `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

const tenantColumns = `tenant_id, slug, name, currency, status, created_at`

func scanTenant(row pgx.Row) (Tenant, error) {
	var t Tenant
	var cur string
	err := row.Scan(&t.ID, &t.Slug, &t.Name, &cur, &t.Status, &t.CreatedAt)
	t.Currency = cur
	return t, err
}

// Get returns the tenant of the current Tx.
func Get(ctx context.Context, q Querier, id uuid.UUID) (Tenant, error) {
	t, err := scanTenant(q.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE tenant_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, cic.Codef(cic.ENOTFOUND, "not_found", "Tenant not found.")
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant: %w", err)
	}
	return t, nil
}

// GetTenant returns a tenant by id.
func (s *Service) GetTenant(ctx context.Context, id uuid.UUID) (Tenant, error) {
	var t Tenant
	err := s.DB.Tx(ctx, id, func(tx pgx.Tx) (err error) {
		t, err = Get(ctx, tx, id)
		return err
	})
	return t, err
}

// ListTenantIDs returns every active tenant id, for platform jobs that
// then work inside each tenant's own Tx.
func (db *DB) ListTenantIDs(ctx context.Context) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := db.PlatformTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id FROM tenants WHERE status = 'active' ORDER BY tenant_id`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ids, nil
}

// ListTenants returns up to limit tenants, newest first, for the platform
// operator; before (a created_at) pages on to older ones.
func (db *DB) ListTenants(ctx context.Context, limit int, before *time.Time) ([]Tenant, error) {
	var out []Tenant
	err := db.PlatformTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+tenantColumns+` FROM tenants
			WHERE $2::timestamptz IS NULL OR created_at < $2 ORDER BY created_at DESC, tenant_id LIMIT $1`, limit, before)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scanTenant(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return out, nil
}
