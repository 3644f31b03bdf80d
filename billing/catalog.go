package billing

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// Tier is a bundle of the catalogue, priced in one currency.
type Tier struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Contacts       int64  `json:"contacts"`
	ValidityMonths int    `json:"validity_months"`
	PriceMinor     int64  `json:"price_minor"`
	Currency       string `json:"currency"`
	// PricePerContactMinor is PriceMinor / Contacts as an exact decimal
	// string of minor units ("1.9" cents), never a float.
	PricePerContactMinor string `json:"price_per_contact_minor"`
	StripePriceID        string `json:"-"`
}

// SeatPrice is the monthly price of one concurrent seat.
type SeatPrice struct {
	PriceMinor    int64  `json:"price_minor"`
	Currency      string `json:"currency"`
	Interval      string `json:"interval"`
	StripePriceID string `json:"-"`
}

// Catalog is what a tenant may buy, in its currency.
type Catalog struct {
	Currency string     `json:"currency"`
	Tiers    []Tier     `json:"tiers"`
	Seat     *SeatPrice `json:"seat_price"`
}

// perContact writes num/den minor units as a decimal with up to 4 places,
// rounded half up, by integer arithmetic.
func perContact(num, den int64) string {
	r := new(big.Rat).SetFrac64(num, den)
	return strings.TrimRight(strings.TrimRight(r.FloatString(4), "0"), ".")
}

// GetCatalog returns the active tiers priced in currency, smallest first,
// and the seat price (nil when seats are not sold in it).
func (s *Service) GetCatalog(ctx context.Context, currency string) (Catalog, error) {
	c := Catalog{Currency: currency, Tiers: []Tier{}}
	err := pgx.BeginFunc(ctx, s.DB.Pool, func(tx pgx.Tx) error {
		var err error
		c.Tiers, err = activeTiers(ctx, tx, currency)
		if err != nil {
			return err
		}
		c.Seat, err = seatPrice(ctx, tx, currency)
		return err
	})
	if err != nil {
		return Catalog{}, fmt.Errorf("catalog: %w", err)
	}
	return c, nil
}

func activeTiers(ctx context.Context, q tenant.Querier, currency string) ([]Tier, error) {
	rows, err := q.Query(ctx, `SELECT t.id, t.name, t.contacts, t.validity_months, p.price_minor, p.currency, coalesce(p.stripe_price_id, '')
		FROM catalog_tiers t JOIN catalog_prices p ON p.tier_id = t.id
		WHERE t.active AND p.currency = $1 ORDER BY t.contacts, t.id`, currency)
	if err != nil {
		return nil, err
	}
	tiers, err := pgx.CollectRows(rows, scanTier)
	if err != nil {
		return nil, err
	}
	if tiers == nil {
		tiers = []Tier{}
	}
	return tiers, nil
}

func scanTier(r pgx.CollectableRow) (Tier, error) {
	var t Tier
	var cur string
	err := r.Scan(&t.ID, &t.Name, &t.Contacts, &t.ValidityMonths, &t.PriceMinor, &cur, &t.StripePriceID)
	t.Currency = cur
	t.PricePerContactMinor = perContact(t.PriceMinor, t.Contacts)
	return t, err
}

// tierFor returns one active tier in currency.
func tierFor(ctx context.Context, q tenant.Querier, id, currency string) (Tier, error) {
	rows, err := q.Query(ctx, `SELECT t.id, t.name, t.contacts, t.validity_months, p.price_minor, p.currency, coalesce(p.stripe_price_id, '')
		FROM catalog_tiers t JOIN catalog_prices p ON p.tier_id = t.id
		WHERE t.active AND t.id = $1 AND p.currency = $2`, id, currency)
	if err != nil {
		return Tier{}, fmt.Errorf("tier: %w", err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanTier)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tier{}, cic.Codef(cic.EINVALID, "unknown_tier", "There is no bundle %q for sale in %s; see GET /api/v1/catalog.", id, currency)
	}
	if err != nil {
		return Tier{}, fmt.Errorf("tier: %w", err)
	}
	return t, nil
}

func seatPrice(ctx context.Context, q tenant.Querier, currency string) (*SeatPrice, error) {
	var p SeatPrice
	var cur string
	err := q.QueryRow(ctx, `SELECT price_minor, currency, coalesce(stripe_price_id, '') FROM catalog_seat_prices WHERE currency = $1`, currency).
		Scan(&p.PriceMinor, &cur, &p.StripePriceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("seat price: %w", err)
	}
	p.Currency, p.Interval = cur, "month"
	return &p, nil
}

// CatalogTier is a tier as the operator edits it: every currency at once.
type CatalogTier struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	Contacts        int64            `json:"contacts"`
	ValidityMonths  int              `json:"validity_months"`
	Active          bool             `json:"active"`
	Prices          map[string]int64 `json:"prices"`
	StripeProductID string           `json:"stripe_product_id,omitempty"`
	UpdatedAt       time.Time        `json:"updated_at"`
}

// FullCatalog is the whole catalogue, for the operator.
type FullCatalog struct {
	Tiers      []CatalogTier    `json:"tiers"`
	SeatPrices map[string]int64 `json:"seat_prices"`
	// OveragePrices is the pay-as-you-go rate of one overage contact.
	OveragePrices map[string]int64 `json:"overage_prices"`
}

// ListCatalog returns every tier (active or not) and seat price.
func (s *Service) ListCatalog(ctx context.Context) (FullCatalog, error) {
	out := FullCatalog{Tiers: []CatalogTier{}, SeatPrices: map[string]int64{}}
	err := pgx.BeginFunc(ctx, s.DB.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, name, contacts, validity_months, active, coalesce(stripe_product_id, ''), updated_at
			FROM catalog_tiers ORDER BY contacts, id`)
		if err != nil {
			return err
		}
		out.Tiers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CatalogTier, error) {
			t := CatalogTier{Prices: map[string]int64{}}
			return t, r.Scan(&t.ID, &t.Name, &t.Contacts, &t.ValidityMonths, &t.Active, &t.StripeProductID, &t.UpdatedAt)
		})
		if err != nil {
			return err
		}
		byID := map[string]*CatalogTier{}
		for i := range out.Tiers {
			byID[out.Tiers[i].ID] = &out.Tiers[i]
		}
		rows, err = tx.Query(ctx, `SELECT tier_id, currency, price_minor FROM catalog_prices`)
		if err != nil {
			return err
		}
		var id, cur string
		var p int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &cur, &p}, func() error {
			if t := byID[id]; t != nil {
				t.Prices[cur] = p
			}
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT currency, price_minor FROM catalog_seat_prices`)
		if err != nil {
			return err
		}
		_, err = pgx.ForEachRow(rows, []any{&cur, &p}, func() error {
			out.SeatPrices[cur] = p
			return nil
		})
		return err
	})
	if err != nil {
		return FullCatalog{}, fmt.Errorf("list catalog: %w", err)
	}
	if out.OveragePrices, err = s.OverageRates(ctx); err != nil {
		return FullCatalog{}, err
	}
	return out, nil
}

var tierID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$`)

// maxPrice keeps amounts far from int64 overflow and within what Stripe
// accepts (8 digits of major units is its usual limit).
const maxPrice = 99_999_999_99

// Validate normalises the tier and says what is wrong with it.
func (t *CatalogTier) Validate() error {
	bad := func(code, format string, args ...any) error { return cic.Codef(cic.EINVALID, code, format, args...) }
	t.ID = strings.ToLower(strings.TrimSpace(t.ID))
	if !tierID.MatchString(t.ID) {
		return bad("invalid_tier_id", "A tier id is 2 to 40 lower-case letters, digits and dashes.")
	}
	var err error
	if t.Name, err = tenant.ValidateName("name", t.Name, 100); err != nil {
		return err
	}
	if t.Contacts < 1 || t.Contacts > 1_000_000_000 {
		return bad("invalid_contacts", "contacts must be from 1 to 1,000,000,000.")
	}
	if t.ValidityMonths < 1 || t.ValidityMonths > 36 {
		return bad("invalid_validity", "validity_months must be from 1 to 36.")
	}
	if len(t.Prices) == 0 {
		return bad("missing_prices", "Give at least one price, e.g. {\"EUR\": 49000}.")
	}
	norm := make(map[string]int64, len(t.Prices))
	for cur, p := range t.Prices {
		c, err := tenant.ValidateCurrency(cur)
		if err != nil {
			return err
		}
		if p < 1 || p > maxPrice {
			return bad("invalid_price", "Prices are whole minor units from 1 to %d.", int64(maxPrice))
		}
		norm[c] = p
	}
	t.Prices = norm
	return nil
}

// PutTier creates or replaces a tier and its prices (the operator). A
// price whose amount changed loses its Stripe price id, so the next sync
// creates a new Stripe price (Stripe prices are immutable). It does not
// check "bigger is cheaper": the operator may run a promotion.
func (s *Service) PutTier(ctx context.Context, t CatalogTier) (CatalogTier, error) {
	if err := t.Validate(); err != nil {
		return CatalogTier{}, err
	}
	err := pgx.BeginFunc(ctx, s.DB.Pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO catalog_tiers (id, name, contacts, validity_months, active, updated_at)
			VALUES ($1, $2, $3, $4, $5, now())
			ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, contacts = EXCLUDED.contacts,
				validity_months = EXCLUDED.validity_months, active = EXCLUDED.active, updated_at = now()`,
			t.ID, t.Name, t.Contacts, t.ValidityMonths, t.Active)
		if err != nil {
			return err
		}
		curs := make([]string, 0, len(t.Prices))
		for cur, p := range t.Prices {
			curs = append(curs, cur)
			// A Stripe price also fixes the product's contacts in its
			// description, so any change of amount forgets it.
			if _, err := tx.Exec(ctx, `INSERT INTO catalog_prices (tier_id, currency, price_minor) VALUES ($1, $2, $3)
				ON CONFLICT (tier_id, currency) DO UPDATE SET price_minor = EXCLUDED.price_minor,
					stripe_price_id = CASE WHEN catalog_prices.price_minor = EXCLUDED.price_minor
						THEN catalog_prices.stripe_price_id END`, t.ID, cur, p); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM catalog_prices WHERE tier_id = $1 AND NOT (currency = ANY($2))`, t.ID, curs)
		return err
	})
	if err != nil {
		return CatalogTier{}, fmt.Errorf("put tier: %w", err)
	}
	full, err := s.ListCatalog(ctx)
	if err != nil {
		return CatalogTier{}, err
	}
	for _, x := range full.Tiers {
		if x.ID == t.ID {
			return x, nil
		}
	}
	return CatalogTier{}, fmt.Errorf("put tier: %s vanished", t.ID)
}

// PutSeatPrice sets the monthly price of a seat in currency.
func (s *Service) PutSeatPrice(ctx context.Context, currency string, priceMinor int64) error {
	cur, err := tenant.ValidateCurrency(currency)
	if err != nil {
		return err
	}
	if priceMinor < 1 || priceMinor > maxPrice {
		return cic.Codef(cic.EINVALID, "invalid_price", "Prices are whole minor units from 1 to %d.", int64(maxPrice))
	}
	_, err = s.DB.Pool.Exec(ctx, `INSERT INTO catalog_seat_prices (currency, price_minor) VALUES ($1, $2)
		ON CONFLICT (currency) DO UPDATE SET price_minor = EXCLUDED.price_minor,
			stripe_price_id = CASE WHEN catalog_seat_prices.price_minor = EXCLUDED.price_minor
				THEN catalog_seat_prices.stripe_price_id END`, cur, priceMinor)
	if err != nil {
		return fmt.Errorf("put seat price: %w", err)
	}
	return nil
}

// Offer is the catalogue as one tenant sees it: in its currency, with
// its overage rate (the catalogue's, or negotiated) and where it would pay.
type Offer struct {
	Catalog
	OveragePriceMinor  int64  `json:"overage_price_minor"`
	OveragePriceSource string `json:"overage_price_source"`
	Mode               string `json:"mode"`
}

// OfferFor returns the caller's tenant's offer. Every role may read it.
func (s *Service) OfferFor(ctx context.Context, a tenant.Actor) (Offer, error) {
	st, err := metering.GetSettings(ctx, s.DB, a.TenantID)
	if err != nil {
		return Offer{}, err
	}
	c, err := s.GetCatalog(ctx, st.Currency)
	if err != nil {
		return Offer{}, err
	}
	return Offer{Catalog: c, OveragePriceMinor: st.OveragePriceMinor, OveragePriceSource: st.OveragePriceSource, Mode: s.Mode()}, nil
}
