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

// Auto top-up: metering files a pending topup_requests row when the
// auto_topup policy's threshold is crossed; ProcessTopups charges it off
// session with the saved payment method. The bundle is credited only when
// Stripe says the payment succeeded in a signed payment_intent.succeeded
// event (creditTopup, through the webhook), never from the synchronous
// answer; the local checkout sends that event itself. At most one charge
// per cycle (metering.TotalBought): a crossing is charged once, and a
// failed charge is not retried until the tenant buys again.

// topupCharge is a row of topup_charges.
type topupCharge struct {
	requestID        uuid.UUID
	contacts, price  int64
	currency         string
	validityDays     int
	status, mode, pi string
	cycle            int64
}

// TopupOutcome counts what ProcessTopups did. Pending: charged, waiting
// for Stripe's payment_intent event.
type TopupOutcome struct {
	Paid, Failed, Skipped, Pending int
}

// ProcessTopups charges the tenant's pending top-up request, if any. It
// is safe to run twice or after a crash: the charge row is written before
// Stripe is called, and the call reuses the request id as its idempotency
// key (or, once the payment intent id is known, reads it back).
func (s *Service) ProcessTopups(ctx context.Context, tenantID uuid.UUID) (TopupOutcome, error) {
	var out TopupOutcome
	if s.Mode() == ModeOff {
		// Nothing can be charged; the request waits for billing.
		return out, nil
	}
	st, err := metering.GetSettings(ctx, s.DB, tenantID)
	if err != nil {
		return out, err
	}
	var ch *topupCharge
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		ch, err = s.claimTopup(ctx, tx, tenantID, st, &out)
		return err
	})
	if err != nil || ch == nil || ch.status != "pending" {
		return out, err
	}
	if ch.mode == ModeLocal {
		return out, s.localTopup(ctx, tenantID, *ch, &out)
	}
	pi, status, reason, err := s.chargeTopup(ctx, tenantID, *ch)
	if err != nil {
		return out, err
	}
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		return s.settleTopup(ctx, tx, tenantID, ch.requestID, pi, status, reason, &out)
	})
	return out, err
}

// claimTopup turns the pending request into a pending charge of this
// cycle, or skips it: the balance is back over the threshold, or this
// cycle was charged (or failed) already. It returns the charge to make,
// which may be one a crashed run left pending.
func (s *Service) claimTopup(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, st metering.Settings, out *TopupOutcome) (*topupCharge, error) {
	var reqID uuid.UUID
	var tierID, currency string
	err := tx.QueryRow(ctx, `SELECT id, tier_id, currency FROM topup_requests
		WHERE tenant_id = $1 AND status = 'pending' FOR UPDATE`, tenantID).Scan(&reqID, &tierID, &currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending top-up: %w", err)
	}
	ch, err := loadTopupCharge(ctx, tx, tenantID, reqID)
	if err != nil || ch != nil {
		return ch, err
	}
	// The metering lock keeps the balance still while it is judged.
	if err := metering.LockTenant(ctx, tx, tenantID); err != nil {
		return nil, err
	}
	cycle, err := metering.TotalBought(ctx, tx, tenantID)
	if err != nil {
		return nil, err
	}
	var left int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(remaining), 0) FROM bundles
		WHERE tenant_id = $1 AND remaining > 0 AND valid_from <= now() AND valid_until > now()`, tenantID).Scan(&left); err != nil {
		return nil, fmt.Errorf("balance: %w", err)
	}
	skip := func(reason string) (*topupCharge, error) {
		out.Skipped++
		if _, err := tx.Exec(ctx, `UPDATE topup_requests SET status = 'skipped' WHERE tenant_id = $1 AND id = $2`, tenantID, reqID); err != nil {
			return nil, fmt.Errorf("skip top-up: %w", err)
		}
		return nil, tenant.Audit(ctx, tx, systemActor(tenantID, "billing:topup"), "billing.topup_skipped", "topup_request", reqID.String(),
			map[string]any{"reason": reason, "remaining": left, "cycle": cycle})
	}
	if st.Policy != metering.PolicyAutoTopup || st.TopupThreshold == nil {
		return skip("policy is no longer auto_topup")
	}
	if left >= *st.TopupThreshold {
		return skip("balance is back over the threshold")
	}
	// Price, contacts and validity are the catalogue's, read now: never
	// the tenant's (issue #15, item 1).
	tier, err := tierFor(ctx, tx, tierID, currency)
	if cic.ErrorKind(err) == cic.EINVALID {
		return skip(fmt.Sprintf("the bundle %q is no longer for sale in %s", tierID, currency))
	}
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	contacts, price := tier.Contacts, tier.PriceMinor
	days := int(now.AddDate(0, tier.ValidityMonths, 0).Sub(now).Round(24*time.Hour) / (24 * time.Hour))
	tag, err := tx.Exec(ctx, `INSERT INTO topup_charges (tenant_id, request_id, cycle, contacts, price_minor, currency, validity_days, mode)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, cycle) DO NOTHING`,
		tenantID, reqID, cycle, contacts, price, currency, days, s.Mode())
	if err != nil {
		return nil, fmt.Errorf("claim top-up: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return skip("this crossing was charged already (or its charge failed); buying a bundle starts a new one")
	}
	return loadTopupCharge(ctx, tx, tenantID, reqID)
}

func loadTopupCharge(ctx context.Context, q tenant.Querier, tenantID, reqID uuid.UUID) (*topupCharge, error) {
	c := topupCharge{requestID: reqID}
	err := q.QueryRow(ctx, `SELECT contacts, price_minor, currency, validity_days, status, mode, coalesce(payment_intent_id, ''), cycle
		FROM topup_charges WHERE tenant_id = $1 AND request_id = $2`, tenantID, reqID).
		Scan(&c.contacts, &c.price, &c.currency, &c.validityDays, &c.status, &c.mode, &c.pi, &c.cycle)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load top-up charge: %w", err)
	}
	return &c, nil
}

// chargeTopup asks Stripe for the money: an off-session PaymentIntent
// confirmed at once with the saved method. It returns the payment intent,
// its status and a failure reason; an error means "try again later"
// (Stripe unreachable). Its answer can fail a top-up, never credit one.
func (s *Service) chargeTopup(ctx context.Context, tenantID uuid.UUID, ch topupCharge) (pi, status, reason string, err error) {
	if s.Stripe == nil {
		return "", "", "", fmt.Errorf("top-up %s was started with Stripe, which is not configured now", ch.requestID)
	}
	if ch.pi != "" {
		got, err := s.Stripe.PaymentIntents.Get(ch.pi, nil)
		if err != nil {
			return "", "", "", stripeErr("read payment intent", err)
		}
		return got.ID, string(got.Status), lastError(got), nil
	}
	customer, err := s.EnsureCustomer(ctx, tenantID)
	if err != nil {
		return "", "", "", err
	}
	method, err := s.savedMethod(customer)
	if err != nil {
		return "", "", "", err
	}
	if method == "" {
		return "", "failed", "no saved payment method (pay once through the checkout, or add one in the customer portal)", nil
	}
	params := &stripe.PaymentIntentParams{
		Amount:        stripe.Int64(ch.price),
		Currency:      stripe.String(strings.ToLower(ch.currency)),
		Customer:      stripe.String(customer),
		PaymentMethod: stripe.String(method),
		OffSession:    stripe.Bool(true),
		Confirm:       stripe.Bool(true),
		Description:   stripe.String(fmt.Sprintf("Auto top-up: %d contacts", ch.contacts)),
		Metadata:      map[string]string{"tenant_id": tenantID.String(), "topup_request_id": ch.requestID.String(), "kind": "topup"},
	}
	idem(&params.Params, "topup", ch.requestID.String())
	got, err := s.Stripe.PaymentIntents.New(params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Type == stripe.ErrorTypeCard {
		id := ""
		if se.PaymentIntent != nil {
			id = se.PaymentIntent.ID
		}
		return id, "failed", se.Msg, nil
	}
	if err != nil {
		return "", "", "", stripeErr("create payment intent", err)
	}
	// Remember the intent, so a re-run reads it rather than creating.
	if err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE topup_charges SET payment_intent_id = $3, updated_at = now() WHERE tenant_id = $1 AND request_id = $2`,
			tenantID, ch.requestID, got.ID)
		return err
	}); err != nil {
		return "", "", "", fmt.Errorf("save payment intent: %w", err)
	}
	return got.ID, string(got.Status), lastError(got), nil
}

func lastError(pi *stripe.PaymentIntent) string {
	if pi.LastPaymentError != nil {
		return pi.LastPaymentError.Msg
	}
	if pi.Status != stripe.PaymentIntentStatusSucceeded {
		return "payment intent is " + string(pi.Status)
	}
	return ""
}

// savedMethod is the customer's default payment method, else the first
// card on file.
func (s *Service) savedMethod(customer string) (string, error) {
	c, err := s.Stripe.Customers.Get(customer, nil)
	if err != nil {
		return "", stripeErr("read customer", err)
	}
	if c.InvoiceSettings != nil && c.InvoiceSettings.DefaultPaymentMethod != nil && c.InvoiceSettings.DefaultPaymentMethod.ID != "" {
		return c.InvoiceSettings.DefaultPaymentMethod.ID, nil
	}
	it := s.Stripe.PaymentMethods.List(&stripe.PaymentMethodListParams{Customer: stripe.String(customer), Type: stripe.String("card")})
	if it.Next() {
		return it.PaymentMethod().ID, nil
	}
	if err := it.Err(); err != nil {
		return "", stripeErr("list payment methods", err)
	}
	return "", nil
}

// settleTopup records what Stripe answered the charge: succeeded or
// processing waits for Stripe's signed payment_intent event (creditTopup
// credits the bundle), anything else fails the crossing. Nothing here
// credits: a synchronous answer is not Stripe's signed word.
func (s *Service) settleTopup(ctx context.Context, tx pgx.Tx, tenantID, reqID uuid.UUID, pi, status, reason string, out *TopupOutcome) error {
	var cur string
	err := tx.QueryRow(ctx, `SELECT status FROM topup_charges WHERE tenant_id = $1 AND request_id = $2 FOR UPDATE`, tenantID, reqID).Scan(&cur)
	if err != nil {
		return fmt.Errorf("lock top-up charge: %w", err)
	}
	if cur == "paid" {
		// The event came first.
		out.Paid++
		return nil
	}
	if cur != "pending" {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE topup_charges SET payment_intent_id = coalesce(payment_intent_id, nullif($3, '')), updated_at = now()
		WHERE tenant_id = $1 AND request_id = $2`, tenantID, reqID, pi); err != nil {
		return fmt.Errorf("save payment intent: %w", err)
	}
	switch stripe.PaymentIntentStatus(status) {
	case stripe.PaymentIntentStatusSucceeded, stripe.PaymentIntentStatusProcessing:
		out.Pending++
		return nil
	}
	out.Failed++
	return failTopup(ctx, tx, tenantID, reqID, reason)
}

// failTopup ends a top-up whose payment failed. The charge row stays, so
// this cycle is not charged again.
func failTopup(ctx context.Context, tx pgx.Tx, tenantID, reqID uuid.UUID, reason string) error {
	tag, err := tx.Exec(ctx, `UPDATE topup_charges SET status = 'failed', failure = $3, updated_at = now()
		WHERE tenant_id = $1 AND request_id = $2 AND status = 'pending'`, tenantID, reqID, reason)
	if err != nil {
		return fmt.Errorf("fail top-up: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE topup_requests SET status = 'failed' WHERE tenant_id = $1 AND id = $2 AND status = 'pending'`, tenantID, reqID); err != nil {
		return fmt.Errorf("fail top-up request: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	return tenant.Audit(ctx, tx, systemActor(tenantID, "billing:topup"), "billing.topup_failed", "topup_request", reqID.String(),
		map[string]any{"reason": reason})
}
