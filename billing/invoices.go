package billing

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Document is a line of the billing history: a Stripe invoice (seats,
// overage on it), a receipt for a bundle bought at checkout or topped up,
// or an overage charge waiting for the next invoice.
type Document struct {
	Kind        string    `json:"kind"` // invoice, receipt, overage
	ID          string    `json:"id"`
	Description string    `json:"description"`
	AmountMinor int64     `json:"amount_minor"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	URL         string    `json:"url,omitempty"`
	PDFURL      string    `json:"pdf_url,omitempty"`
	At          time.Time `json:"at"`
}

// ListDocuments returns the tenant's invoices and receipts, newest first.
func (s *Service) ListDocuments(ctx context.Context, a tenant.Actor) ([]Document, error) {
	if err := RequireViewer(a); err != nil {
		return nil, err
	}
	out := []Document{}
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		add := func(sql string) error {
			rows, err := tx.Query(ctx, sql, a.TenantID)
			if err != nil {
				return err
			}
			docs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Document, error) {
				var d Document
				var cur string
				err := r.Scan(&d.Kind, &d.ID, &d.Description, &d.AmountMinor, &cur, &d.Status, &d.URL, &d.PDFURL, &d.At)
				d.Currency = cur
				// Only ever a link to Stripe's own hosts, whatever was stored.
				d.URL, d.PDFURL = StripeLink(d.URL), StripeLink(d.PDFURL)
				return d, err
			})
			out = append(out, docs...)
			return err
		}
		for _, q := range []string{
			`SELECT 'invoice', id, CASE WHEN number = '' THEN 'Invoice' ELSE 'Invoice ' || number END, amount_minor, currency, status,
				hosted_url, pdf_url, coalesce(paid_at, created_at) FROM invoices WHERE tenant_id = $1`,
			`SELECT 'receipt', id::text, contacts || ' contacts (' || tier_id || ')', price_minor, currency, status, '', '', paid_at
				FROM purchases WHERE tenant_id = $1 AND status = 'paid'`,
			`SELECT 'receipt', request_id::text, 'Auto top-up: ' || contacts || ' contacts', price_minor, currency, status, '', '', updated_at
				FROM topup_charges WHERE tenant_id = $1 AND status IN ('paid', 'failed')`,
			`SELECT 'overage', to_char(period, 'YYYY-MM'), 'Overage ' || to_char(period, 'YYYY-MM') || ': ' || contacts || ' contacts',
				amount_minor, currency, CASE WHEN status = 'charged' THEN 'on next invoice' ELSE status END, '', '', created_at
				FROM overage_charges WHERE tenant_id = $1`,
		} {
			if err := add(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list invoices: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out, nil
}

// PortalURL opens a Stripe customer portal session, where the tenant
// manages its payment method and sees Stripe's own invoices. The local
// mode has no portal.
func (s *Service) PortalURL(ctx context.Context, a tenant.Actor) (string, error) {
	if err := requireBuyer(a); err != nil {
		return "", err
	}
	if s.Mode() == ModeOff {
		return "", ErrNotConfigured
	}
	if s.Stripe == nil {
		return "", cic.Codef(cic.ECONFLICT, "portal_unavailable",
			"Payment methods are managed in Stripe's customer portal, which needs Stripe keys; this server runs the local checkout, which takes no card.")
	}
	customer, err := s.EnsureCustomer(ctx, a.TenantID)
	if err != nil {
		return "", err
	}
	params := &stripe.BillingPortalSessionParams{Customer: stripe.String(customer), ReturnURL: stripe.String(s.link("/billing"))}
	sess, err := s.Stripe.BillingPortalSessions.New(params)
	if err != nil {
		return "", stripeErr("create portal session", err)
	}
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		return tenant.Audit(ctx, tx, a, "billing.portal_opened", "tenant", a.TenantID.String(), nil)
	})
	if err != nil {
		return "", err
	}
	return sess.URL, nil
}
