package billing

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	"github.com/cic-platform/cic/tenant"
)

// Finding is a difference between the ledger here and Stripe.
type Finding struct {
	TenantID uuid.UUID `json:"tenant_id"`
	FoundAt  time.Time `json:"found_at"`
	Kind     string    `json:"kind"`
	Ref      string    `json:"ref"`
	Detail   string    `json:"detail"`
}

// reconcileWindow is how far back reconciliation looks.
const reconcileWindow = 90 * 24 * time.Hour

// Reconcile compares the tenant's Stripe-paid ledger (purchases, auto
// top-ups, overage invoice items, the live subscription) with what Stripe holds, and
// records each difference once (reconcile_findings) with an audit entry.
// It changes no money: a finding is for a person to look at. It returns
// the new findings.
func (s *Service) Reconcile(ctx context.Context, tenantID uuid.UUID) ([]Finding, error) {
	if s.Stripe == nil {
		return nil, nil
	}
	type purchaseRef struct {
		id, session, currency string
		amount                int64
	}
	type itemRef struct {
		period, item, currency string
		amount                 int64
	}
	var (
		purchases []purchaseRef
		topups    []purchaseRef // id: the request, session: the payment intent
		items     []itemRef
		sub       *Subscription
	)
	since := s.now().Add(-reconcileWindow)
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, checkout_session_id, currency, price_minor FROM purchases
			WHERE tenant_id = $1 AND mode = 'stripe' AND status = 'paid' AND paid_at > $2`, tenantID, since)
		if err != nil {
			return err
		}
		var p purchaseRef
		if _, err := pgx.ForEachRow(rows, []any{&p.id, &p.session, &p.currency, &p.amount}, func() error {
			purchases = append(purchases, p)
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT request_id::text, coalesce(payment_intent_id, ''), currency, price_minor FROM topup_charges
			WHERE tenant_id = $1 AND mode = 'stripe' AND status = 'paid' AND payment_intent_id IS NOT NULL AND updated_at > $2`, tenantID, since)
		if err != nil {
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&p.id, &p.session, &p.currency, &p.amount}, func() error {
			topups = append(topups, p)
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT to_char(period, 'YYYY-MM'), invoice_item_id, currency, amount_minor FROM overage_charges
			WHERE tenant_id = $1 AND mode = 'stripe' AND status = 'charged' AND charged_at > $2`, tenantID, since)
		if err != nil {
			return err
		}
		var it itemRef
		if _, err := pgx.ForEachRow(rows, []any{&it.period, &it.item, &it.currency, &it.amount}, func() error {
			items = append(items, it)
			return nil
		}); err != nil {
			return err
		}
		sub, err = currentSubscription(ctx, tx, tenantID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	var found []Finding
	add := func(kind, ref, format string, args ...any) {
		found = append(found, Finding{TenantID: tenantID, Kind: kind, Ref: ref, Detail: fmt.Sprintf(format, args...)})
	}
	for _, p := range purchases {
		sess, err := s.Stripe.CheckoutSessions.Get(p.session, nil)
		if err != nil {
			return nil, stripeErr("read checkout session", err)
		}
		if sess.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
			add("purchase", p.id, "credited here, but Stripe says the session %s is %s", p.session, sess.PaymentStatus)
		}
		if sess.AmountTotal != p.amount || !strings.EqualFold(string(sess.Currency), p.currency) {
			add("purchase", p.id, "price here %d %s, Stripe's session total %d %s", p.amount, p.currency, sess.AmountTotal, strings.ToUpper(string(sess.Currency)))
		}
	}
	for _, tp := range topups {
		pi, err := s.Stripe.PaymentIntents.Get(tp.session, nil)
		if err != nil {
			return nil, stripeErr("read payment intent", err)
		}
		if pi.Status != stripe.PaymentIntentStatusSucceeded {
			add("topup", tp.id, "credited here, but Stripe says the payment intent %s is %s", tp.session, pi.Status)
		}
		if pi.Amount != tp.amount || !strings.EqualFold(string(pi.Currency), tp.currency) {
			add("topup", tp.id, "price here %d %s, Stripe's payment intent %d %s", tp.amount, tp.currency, pi.Amount, strings.ToUpper(string(pi.Currency)))
		}
	}
	for _, it := range items {
		ii, err := s.Stripe.InvoiceItems.Get(it.item, nil)
		if err != nil {
			return nil, stripeErr("read invoice item", err)
		}
		if ii.Amount != it.amount || !strings.EqualFold(string(ii.Currency), it.currency) {
			add("overage", it.period, "charged here %d %s, Stripe's invoice item %s is %d %s", it.amount, it.currency, it.item, ii.Amount, strings.ToUpper(string(ii.Currency)))
		}
	}
	if sub != nil && sub.Mode == ModeStripe {
		got, err := s.Stripe.Subscriptions.Get(sub.ID, nil)
		if err != nil {
			return nil, stripeErr("read subscription", err)
		}
		st := subStateOf(got, ModeStripe)
		if st.Status != sub.Status || st.Quantity != sub.Quantity {
			add("subscription", sub.ID, "here %s with %d seats, Stripe says %s with %d", sub.Status, sub.Quantity, st.Status, st.Quantity)
		}
	}
	var fresh []Finding
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		for _, f := range found {
			tag, err := tx.Exec(ctx, `INSERT INTO reconcile_findings (tenant_id, id, kind, ref, detail) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (tenant_id, kind, ref, detail) DO NOTHING`, tenantID, uuid.New(), f.Kind, f.Ref, f.Detail)
			if err != nil {
				return fmt.Errorf("record finding: %w", err)
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			fresh = append(fresh, f)
			if err := tenant.Audit(ctx, tx, systemActor(tenantID, "billing:reconcile"), "billing.reconcile_mismatch", f.Kind, f.Ref,
				map[string]any{"detail": f.Detail}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range fresh {
		s.logger().WarnContext(ctx, "ledger differs from Stripe", "tenant_id", tenantID, "kind", f.Kind, "ref", f.Ref, "detail", f.Detail)
	}
	return fresh, nil
}

// ListFindings returns every tenant's reconciliation findings, newest
// first, for the platform operator.
func (s *Service) ListFindings(ctx context.Context, limit int) ([]Finding, error) {
	ids, err := s.DB.ListTenantIDs(ctx)
	if err != nil {
		return nil, err
	}
	out := []Finding{}
	for _, id := range ids {
		err := s.DB.Tx(ctx, id, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT tenant_id, found_at, kind, ref, detail FROM reconcile_findings
				WHERE tenant_id = $1 ORDER BY found_at DESC LIMIT $2`, id, limit)
			if err != nil {
				return err
			}
			fs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Finding])
			out = append(out, fs...)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list findings: %w", err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FoundAt.After(out[j].FoundAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
