package billing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Purchase is one bundle bought (or being bought) through a checkout.
type Purchase struct {
	ID             uuid.UUID  `json:"id"`
	TierID         string     `json:"tier"`
	Contacts       int64      `json:"contacts"`
	PriceMinor     int64      `json:"price_minor"`
	Currency       string     `json:"currency"`
	ValidityMonths int        `json:"validity_months"`
	Status         string     `json:"status"`
	Mode           string     `json:"mode"`
	CheckoutURL    string     `json:"checkout_url,omitempty"`
	BundleID       *uuid.UUID `json:"bundle_id"`
	CreatedAt      time.Time  `json:"created_at"`
	PaidAt         *time.Time `json:"paid_at"`
	sessionID      string
}

const purchaseColumns = `id, tier_id, contacts, price_minor, currency, validity_months, status, mode,
	coalesce(checkout_url, ''), bundle_id, created_at, paid_at, coalesce(checkout_session_id, '')`

func scanPurchase(row pgx.Row) (Purchase, error) {
	var p Purchase
	var cur string
	err := row.Scan(&p.ID, &p.TierID, &p.Contacts, &p.PriceMinor, &cur, &p.ValidityMonths, &p.Status, &p.Mode,
		&p.CheckoutURL, &p.BundleID, &p.CreatedAt, &p.PaidAt, &p.sessionID)
	p.Currency = cur
	return p, err
}

// requireBuyer: only an owner or admin spends the company's money.
func requireBuyer(a tenant.Actor) error {
	if !a.Role.Manages() {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may buy.")
	}
	return nil
}

// RequireViewer: owners, admins and finance see purchases and invoices.
func RequireViewer(a tenant.Actor) error {
	if !CanView(a.Role) {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner, admin or finance may see billing.")
	}
	return nil
}

// CanView reports whether a role may see the billing page (read-only
// for finance).
func CanView(r cic.Role) bool { return r.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleFinance) }

// BuyBundle starts the purchase of a catalogue tier: it records the
// purchase, then opens a Stripe Checkout Session (mode=payment) or a local
// checkout page, and returns the purchase with its checkout URL. Nothing
// is credited here: only the webhook's checkout.session.completed does.
func (s *Service) BuyBundle(ctx context.Context, a tenant.Actor, tierID string) (Purchase, error) {
	if err := requireBuyer(a); err != nil {
		return Purchase{}, err
	}
	if err := s.requireSelling(); err != nil {
		return Purchase{}, err
	}
	tierID = strings.ToLower(strings.TrimSpace(tierID))
	if tierID == "" {
		return Purchase{}, cic.Codef(cic.EINVALID, "missing_tier", "tier is required; see GET /api/v1/catalog.")
	}
	var p Purchase
	var t tenant.Tenant
	var customer string
	mode := s.Mode()
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		if t, err = tenant.Get(ctx, tx, a.TenantID); err != nil {
			return err
		}
		tier, err := tierFor(ctx, tx, tierID, t.Currency)
		if err != nil {
			return err
		}
		id := uuid.New()
		p, err = scanPurchase(tx.QueryRow(ctx, `INSERT INTO purchases (tenant_id, id, tier_id, contacts, price_minor, currency,
				validity_months, mode, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+purchaseColumns,
			a.TenantID, id, tier.ID, tier.Contacts, tier.PriceMinor, tier.Currency, tier.ValidityMonths, mode, actorUser(a)))
		if err != nil {
			return fmt.Errorf("insert purchase: %w", err)
		}
		customer, err = customerOf(ctx, tx, a.TenantID)
		return err
	})
	if err != nil {
		return Purchase{}, err
	}

	var sessionID, url string
	if mode == ModeLocal {
		sessionID, url = "cs_local_"+hexID(p.ID), s.link("/billing/local-checkout/"+p.ID.String())
	} else {
		if customer == "" {
			if customer, err = s.EnsureCustomer(ctx, a.TenantID); err != nil {
				s.failPurchase(ctx, a.TenantID, p.ID)
				return Purchase{}, err
			}
		}
		tier, err := s.tierPrice(ctx, p.TierID, p.Currency)
		if err != nil {
			return Purchase{}, err
		}
		meta := map[string]string{"tenant_id": a.TenantID.String(), "purchase_id": p.ID.String(), "kind": "bundle"}
		params := &stripe.CheckoutSessionParams{
			Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
			Customer:          stripe.String(customer),
			ClientReferenceID: stripe.String(a.TenantID.String()),
			LineItems:         []*stripe.CheckoutSessionLineItemParams{lineItem(tier.StripePriceID, p.PriceMinor, p.Currency, tier.Name, nil, 1)},
			Metadata:          meta,
			// The card is kept for auto top-ups (off-session payments).
			PaymentIntentData: &stripe.CheckoutSessionPaymentIntentDataParams{
				Metadata:         meta,
				SetupFutureUsage: stripe.String(string(stripe.PaymentIntentSetupFutureUsageOffSession)),
			},
			SuccessURL: stripe.String(s.link("/billing?done=paid")),
			CancelURL:  stripe.String(s.link("/billing?done=cancelled")),
		}
		idem(&params.Params, "checkout", p.ID.String())
		sess, err := s.Stripe.CheckoutSessions.New(params)
		if err != nil {
			s.failPurchase(ctx, a.TenantID, p.ID)
			return Purchase{}, stripeErr("create checkout session", err)
		}
		sessionID, url = sess.ID, sess.URL
	}
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		p, err = scanPurchase(tx.QueryRow(ctx, `UPDATE purchases SET checkout_session_id = $3, checkout_url = $4
			WHERE tenant_id = $1 AND id = $2 RETURNING `+purchaseColumns, a.TenantID, p.ID, sessionID, url))
		if err != nil {
			return fmt.Errorf("save checkout session: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "billing.checkout_started", "purchase", p.ID.String(), map[string]any{
			"tier": p.TierID, "contacts": p.Contacts, "price_minor": p.PriceMinor, "currency": p.Currency,
			"mode": mode, "checkout_session_id": sessionID,
		})
	})
	if err != nil {
		return Purchase{}, err
	}
	return p, nil
}

// tierPrice reads a tier's Stripe price id and name outside the purchase
// transaction (it may have been synced meanwhile; a missing id falls back
// to inline price data).
func (s *Service) tierPrice(ctx context.Context, id, currency string) (Tier, error) {
	var t Tier
	err := pgx.BeginFunc(ctx, s.DB.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT t.id, t.name, t.contacts, t.validity_months, p.price_minor, p.currency, coalesce(p.stripe_price_id, '')
			FROM catalog_tiers t JOIN catalog_prices p ON p.tier_id = t.id WHERE t.id = $1 AND p.currency = $2`, id, currency)
		if err != nil {
			return err
		}
		t, err = pgx.CollectExactlyOneRow(rows, scanTier)
		return err
	})
	if err != nil {
		return Tier{}, fmt.Errorf("tier price: %w", err)
	}
	return t, nil
}

// lineItem is a catalogue price: the synced Stripe price when there is
// one whose amount is still the catalogue's, else the same as inline data.
func lineItem(priceID string, amount int64, currency, name string, recurring *stripe.CheckoutSessionLineItemPriceDataRecurringParams, qty int64) *stripe.CheckoutSessionLineItemParams {
	if priceID != "" {
		return &stripe.CheckoutSessionLineItemParams{Price: stripe.String(priceID), Quantity: stripe.Int64(qty)}
	}
	return &stripe.CheckoutSessionLineItemParams{
		PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
			Currency:    stripe.String(strings.ToLower(currency)),
			UnitAmount:  stripe.Int64(amount),
			ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String(name)},
			Recurring:   recurring,
		},
		Quantity: stripe.Int64(qty),
	}
}

// failPurchase marks a purchase whose checkout could not be opened, so it
// does not linger as open; its failure is the caller's error.
func (s *Service) failPurchase(ctx context.Context, tenantID, id uuid.UUID) {
	err := s.DB.Tx(context.WithoutCancel(ctx), tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE purchases SET status = 'failed' WHERE tenant_id = $1 AND id = $2 AND status = 'open'`, tenantID, id)
		return err
	})
	if err != nil {
		s.logger().ErrorContext(ctx, "mark purchase failed", "tenant_id", tenantID, "purchase_id", id, "err", err)
	}
}

// ListPurchases returns the tenant's purchases, newest first.
func (s *Service) ListPurchases(ctx context.Context, a tenant.Actor, limit int) ([]Purchase, error) {
	if err := RequireViewer(a); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var out []Purchase
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+purchaseColumns+` FROM purchases WHERE tenant_id = $1
			ORDER BY created_at DESC, id LIMIT $2`, a.TenantID, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Purchase, error) { return scanPurchase(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list purchases: %w", err)
	}
	if out == nil {
		out = []Purchase{}
	}
	return out, nil
}

// GetPurchase returns one of the tenant's purchases; another tenant's id
// is not found.
func (s *Service) GetPurchase(ctx context.Context, a tenant.Actor, id uuid.UUID) (Purchase, error) {
	if err := RequireViewer(a); err != nil {
		return Purchase{}, err
	}
	var p Purchase
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		p, err = scanPurchase(tx.QueryRow(ctx, `SELECT `+purchaseColumns+` FROM purchases WHERE tenant_id = $1 AND id = $2`, a.TenantID, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Purchase{}, cic.Codef(cic.ENOTFOUND, "not_found", "No such purchase.")
	}
	if err != nil {
		return Purchase{}, fmt.Errorf("get purchase: %w", err)
	}
	return p, nil
}

func actorUser(a tenant.Actor) *uuid.UUID {
	if a.UserID == uuid.Nil {
		return nil
	}
	return &a.UserID
}

func hexID(id uuid.UUID) string { return strings.ReplaceAll(id.String(), "-", "") }

func (s *Service) link(path string) string { return strings.TrimRight(s.PublicURL, "/") + path }
