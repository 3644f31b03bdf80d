package billing

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// The local checkout stands in for Stripe Checkout when no Stripe key is
// set: its Pay button makes the server build the event Stripe would send,
// sign it with the webhook secret and POST it to its own /webhooks/stripe
// over HTTP, so fulfilment runs exactly the code it runs for Stripe.

// LocalCheckout is what the local checkout page shows.
type LocalCheckout struct {
	ID          uuid.UUID `json:"id"`
	Kind        string    `json:"kind"` // bundle or seats
	Description string    `json:"description"`
	AmountMinor int64     `json:"amount_minor"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	Paid        bool      `json:"paid"`
	sessionID   string
	contacts    int64
	quantity    int
}

// GetLocalCheckout returns the tenant's local checkout id (a purchase or
// a seat checkout made in local mode).
func (s *Service) GetLocalCheckout(ctx context.Context, a tenant.Actor, id uuid.UUID) (LocalCheckout, error) {
	if err := RequireViewer(a); err != nil {
		return LocalCheckout{}, err
	}
	var lc LocalCheckout
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) (err error) {
		lc, err = localCheckout(ctx, tx, a.TenantID, id)
		return err
	})
	return lc, err
}

func localCheckout(ctx context.Context, tx pgx.Tx, tenantID, id uuid.UUID) (LocalCheckout, error) {
	lc := LocalCheckout{ID: id}
	var cur, name string
	err := tx.QueryRow(ctx, `SELECT p.status, p.price_minor, p.currency, coalesce(p.checkout_session_id, ''), p.contacts, p.tier_id
		FROM purchases p WHERE p.tenant_id = $1 AND p.id = $2 AND p.mode = 'local'`, tenantID, id).
		Scan(&lc.Status, &lc.AmountMinor, &cur, &lc.sessionID, &lc.contacts, &name)
	if err == nil {
		lc.Kind, lc.Currency, lc.Paid = "bundle", cur, lc.Status == "paid"
		lc.Description = fmt.Sprintf("Bundle of %d contacts (%s)", lc.contacts, name)
		return lc, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return lc, fmt.Errorf("local checkout: %w", err)
	}
	var unit int64
	err = tx.QueryRow(ctx, `SELECT status, price_minor, currency, coalesce(checkout_session_id, ''), quantity
		FROM seat_checkouts WHERE tenant_id = $1 AND id = $2 AND mode = 'local'`, tenantID, id).
		Scan(&lc.Status, &unit, &cur, &lc.sessionID, &lc.quantity)
	if errors.Is(err, pgx.ErrNoRows) {
		return lc, cic.Codef(cic.ENOTFOUND, "not_found", "No such checkout.")
	}
	if err != nil {
		return lc, fmt.Errorf("local checkout: %w", err)
	}
	lc.Kind, lc.Currency, lc.Paid = "seats", cur, lc.Status == "completed"
	lc.AmountMinor = unit * int64(lc.quantity)
	lc.Description = fmt.Sprintf("%d concurrent seat(s), monthly", lc.quantity)
	return lc, nil
}

// LocalPay "pays" a local checkout: it sends the checkout.session.completed
// event Stripe would send to selfURL's webhook and reports what the
// webhook answered. Paying twice sends a second event for the same
// session, which the webhook refuses to credit again.
func (s *Service) LocalPay(ctx context.Context, a tenant.Actor, id uuid.UUID, selfURL string) error {
	if err := requireBuyer(a); err != nil {
		return err
	}
	if s.Stripe != nil {
		return cic.Codef(cic.ECONFLICT, "stripe_configured", "Payments go through Stripe here, not the local checkout.")
	}
	if s.Mode() != ModeLocal {
		return ErrNotConfigured
	}
	var lc LocalCheckout
	var customer string
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) (err error) {
		if lc, err = localCheckout(ctx, tx, a.TenantID, id); err != nil {
			return err
		}
		if customer, err = customerOf(ctx, tx, a.TenantID); err != nil {
			return err
		}
		return tenant.Audit(ctx, tx, a, "billing.local_payment", lc.Kind, id.String(),
			map[string]any{"amount_minor": lc.AmountMinor, "currency": lc.Currency, "checkout_session_id": lc.sessionID})
	})
	if err != nil {
		return err
	}
	sess := map[string]any{
		"id": lc.sessionID, "object": "checkout.session", "status": "complete", "payment_status": "paid",
		"client_reference_id": a.TenantID.String(), "amount_total": lc.AmountMinor, "currency": strings.ToLower(lc.Currency),
		"livemode": false, "created": s.now().Unix(),
	}
	if customer != "" {
		sess["customer"] = customer
	}
	if lc.Kind == "bundle" {
		sess["mode"] = "payment"
		sess["payment_intent"] = "pi_local_" + randomHex(12)
		sess["metadata"] = map[string]string{"tenant_id": a.TenantID.String(), "purchase_id": id.String(), "kind": "bundle"}
	} else {
		sess["mode"] = "subscription"
		sess["subscription"] = "sub_local_" + randomHex(12)
		sess["metadata"] = map[string]string{"tenant_id": a.TenantID.String(), "seat_checkout_id": id.String(), "kind": "seats"}
	}
	ev, err := localEvent(EventCheckoutCompleted, sess, s.now())
	if err != nil {
		return err
	}
	return s.deliverLocal(ctx, selfURL, ev)
}

// subscriptionObject is a local subscription as Stripe would describe it.
func subscriptionObject(tenantID uuid.UUID, sub Subscription) map[string]any {
	return map[string]any{
		"id": sub.ID, "object": "subscription", "status": sub.Status, "current_period_end": sub.CurrentPeriodEnd.Unix(),
		"metadata": map[string]string{"tenant_id": tenantID.String()},
		"items": map[string]any{"object": "list", "data": []map[string]any{
			{"id": sub.itemID, "object": "subscription_item", "quantity": sub.Quantity},
		}},
	}
}

// localEvent wraps obj in a Stripe event envelope.
func localEvent(typ string, obj any, now time.Time) ([]byte, error) {
	ev := map[string]any{
		"id": "evt_local_" + randomHex(12), "object": "event", "api_version": stripe.APIVersion,
		"created": now.Unix(), "livemode": false, "pending_webhooks": 1, "type": typ,
		"data": map[string]any{"object": obj},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("local event: %w", err)
	}
	return b, nil
}

// localClient posts local events; the webhook answers quickly.
var localClient = &http.Client{Timeout: 15 * time.Second}

// deliverLocal signs payload like Stripe does and POSTs it to selfURL's
// webhook endpoint.
func (s *Service) deliverLocal(ctx context.Context, selfURL string, payload []byte) error {
	if selfURL == "" {
		return errors.New("local checkout: no URL to reach this server's webhook")
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: s.secret(), Timestamp: s.now()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(selfURL, "/")+"/webhooks/stripe", bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("local webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := localClient.Do(req)
	if err != nil {
		return fmt.Errorf("local webhook: %w: %w", err, cic.Codef(cic.EUNAVAILABLE, "local_webhook_unreachable",
			"The local checkout could not reach this server's own webhook at %s; set SELF_URL to an address the server can reach itself at.", selfURL))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("local webhook answered %d: %s", resp.StatusCode, body)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
