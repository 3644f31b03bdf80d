package metering

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Settings is a tenant's exhaustion policy and warning thresholds.
type Settings struct {
	Policy            string `json:"policy"`
	OveragePriceMinor int64  `json:"overage_price_minor"`
	TopupThreshold    *int64 `json:"topup_threshold"`
	TopupContacts     *int64 `json:"topup_contacts"`
	TopupPriceMinor   *int64 `json:"topup_price_minor"`
	TopupValidityDays *int   `json:"topup_validity_days"`
	WarnPercents      []int  `json:"warn_percents"`
	Currency          string `json:"currency"`
}

// DefaultSettings apply to a tenant that never chose: overage at 5 minor
// units a contact, warnings at 20 %, 5 % and 0.
func DefaultSettings(currency string) Settings {
	return Settings{Policy: PolicyOverage, OveragePriceMinor: 5, WarnPercents: []int{20, 5, 0}, Currency: currency}
}

func loadSettings(ctx context.Context, q tenant.Querier, tenantID uuid.UUID) (Settings, error) {
	var st Settings
	var policy *string
	var overage *int64
	var warn []int32
	err := q.QueryRow(ctx, `SELECT t.currency, s.policy, s.overage_price_minor, s.topup_threshold, s.topup_contacts,
			s.topup_price_minor, s.topup_validity_days, s.warn_percents
		FROM tenants t LEFT JOIN metering_settings s ON s.tenant_id = t.tenant_id WHERE t.tenant_id = $1`, tenantID).
		Scan(&st.Currency, &policy, &overage, &st.TopupThreshold, &st.TopupContacts, &st.TopupPriceMinor, &st.TopupValidityDays, &warn)
	if errors.Is(err, pgx.ErrNoRows) {
		return Settings{}, cic.Codef(cic.ENOTFOUND, "not_found", "No such tenant.")
	}
	if err != nil {
		return Settings{}, fmt.Errorf("load metering settings: %w", err)
	}
	if policy == nil {
		return DefaultSettings(st.Currency), nil
	}
	st.Policy, st.OveragePriceMinor = *policy, *overage
	for _, w := range warn {
		st.WarnPercents = append(st.WarnPercents, int(w))
	}
	return st, nil
}

