package metering

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

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

const settingsSQL = `SELECT t.currency, s.policy, s.overage_price_minor, s.topup_threshold, s.topup_contacts,
		s.topup_price_minor, s.topup_validity_days, s.warn_percents
	FROM tenants t LEFT JOIN metering_settings s ON s.tenant_id = t.tenant_id WHERE t.tenant_id = $1`

func loadSettings(ctx context.Context, q tenant.Querier, tenantID uuid.UUID) (Settings, error) {
	return scanSettings(q.QueryRow(ctx, settingsSQL, tenantID))
}

// scanSettings reads a row of settingsSQL.
func scanSettings(row pgx.Row) (Settings, error) {
	var st Settings
	var policy *string
	var overage *int64
	var warn []int32
	err := row.Scan(&st.Currency, &policy, &overage, &st.TopupThreshold, &st.TopupContacts, &st.TopupPriceMinor, &st.TopupValidityDays, &warn)
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
	st.WarnPercents = make([]int, 0, len(warn))
	for _, w := range warn {
		st.WarnPercents = append(st.WarnPercents, int(w))
	}
	return st, nil
}

// Limits of the settings a tenant may choose.
const (
	MaxWarnPercents   = 5
	MaxTopupValidity  = 1095 // days, three years
	maxSettingsAmount = 1 << 50
)

// Policies lists the exhaustion policies, the default first.
var Policies = []string{PolicyOverage, PolicyAutoTopup, PolicyBlock}

// CanView reports whether a role may read the tenant's usage: balance,
// daily counts and policy. Agents handle contacts; they do not see money.
func CanView(r cic.Role) bool {
	return r.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleFinance, cic.RoleSupervisor)
}

// RequireViewer refuses actors whose role may not read usage.
func RequireViewer(a tenant.Actor) error {
	if !CanView(a.Role) {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner, admin, finance or supervisor may see usage.")
	}
	return nil
}

// GetSettings returns the tenant's settings (the defaults if it never chose).
func GetSettings(ctx context.Context, db *tenant.DB, tenantID uuid.UUID) (Settings, error) {
	var st Settings
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		st, err = loadSettings(ctx, tx, tenantID)
		return err
	})
	return st, err
}

// Validate normalises st and says what is wrong with it. The top-up
// fields are required for auto_topup and checked whenever they are given,
// so switching policies back and forth keeps the chosen bundle.
func (st *Settings) Validate() error {
	bad := func(code, format string, args ...any) error { return cic.Codef(cic.EINVALID, code, format, args...) }
	st.Policy = strings.ToLower(strings.TrimSpace(st.Policy))
	if !slices.Contains(Policies, st.Policy) {
		return bad("invalid_policy", "policy must be one of %s.", strings.Join(Policies, ", "))
	}
	if st.OveragePriceMinor < 0 || st.OveragePriceMinor > maxSettingsAmount {
		return bad("invalid_overage_price", "overage_price_minor must be a whole number of minor units, 0 or more.")
	}
	if st.Policy == PolicyAutoTopup && (st.TopupThreshold == nil || st.TopupContacts == nil || st.TopupPriceMinor == nil || st.TopupValidityDays == nil) {
		return bad("topup_incomplete", "auto_topup needs topup_threshold, topup_contacts, topup_price_minor and topup_validity_days.")
	}
	if v := st.TopupThreshold; v != nil && (*v < 0 || *v > maxSettingsAmount) {
		return bad("invalid_topup_threshold", "topup_threshold must be 0 or more contacts.")
	}
	if v := st.TopupContacts; v != nil && (*v <= 0 || *v > maxSettingsAmount) {
		return bad("invalid_topup_contacts", "topup_contacts must be 1 or more.")
	}
	if v := st.TopupPriceMinor; v != nil && (*v < 0 || *v > maxSettingsAmount) {
		return bad("invalid_topup_price", "topup_price_minor must be a whole number of minor units, 0 or more.")
	}
	if v := st.TopupValidityDays; v != nil && (*v < 1 || *v > MaxTopupValidity) {
		return bad("invalid_topup_validity", "topup_validity_days must be from 1 to %d.", MaxTopupValidity)
	}
	if st.WarnPercents == nil {
		st.WarnPercents = []int{}
	}
	if len(st.WarnPercents) > MaxWarnPercents {
		return bad("invalid_warn_percents", "At most %d warning thresholds.", MaxWarnPercents)
	}
	for i, p := range st.WarnPercents {
		if p < 0 || p > 100 {
			return bad("invalid_warn_percents", "Warning thresholds are percents from 0 to 100.")
		}
		if i > 0 && p >= st.WarnPercents[i-1] {
			return bad("invalid_warn_percents", "Warning thresholds must be distinct and in descending order, e.g. 20, 5, 0.")
		}
	}
	return nil
}

// UpdateSettings replaces the tenant's settings (owner or admin) and
// records the change in the audit log. The currency is the tenant's and
// is not changed here.
func UpdateSettings(ctx context.Context, db *tenant.DB, a tenant.Actor, st Settings) (Settings, error) {
	if !a.Role.Manages() {
		return Settings{}, cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may change the exhaustion policy.")
	}
	if err := st.Validate(); err != nil {
		return Settings{}, err
	}
	warn := make([]int32, len(st.WarnPercents))
	for i, p := range st.WarnPercents {
		warn[i] = int32(p)
	}
	var out Settings
	err := db.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO metering_settings (tenant_id, policy, overage_price_minor, topup_threshold,
				topup_contacts, topup_price_minor, topup_validity_days, warn_percents, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
			ON CONFLICT (tenant_id) DO UPDATE SET policy = EXCLUDED.policy, overage_price_minor = EXCLUDED.overage_price_minor,
				topup_threshold = EXCLUDED.topup_threshold, topup_contacts = EXCLUDED.topup_contacts,
				topup_price_minor = EXCLUDED.topup_price_minor, topup_validity_days = EXCLUDED.topup_validity_days,
				warn_percents = EXCLUDED.warn_percents, updated_at = now()`,
			a.TenantID, st.Policy, st.OveragePriceMinor, st.TopupThreshold, st.TopupContacts, st.TopupPriceMinor,
			st.TopupValidityDays, warn)
		if err != nil {
			return fmt.Errorf("save metering settings: %w", err)
		}
		if out, err = loadSettings(ctx, tx, a.TenantID); err != nil {
			return err
		}
		return tenant.Audit(ctx, tx, a, "metering.settings", "tenant", a.TenantID.String(), map[string]any{
			"policy": out.Policy, "overage_price_minor": out.OveragePriceMinor,
			"topup_threshold": out.TopupThreshold, "topup_contacts": out.TopupContacts,
			"topup_price_minor": out.TopupPriceMinor, "topup_validity_days": out.TopupValidityDays,
			"warn_percents": out.WarnPercents,
		})
	})
	if err != nil {
		return Settings{}, err
	}
	return out, nil
}
