package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// TenantBySlug returns the tenant whose slug is slug, for operator tools
// (cic demo) that know a company only by its address. It reads through
// the tenant_by_slug policy, so it can see that one row and nothing else.
func (s *Service) TenantBySlug(ctx context.Context, slug string) (Tenant, error) {
	slug = strings.ToLower(strings.TrimSpace(slug))
	var t Tenant
	err := s.DB.slugTx(ctx, slug, func(tx pgx.Tx) (err error) {
		t, err = scanTenant(tx.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE slug = $1`, slug))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, cic.Codef(cic.ENOTFOUND, "not_found", "Tenant %q not found.", slug)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("tenant by slug: %w", err)
	}
	return t, nil
}
