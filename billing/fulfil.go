package billing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// stripeActor is Stripe acting through its webhook, for the audit log.
func stripeActor(e eventCtx) tenant.Actor { return systemActor(e.tenantID, "stripe:"+e.id) }

// onCheckoutCompleted fulfils a paid checkout: a bundle purchase is
// credited, a seat checkout starts the subscription's seats.
func (s *Service) onCheckoutCompleted(ctx context.Context, tx pgx.Tx, e eventCtx, sess *stripe.CheckoutSession) error {
	switch sess.Mode {
	case stripe.CheckoutSessionModePayment:
		if sess.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
			// A delayed method (bank debit): async_payment_succeeded follows.
			return nil
		}
		id, err := uuid.Parse(sess.Metadata["purchase_id"])
		if err != nil {
			s.logger().WarnContext(ctx, "paid checkout without a purchase id", "session", sess.ID, "event_id", e.id)
			return nil
		}
		pi := ""
		if sess.PaymentIntent != nil {
			pi = sess.PaymentIntent.ID
		}
		return s.creditPurchase(ctx, tx, e, id, sess.ID, pi)
	case stripe.CheckoutSessionModeSubscription:
		return s.startSubscription(ctx, tx, e, sess)
	}
	return nil
}

// creditPurchase credits the purchase's bundle exactly once. The purchase
// row is locked first, so a concurrent delivery of another event for the
// same session waits here and then sees it paid; the session id and the
// bundle id are unique among purchases, so even a bug elsewhere could not
// credit one session twice.
func (s *Service) creditPurchase(ctx context.Context, tx pgx.Tx, e eventCtx, id uuid.UUID, sessionID, paymentIntent string) error {
	p, err := scanPurchase(tx.QueryRow(ctx, `SELECT `+purchaseColumns+` FROM purchases WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, e.tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		s.logger().WarnContext(ctx, "paid checkout for an unknown purchase", "purchase_id", id, "session", sessionID, "event_id", e.id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("lock purchase: %w", err)
	}
	if p.Status == "paid" {
		return nil
	}
	if p.sessionID != "" && p.sessionID != sessionID {
		s.logger().WarnContext(ctx, "paid checkout session does not match the purchase", "purchase_id", id, "session", sessionID, "want", p.sessionID)
		return nil
	}
	now := e.now.UTC()
	b, err := metering.CreditBundle(ctx, tx, e.tenantID, metering.Bundle{
		Source: metering.SourcePurchase, Contacts: p.Contacts, PriceMinor: p.PriceMinor, Currency: p.Currency,
		ValidFrom: now, ValidUntil: now.AddDate(0, p.ValidityMonths, 0),
	})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE purchases SET status = 'paid', bundle_id = $3, paid_at = $4,
			checkout_session_id = coalesce(checkout_session_id, $5), payment_intent_id = nullif($6, '')
		WHERE tenant_id = $1 AND id = $2`, e.tenantID, id, b.ID, now, sessionID, paymentIntent)
	if err != nil {
		return fmt.Errorf("mark purchase paid: %w", err)
	}
	return tenant.Audit(ctx, tx, stripeActor(e), "billing.bundle_credited", "purchase", id.String(), map[string]any{
		"bundle_id": b.ID, "contacts": p.Contacts, "price_minor": p.PriceMinor, "currency": p.Currency,
		"checkout_session_id": sessionID, "event_id": e.id,
	})
}

// startSubscription marks a seat checkout completed and, unless an event
// about the subscription itself came first, grants its seats from what
// the tenant asked for. That provisional state carries the oldest possible
// event time, so every real subscription event, earlier or later, wins.
func (s *Service) startSubscription(ctx context.Context, tx pgx.Tx, e eventCtx, sess *stripe.CheckoutSession) error {
	id, err := uuid.Parse(sess.Metadata["seat_checkout_id"])
	if err != nil || sess.Subscription == nil || sess.Subscription.ID == "" {
		s.logger().WarnContext(ctx, "subscription checkout without a seat checkout or subscription", "session", sess.ID, "event_id", e.id)
		return nil
	}
	var quantity int
	var mode string
	err = tx.QueryRow(ctx, `UPDATE seat_checkouts SET status = 'completed', checkout_session_id = coalesce(checkout_session_id, $3)
		WHERE tenant_id = $1 AND id = $2 RETURNING quantity, mode`, e.tenantID, id, sess.ID).Scan(&quantity, &mode)
	if errors.Is(err, pgx.ErrNoRows) {
		s.logger().WarnContext(ctx, "completed checkout for an unknown seat checkout", "seat_checkout_id", id, "event_id", e.id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("complete seat checkout: %w", err)
	}
	var known bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM subscriptions WHERE tenant_id = $1 AND id = $2)`, e.tenantID, sess.Subscription.ID).Scan(&known); err != nil {
		return fmt.Errorf("find subscription: %w", err)
	}
	if !known {
		st := subState{ID: sess.Subscription.ID, Status: "active", Quantity: quantity, PeriodEnd: e.now.AddDate(0, 1, 0).UTC(), Mode: mode}
		if mode == ModeLocal {
			st.ItemID = "si_local_" + strings.TrimPrefix(st.ID, "sub_local_")
		}
		if _, _, err := applySubscription(ctx, tx, e.tenantID, st, time.Unix(0, 0).UTC(), e.now); err != nil {
			return err
		}
	}
	return tenant.Audit(ctx, tx, stripeActor(e), "billing.subscription_started", "subscription", sess.Subscription.ID, map[string]any{
		"quantity": quantity, "seat_checkout_id": id, "checkout_session_id": sess.ID, "event_id": e.id,
	})
}

func (s *Service) onCheckoutExpired(ctx context.Context, tx pgx.Tx, e eventCtx, sess *stripe.CheckoutSession) error {
	id, err := uuid.Parse(sess.Metadata["purchase_id"])
	if err != nil {
		return nil
	}
	_, err = tx.Exec(ctx, `UPDATE purchases SET status = 'expired' WHERE tenant_id = $1 AND id = $2 AND status = 'open'`, e.tenantID, id)
	if err != nil {
		return fmt.Errorf("expire purchase: %w", err)
	}
	return nil
}

// onSubscription applies customer.subscription.created/updated/deleted.
func (s *Service) onSubscription(ctx context.Context, tx pgx.Tx, e eventCtx, sub *stripe.Subscription) error {
	mode := ModeStripe
	if strings.HasPrefix(sub.ID, "sub_local_") {
		mode = ModeLocal
	}
	st := subStateOf(sub, mode)
	if e.typ == EventSubscriptionDeleted {
		st.Status = string(stripe.SubscriptionStatusCanceled)
	}
	before, after, err := applySubscription(ctx, tx, e.tenantID, st, e.created, e.now)
	if err != nil {
		return err
	}
	if err := tenant.Audit(ctx, tx, stripeActor(e), "billing.subscription_changed", "subscription", sub.ID, map[string]any{
		"status": st.Status, "quantity": st.Quantity, "current_period_end": st.PeriodEnd, "event": e.typ, "event_id": e.id,
	}); err != nil {
		return err
	}
	return auditDunning(ctx, tx, e, sub.ID, before, after)
}

// auditDunning audits a subscription entering or leaving dunning.
func auditDunning(ctx context.Context, tx pgx.Tx, e eventCtx, subID, before, after string) error {
	switch {
	case dunning(after) && !dunning(before):
		return tenant.Audit(ctx, tx, stripeActor(e), "billing.subscription_past_due", "subscription", subID, map[string]any{
			"from": before, "status": after, "grace_until": e.created.Add(DunningGrace), "event": e.typ, "event_id": e.id,
		})
	case dunning(before) && (after == "active" || after == "trialing"):
		return tenant.Audit(ctx, tx, stripeActor(e), "billing.subscription_recovered", "subscription", subID, map[string]any{
			"from": before, "status": after, "event": e.typ, "event_id": e.id,
		})
	}
	return nil
}

// StripeLink returns raw when it is an https link to Stripe's own hosts
// (stripe.com or a subdomain, default port, no credentials), else "":
// invoice and receipt links are shown to users, and an event could name
// any site.
func StripeLink(raw string) string {
	if raw == "" || len(raw) > 2048 {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Opaque != "" || u.Port() != "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if host != "stripe.com" && !strings.HasSuffix(host, ".stripe.com") {
		return ""
	}
	for _, r := range raw {
		if r < 0x21 || r == 0x7f || r == '\\' {
			return ""
		}
	}
	return u.String()
}

// subscriptionOf is the subscription an invoice is for ("" if none).
func subscriptionOf(in *stripe.Invoice) string {
	if in.Subscription != nil {
		return in.Subscription.ID
	}
	return ""
}

// onInvoicePaid keeps the invoice for the billing page.
func (s *Service) onInvoicePaid(ctx context.Context, tx pgx.Tx, e eventCtx, in *stripe.Invoice) error {
	var paidAt *time.Time
	if in.StatusTransitions != nil && in.StatusTransitions.PaidAt > 0 {
		t := time.Unix(in.StatusTransitions.PaidAt, 0).UTC()
		paidAt = &t
	} else {
		paidAt = &e.created
	}
	sub := subscriptionOf(in)
	_, err := tx.Exec(ctx, `INSERT INTO invoices (tenant_id, id, number, status, amount_minor, currency, hosted_url, pdf_url,
			subscription_id, created_at, paid_at)
		VALUES ($1, $2, $3, 'paid', $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (tenant_id, id) DO UPDATE SET status = 'paid', amount_minor = EXCLUDED.amount_minor,
			hosted_url = EXCLUDED.hosted_url, pdf_url = EXCLUDED.pdf_url, paid_at = EXCLUDED.paid_at`,
		e.tenantID, in.ID, in.Number, in.AmountPaid, strings.ToUpper(string(in.Currency)), StripeLink(in.HostedInvoiceURL), StripeLink(in.InvoicePDF),
		sub, time.Unix(in.Created, 0).UTC(), paidAt)
	if err != nil {
		return fmt.Errorf("save invoice: %w", err)
	}
	if err := tenant.Audit(ctx, tx, stripeActor(e), "billing.invoice_paid", "invoice", in.ID, map[string]any{
		"amount_minor": in.AmountPaid, "currency": strings.ToUpper(string(in.Currency)), "number": in.Number, "event_id": e.id,
	}); err != nil {
		return err
	}
	// A paid invoice of a subscription in dunning ends it: the seats come
	// back (an older failure arriving late changes nothing).
	return s.setDunning(ctx, tx, e, sub, "active")
}

// onInvoicePaymentFailed keeps the failed invoice (its hosted page is
// where the owner pays it) and, for a subscription's invoice, puts the
// subscription past_due: its seats are kept for DunningGrace, the owners
// are e-mailed (NotifyDunning) and see a banner.
func (s *Service) onInvoicePaymentFailed(ctx context.Context, tx pgx.Tx, e eventCtx, in *stripe.Invoice) error {
	sub := subscriptionOf(in)
	_, err := tx.Exec(ctx, `INSERT INTO invoices (tenant_id, id, number, status, amount_minor, currency, hosted_url, pdf_url,
			subscription_id, created_at)
		VALUES ($1, $2, $3, 'payment_failed', $4, $5, $6, $7, $8, $9)
		ON CONFLICT (tenant_id, id) DO UPDATE SET status = CASE WHEN invoices.status = 'paid' THEN 'paid' ELSE 'payment_failed' END,
			hosted_url = CASE WHEN invoices.status = 'paid' THEN invoices.hosted_url ELSE EXCLUDED.hosted_url END,
			pdf_url = CASE WHEN invoices.status = 'paid' THEN invoices.pdf_url ELSE EXCLUDED.pdf_url END`,
		e.tenantID, in.ID, in.Number, max(in.AmountDue, 0), strings.ToUpper(string(in.Currency)), StripeLink(in.HostedInvoiceURL),
		StripeLink(in.InvoicePDF), sub, time.Unix(in.Created, 0).UTC())
	if err != nil {
		return fmt.Errorf("save failed invoice: %w", err)
	}
	reason := ""
	if in.LastFinalizationError != nil {
		reason = in.LastFinalizationError.Msg
	}
	if err := tenant.Audit(ctx, tx, stripeActor(e), "billing.invoice_payment_failed", "invoice", in.ID, map[string]any{
		"amount_minor": in.AmountDue, "currency": strings.ToUpper(string(in.Currency)), "number": in.Number,
		"attempt_count": in.AttemptCount, "subscription_id": sub, "reason": reason, "event_id": e.id,
	}); err != nil {
		return err
	}
	return s.setDunning(ctx, tx, e, sub, "past_due")
}

// setDunning moves a known subscription (not canceled) to status as of
// the event: past_due after a failed invoice, active after a paid one.
// It changes nothing when a newer event was applied already, and a paid
// invoice of a subscription that is not in dunning changes nothing.
func (s *Service) setDunning(ctx context.Context, tx pgx.Tx, e eventCtx, subID, status string) error {
	if subID == "" {
		return nil
	}
	cur, err := scanSubscription(tx.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE tenant_id = $1 AND id = $2`, e.tenantID, subID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read subscription: %w", err)
	}
	switch {
	case status == "past_due" && (cur.Status == "active" || cur.Status == "trialing"):
	case status == "past_due" && dunning(cur.Status):
		// Stripe's retry failed again: the status stays as Stripe said
		// (past_due or unpaid), the grant is made to match it now.
		status = cur.Status
	case status == "active" && dunning(cur.Status):
	default:
		return nil
	}
	st := subState{ID: cur.ID, ItemID: cur.itemID, Status: status, Quantity: cur.Quantity, PeriodEnd: cur.CurrentPeriodEnd, Mode: cur.Mode}
	before, after, err := applySubscription(ctx, tx, e.tenantID, st, e.created, e.now)
	if err != nil {
		return err
	}
	return auditDunning(ctx, tx, e, subID, before, after)
}

// onPaymentFailed records a failed payment: an auto top-up's charge fails
// (the next crossing may try again); a checkout's is only audited, as the
// customer may still pay in the same session.
func (s *Service) onPaymentFailed(ctx context.Context, tx pgx.Tx, e eventCtx, pi *stripe.PaymentIntent) error {
	reason := ""
	if pi.LastPaymentError != nil {
		reason = pi.LastPaymentError.Msg
	}
	details := map[string]any{"payment_intent_id": pi.ID, "reason": reason, "event_id": e.id}
	if raw := pi.Metadata["topup_request_id"]; raw != "" {
		if id, err := uuid.Parse(raw); err == nil {
			if err := failTopup(ctx, tx, e.tenantID, id, "payment failed: "+reason); err != nil {
				return err
			}
			details["topup_request_id"] = id
		}
	}
	if raw := pi.Metadata["purchase_id"]; raw != "" {
		details["purchase_id"] = raw
	}
	return tenant.Audit(ctx, tx, stripeActor(e), "billing.payment_failed", "payment_intent", pi.ID, details)
}
