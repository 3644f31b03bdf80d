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
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// OverageCharge is one month's overage, charged on the next invoice.
type OverageCharge struct {
	Period        time.Time  `json:"period"`
	Contacts      int64      `json:"contacts"`
	AmountMinor   int64      `json:"amount_minor"`
	Currency      string     `json:"currency"`
	Status        string     `json:"status"`
	Mode          string     `json:"mode"`
	InvoiceItemID string     `json:"invoice_item_id,omitempty"`
	ChargedAt     *time.Time `json:"charged_at,omitempty"`
}

// MonthOf is the first instant (UTC) of t's calendar month.
func MonthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// ChargeOverage charges the overage contacts metered in the calendar month
// that starts at period, as one Stripe invoice item on the tenant's next
// invoice. Never twice: the month's row (unique per tenant and month) is
// written with its amount before Stripe is called; a re-run, even after a
// crash between Stripe's answer and our COMMIT, sends the same request
// with the same idempotency key, which Stripe answers with the item it
// already made. nil, nil: no overage that month.
func (s *Service) ChargeOverage(ctx context.Context, tenantID uuid.UUID, period time.Time) (*OverageCharge, error) {
	period = MonthOf(period)
	end := period.AddDate(0, 1, 0)
	if end.After(s.now()) {
		return nil, cic.Codef(cic.EINVALID, "period_open", "The month %s is not over yet.", period.Format("2006-01"))
	}
	var ch *OverageCharge
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if ch, err = loadOverage(ctx, tx, tenantID, period); err != nil || ch != nil {
			return err
		}
		if s.Mode() == ModeOff {
			// Kept for when billing is configured: nothing is recorded.
			return nil
		}
		contacts, amount, err := metering.Overage(ctx, tx, tenantID, period, end)
		if err != nil || contacts == 0 {
			return err
		}
		t, err := tenant.Get(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO overage_charges (tenant_id, period, contacts, amount_minor, currency, mode)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, period) DO NOTHING`,
			tenantID, period, contacts, amount, t.Currency, s.Mode()); err != nil {
			return fmt.Errorf("record overage: %w", err)
		}
		ch, err = loadOverage(ctx, tx, tenantID, period)
		return err
	})
	if err != nil || ch == nil || ch.Status == "charged" {
		return ch, err
	}

	item := "ii_local_" + strings.ReplaceAll(tenantID.String(), "-", "")[:12] + "_" + period.Format("200601")
	if ch.Mode == ModeStripe {
		if s.Stripe == nil {
			return nil, fmt.Errorf("overage %s was recorded for Stripe, which is not configured now", period.Format("2006-01"))
		}
		customer, err := s.EnsureCustomer(ctx, tenantID)
		if err != nil {
			return nil, err
		}
		params := &stripe.InvoiceItemParams{
			Customer:    stripe.String(customer),
			Amount:      stripe.Int64(ch.AmountMinor),
			Currency:    stripe.String(strings.ToLower(ch.Currency)),
			Description: stripe.String(fmt.Sprintf("Overage: %d contacts beyond your bundles in %s", ch.Contacts, period.Format("January 2006"))),
			Period:      &stripe.InvoiceItemPeriodParams{Start: stripe.Int64(period.Unix()), End: stripe.Int64(end.Unix() - 1)},
			Metadata:    map[string]string{"tenant_id": tenantID.String(), "period": period.Format("2006-01"), "kind": "overage"},
		}
		idem(&params.Params, "overage", tenantID.String(), period.Format("2006-01"))
		ii, err := s.Stripe.InvoiceItems.New(params)
		if err != nil {
			return nil, stripeErr("create invoice item", err)
		}
		item = ii.ID
	}
	if s.afterOverageCharge != nil {
		if err := s.afterOverageCharge(); err != nil {
			return nil, err
		}
	}
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE overage_charges SET status = 'charged', invoice_item_id = $3, charged_at = now()
			WHERE tenant_id = $1 AND period = $2 AND status = 'pending'`, tenantID, period, item)
		if err != nil {
			return fmt.Errorf("mark overage charged: %w", err)
		}
		if tag.RowsAffected() == 1 {
			if err := tenant.Audit(ctx, tx, systemActor(tenantID, "billing:overage"), "billing.overage_charged", "overage", period.Format("2006-01"),
				map[string]any{"contacts": ch.Contacts, "amount_minor": ch.AmountMinor, "currency": ch.Currency, "invoice_item_id": item, "mode": ch.Mode}); err != nil {
				return err
			}
		}
		ch, err = loadOverage(ctx, tx, tenantID, period)
		return err
	})
	return ch, err
}

func loadOverage(ctx context.Context, q tenant.Querier, tenantID uuid.UUID, period time.Time) (*OverageCharge, error) {
	var c OverageCharge
	var cur string
	var item *string
	err := q.QueryRow(ctx, `SELECT period, contacts, amount_minor, currency, status, mode, invoice_item_id, charged_at
		FROM overage_charges WHERE tenant_id = $1 AND period = $2`, tenantID, period).
		Scan(&c.Period, &c.Contacts, &c.AmountMinor, &cur, &c.Status, &c.Mode, &item, &c.ChargedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load overage: %w", err)
	}
	c.Currency = cur
	if item != nil {
		c.InvoiceItemID = *item
	}
	return &c, nil
}
