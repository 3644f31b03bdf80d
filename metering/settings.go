package metering

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Settings is a tenant's exhaustion policy and warning thresholds.
//
// Prices are the platform's, never the tenant's: an auto top-up names
// which catalogue tier it buys (TopupTier), and billing reads the tier's
// price, contacts and validity from the catalogue when it charges it. The
// overage price is read only: the catalogue's pay-as-you-go rate in the
// tenant's currency, or the price an operator negotiated for the tenant.
type Settings struct {
	Policy         string  `json:"policy"`
	TopupThreshold *int64  `json:"topup_threshold"`
	TopupTier      *string `json:"topup_tier"`
	WarnPercents   []int   `json:"warn_percents"`
	Currency       string  `json:"currency"`
	// OveragePriceMinor is what one overage contact costs now; set by
	// nobody through UpdateSettings.
	OveragePriceMinor int64 `json:"overage_price_minor"`
	// OveragePriceSource says where it comes from: OverageCatalogue or
	// OverageNegotiated (then NegotiatedSince is when the operator set it).
	OveragePriceSource string     `json:"overage_price_source"`
	NegotiatedSince    *time.Time `json:"negotiated_since,omitempty"`
}

// Where an overage price comes from.
const (
	OverageCatalogue  = "catalogue"
	OverageNegotiated = "negotiated"
)

// FallbackOveragePriceMinor prices an overage contact in a currency the
// catalogue has no pay-as-you-go rate for (the operator should add one).
const FallbackOveragePriceMinor = 5

// DefaultSettings apply to a tenant that never chose: overage (at the
// catalogue's rate, filled in when loaded), warnings at 20 %, 5 % and 0.
func DefaultSettings(currency string) Settings {
	return Settings{Policy: PolicyOverage, OveragePriceMinor: FallbackOveragePriceMinor, OveragePriceSource: OverageCatalogue,
		WarnPercents: []int{20, 5, 0}, Currency: currency}
}

// settingsSQL reads the tenant's choices and its overage price: the
// negotiated one (negotiated_overage_prices, written by billing for the
// operator) over the catalogue's rate (catalog_overage_prices, billing's
// catalogue, platform data every tenant reads).
var settingsSQL = `SELECT t.currency, s.policy, s.topup_threshold, s.topup_tier, s.warn_percents,
		n.price_minor, n.set_at, coalesce(c.price_minor, ` + strconv.Itoa(FallbackOveragePriceMinor) + `)
	FROM tenants t LEFT JOIN metering_settings s ON s.tenant_id = t.tenant_id
		LEFT JOIN negotiated_overage_prices n ON n.tenant_id = t.tenant_id
		LEFT JOIN catalog_overage_prices c ON c.currency = t.currency
	WHERE t.tenant_id = $1`

func loadSettings(ctx context.Context, q tenant.Querier, tenantID uuid.UUID) (Settings, error) {
	return scanSettings(q.QueryRow(ctx, settingsSQL, tenantID))
}

// scanSettings reads a row of settingsSQL.
func scanSettings(row pgx.Row) (Settings, error) {
	var st Settings
	var policy *string
	var warn []int32
	var negotiated *int64
	var since *time.Time
	var catalogue int64
	err := row.Scan(&st.Currency, &policy, &st.TopupThreshold, &st.TopupTier, &warn, &negotiated, &since, &catalogue)
	if errors.Is(err, pgx.ErrNoRows) {
		return Settings{}, cic.Codef(cic.ENOTFOUND, "not_found", "No such tenant.")
	}
	if err != nil {
		return Settings{}, fmt.Errorf("load metering settings: %w", err)
	}
	if policy == nil {
		d := DefaultSettings(st.Currency)
		d.TopupThreshold, d.TopupTier = nil, nil
		st = d
	} else {
		st.Policy = *policy
		st.WarnPercents = make([]int, 0, len(warn))
		for _, w := range warn {
			st.WarnPercents = append(st.WarnPercents, int(w))
		}
	}
	st.OveragePriceMinor, st.OveragePriceSource, st.NegotiatedSince = catalogue, OverageCatalogue, nil
	if negotiated != nil {
		st.OveragePriceMinor, st.OveragePriceSource, st.NegotiatedSince = *negotiated, OverageNegotiated, since
	}
	return st, nil
}

// PriceFields are the names a tenant may not send with its settings: a
// price, a bundle size or a validity is the platform's. Matched without
// regard to case, as encoding/json matches field names.
var PriceFields = []string{"overage_price_minor", "overage_price_source", "negotiated_since",
	"topup_price_minor", "topup_contacts", "topup_validity_days", "topup_validity_months",
	"price_minor", "contacts", "validity_days", "validity_months"}

// RefusePriceFields answers price_not_settable when names holds a
// price field.
func RefusePriceFields(names []string) error {
	for _, n := range names {
		for _, f := range PriceFields {
			if strings.EqualFold(strings.TrimSpace(n), f) {
				return cic.Codef(cic.EINVALID, "price_not_settable",
					"%s cannot be set: prices, bundle sizes and validity come from the catalogue (choose a tier with topup_tier; see GET /api/v1/catalog), and a negotiated overage price only from the platform operator.", f)
			}
		}
	}
	return nil
}

// Limits of the settings a tenant may choose.
const (
	MaxWarnPercents   = 5
	maxSettingsAmount = 1 << 50
)

// tierIDPattern is the shape of a catalogue tier id (billing's rule).
var tierIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$`)

// tierForSale reports whether the catalogue sells tier in currency now.
func tierForSale(ctx context.Context, q tenant.Querier, tier, currency string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM catalog_tiers t JOIN catalog_prices p ON p.tier_id = t.id
		WHERE t.active AND t.id = $1 AND p.currency = $2)`, tier, currency).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("find tier: %w", err)
	}
	return ok, nil
}

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
// so switching policies back and forth keeps the chosen tier. Whether the
// tier is for sale is checked by UpdateSettings, against the catalogue.
func (st *Settings) Validate() error {
	bad := func(code, format string, args ...any) error { return cic.Codef(cic.EINVALID, code, format, args...) }
	st.Policy = strings.ToLower(strings.TrimSpace(st.Policy))
	if !slices.Contains(Policies, st.Policy) {
		return bad("invalid_policy", "policy must be one of %s.", strings.Join(Policies, ", "))
	}
	if st.TopupTier != nil {
		v := strings.ToLower(strings.TrimSpace(*st.TopupTier))
		if v == "" {
			st.TopupTier = nil
		} else if !tierIDPattern.MatchString(v) {
			return bad("unknown_tier", "topup_tier must be the id of a bundle of the catalogue (see GET /api/v1/catalog).")
		} else {
			st.TopupTier = &v
		}
	}
	if st.Policy == PolicyAutoTopup && (st.TopupThreshold == nil || st.TopupTier == nil) {
		return bad("topup_incomplete", "auto_topup needs topup_threshold and topup_tier (a bundle of the catalogue).")
	}
	if v := st.TopupThreshold; v != nil && (*v < 0 || *v > maxSettingsAmount) {
		return bad("invalid_topup_threshold", "topup_threshold must be 0 or more contacts.")
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
		if st.TopupTier != nil {
			saved, err := loadSettings(ctx, tx, a.TenantID)
			if err != nil {
				return err
			}
			// A tier the operator withdrew stays saved until the tenant
			// changes it or turns auto top-up on again.
			if st.Policy == PolicyAutoTopup || saved.TopupTier == nil || *saved.TopupTier != *st.TopupTier {
				ok, err := tierForSale(ctx, tx, *st.TopupTier, saved.Currency)
				if err != nil {
					return err
				}
				if !ok {
					return cic.Codef(cic.EINVALID, "unknown_tier", "There is no bundle %q for sale in %s; see GET /api/v1/catalog.", *st.TopupTier, saved.Currency)
				}
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO metering_settings (tenant_id, policy, topup_threshold, topup_tier, warn_percents, updated_at)
			VALUES ($1, $2, $3, $4, $5, now())
			ON CONFLICT (tenant_id) DO UPDATE SET policy = EXCLUDED.policy, topup_threshold = EXCLUDED.topup_threshold,
				topup_tier = EXCLUDED.topup_tier, warn_percents = EXCLUDED.warn_percents, updated_at = now()`,
			a.TenantID, st.Policy, st.TopupThreshold, st.TopupTier, warn)
		if err != nil {
			return fmt.Errorf("save metering settings: %w", err)
		}
		if out, err = loadSettings(ctx, tx, a.TenantID); err != nil {
			return err
		}
		return tenant.Audit(ctx, tx, a, "metering.settings", "tenant", a.TenantID.String(), map[string]any{
			"policy": out.Policy, "topup_threshold": out.TopupThreshold, "topup_tier": out.TopupTier,
			"warn_percents": out.WarnPercents,
		})
	})
	if err != nil {
		return Settings{}, err
	}
	return out, nil
}
