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
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// onPaymentSucceeded applies payment_intent.succeeded: an auto top-up's
// payment credits its bundle (creditTopup). A checkout's payment intent
// is credited by its checkout.session event, so it is ignored here.
func (s *Service) onPaymentSucceeded(ctx context.Context, tx pgx.Tx, e eventCtx, pi *stripe.PaymentIntent) error {
	raw := pi.Metadata["topup_request_id"]
	if raw == "" {
		return nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		s.logger().WarnContext(ctx, "payment intent with a bad top-up id", "payment_intent", pi.ID, "event_id", e.id)
		return nil
	}
	return s.creditTopup(ctx, tx, e, id, pi)
}

// creditTopup credits a top-up's bundle exactly once, on Stripe's signed
// word that its payment intent succeeded. The charge row is locked first,
// so a concurrent delivery of another event for the same payment (or
// ProcessTopups settling it) waits here and then sees it paid. A charge
// failed earlier is still credited: Stripe has the money (the customer
// completed the payment later). The payment intent must be the charge's
// own and carry its amount and currency; anything else is audited, never
// credited.
func (s *Service) creditTopup(ctx context.Context, tx pgx.Tx, e eventCtx, reqID uuid.UUID, pi *stripe.PaymentIntent) error {
	var ch topupCharge
	err := tx.QueryRow(ctx, `SELECT contacts, price_minor, currency, validity_days, status, mode, coalesce(payment_intent_id, '')
		FROM topup_charges WHERE tenant_id = $1 AND request_id = $2 FOR UPDATE`, e.tenantID, reqID).
		Scan(&ch.contacts, &ch.price, &ch.currency, &ch.validityDays, &ch.status, &ch.mode, &ch.pi)
	if errors.Is(err, pgx.ErrNoRows) {
		s.logger().WarnContext(ctx, "payment succeeded for an unknown top-up", "topup_request_id", reqID, "payment_intent", pi.ID, "event_id", e.id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("lock top-up charge: %w", err)
	}
	if ch.status == "paid" {
		return nil
	}
	mismatch := ""
	switch {
	case pi.Status != stripe.PaymentIntentStatusSucceeded:
		mismatch = "payment intent is " + string(pi.Status)
	case ch.pi != "" && ch.pi != pi.ID:
		mismatch = "payment intent " + pi.ID + " is not the charge's " + ch.pi
	case pi.Amount != ch.price || !strings.EqualFold(string(pi.Currency), ch.currency):
		mismatch = fmt.Sprintf("paid %d %s, the charge is %d %s", pi.Amount, strings.ToUpper(string(pi.Currency)), ch.price, ch.currency)
	}
	if mismatch != "" {
		s.logger().WarnContext(ctx, "top-up payment does not match its charge", "topup_request_id", reqID, "detail", mismatch, "event_id", e.id)
		return tenant.Audit(ctx, tx, stripeActor(e), "billing.topup_mismatch", "topup_request", reqID.String(),
			map[string]any{"detail": mismatch, "payment_intent_id": pi.ID, "event_id": e.id})
	}
	now := e.now.UTC()
	b, err := metering.CreditBundle(ctx, tx, e.tenantID, metering.Bundle{
		Source: metering.SourceAutoTopup, Contacts: ch.contacts, PriceMinor: ch.price, Currency: ch.currency,
		ValidFrom: now, ValidUntil: now.Add(time.Duration(ch.validityDays) * 24 * time.Hour),
	})
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE topup_charges SET status = 'paid', failure = '', payment_intent_id = $3, bundle_id = $4, updated_at = now()
		WHERE tenant_id = $1 AND request_id = $2`, e.tenantID, reqID, pi.ID, b.ID); err != nil {
		return fmt.Errorf("mark top-up paid: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE topup_requests SET status = 'done' WHERE tenant_id = $1 AND id = $2`, e.tenantID, reqID); err != nil {
		return fmt.Errorf("mark top-up done: %w", err)
	}
	return tenant.Audit(ctx, tx, stripeActor(e), "billing.topup_charged", "topup_request", reqID.String(), map[string]any{
		"bundle_id": b.ID, "contacts": ch.contacts, "price_minor": ch.price, "currency": ch.currency,
		"payment_intent_id": pi.ID, "mode": ch.mode, "event_id": e.id,
	})
}

// localTopup "pays" a local top-up: it builds the payment_intent.succeeded
// event Stripe would send, signs it with the webhook secret and hands it
// to HandleWebhook, which verifies and applies it like Stripe's. It runs
// in-process (the worker need not reach the server, nor hold its keys);
// the event id is fresh each time, and the charge row makes a second one
// credit nothing.
func (s *Service) localTopup(ctx context.Context, tenantID uuid.UUID, ch topupCharge, out *TopupOutcome) error {
	pi := ch.pi
	if pi == "" {
		pi = "pi_local_" + hexID(ch.requestID)
		if err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE topup_charges SET payment_intent_id = $3, updated_at = now()
				WHERE tenant_id = $1 AND request_id = $2 AND payment_intent_id IS NULL`, tenantID, ch.requestID, pi)
			return err
		}); err != nil {
			return fmt.Errorf("save payment intent: %w", err)
		}
	}
	obj := map[string]any{
		"id": pi, "object": "payment_intent", "status": string(stripe.PaymentIntentStatusSucceeded),
		"amount": ch.price, "amount_received": ch.price, "currency": strings.ToLower(ch.currency), "livemode": false,
		"description": fmt.Sprintf("Auto top-up: %d contacts", ch.contacts), "created": s.now().Unix(),
		"metadata": map[string]string{"tenant_id": tenantID.String(), "topup_request_id": ch.requestID.String(), "kind": "topup"},
	}
	ev, err := localEvent(EventPaymentSucceeded, obj, s.now())
	if err != nil {
		return err
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: ev, Secret: s.secret(), Timestamp: s.now()})
	if _, err := s.HandleWebhook(ctx, ev, signed.Header); err != nil {
		return fmt.Errorf("local top-up: %w", err)
	}
	var status string
	if err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT status FROM topup_charges WHERE tenant_id = $1 AND request_id = $2`, tenantID, ch.requestID).Scan(&status)
	}); err != nil {
		return fmt.Errorf("local top-up: %w", err)
	}
	if status == "paid" {
		out.Paid++
	} else {
		out.Pending++
	}
	return nil
}
