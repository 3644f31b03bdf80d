package metering

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Authorize tells a channel whether it may take a new inbound contact for
// the tenant. Only the block policy with no contacts left in any active
// bundle says no; overage and auto top-up keep serving. Contacts already
// in progress are not asked about: they always finish and are metered.
func Authorize(ctx context.Context, db *tenant.DB, tenantID uuid.UUID, channel string) (bool, error) {
	if !validChannel(strings.ToLower(strings.TrimSpace(channel))) {
		return false, cic.Codef(cic.EINVALID, "invalid_channel", "channel must be one of %s.", strings.Join(Channels, ", "))
	}
	ok := true
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		st, err := loadSettings(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		if st.Policy != PolicyBlock {
			return nil
		}
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bundles WHERE tenant_id = $1 AND remaining > 0
			AND valid_from <= now() AND valid_until > now())`, tenantID).Scan(&ok); err != nil {
			return fmt.Errorf("authorize: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}
