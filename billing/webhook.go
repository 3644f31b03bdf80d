package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	cic "github.com/cic-platform/cic"
)

// Event types the webhook applies; every other type is acknowledged and
// ignored.
const (
	EventCheckoutCompleted      = "checkout.session.completed"
	EventCheckoutAsyncSucceeded = "checkout.session.async_payment_succeeded"
	EventCheckoutExpired        = "checkout.session.expired"
	EventInvoicePaid            = "invoice.paid"
	EventSubscriptionCreated    = "customer.subscription.created"
	EventSubscriptionUpdated    = "customer.subscription.updated"
	EventSubscriptionDeleted    = "customer.subscription.deleted"
	EventInvoicePaymentFailed   = "invoice.payment_failed"
	EventPaymentSucceeded       = "payment_intent.succeeded"
	EventPaymentFailed          = "payment_intent.payment_failed"
)

var errBadSignature = cic.Codef(cic.EINVALID, "bad_signature", "The Stripe-Signature header does not match this body, or it is too old.")

// WebhookResult says what became of an event, for the log and the tests.
type WebhookResult string

// Outcomes of HandleWebhook.
const (
	Applied   WebhookResult = "applied"
	Duplicate WebhookResult = "duplicate"
	Ignored   WebhookResult = "ignored"
)

// HandleWebhook verifies payload against the Stripe-Signature header
// (HMAC with the webhook secret, timestamp within the tolerance) before
// reading anything of it (billing off: every event is refused), then applies the event inside the tenant's
// transaction, recording its id in the same transaction: a second
// delivery, even a concurrent one, waits for the first and then finds the
// id and does nothing. A bad signature is an EINVALID error and touches
// nothing.
func (s *Service) HandleWebhook(ctx context.Context, payload []byte, sigHeader string) (WebhookResult, error) {
	if s.Mode() == ModeOff || s.secret() == "" {
		// No secret to check against: nothing is believed.
		return "", ErrNotConfigured
	}
	ev, err := webhook.ConstructEventWithOptions(payload, sigHeader, s.secret(), webhook.ConstructEventOptions{
		Tolerance: s.tolerance(),
		// Events carry the API version of the endpoint (or of the local
		// checkout); the fields read here are the same in all of them.
		IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		return "", fmt.Errorf("%w (%v)", errBadSignature, err)
	}
	// stripe-go checks only that the signature is not too old; one from
	// beyond the tolerance in the future would stay replayable until then.
	if ts, ok := signedAt(sigHeader); !ok || ts.After(s.now().Add(s.tolerance())) {
		return "", fmt.Errorf("%w (timestamp in the future)", errBadSignature)
	}
	if ev.ID == "" || ev.Data == nil {
		return "", cic.Codef(cic.EINVALID, "bad_event", "The event has no id or data.")
	}
	h, ok := s.handlers()[string(ev.Type)]
	if !ok {
		return Ignored, nil
	}
	obj, err := h.decode(ev.Data.Raw)
	if err != nil {
		return "", cic.Codef(cic.EINVALID, "bad_event", "The event's object cannot be read: %v.", err)
	}
	tenantID, err := s.tenantOf(ctx, obj.meta(), obj.customer())
	if err != nil {
		return "", err
	}
	if tenantID == uuid.Nil {
		// Not ours (another product on the same Stripe account, or a
		// tenant deleted since): acknowledged, so Stripe stops sending it.
		s.logger().WarnContext(ctx, "stripe event for no known tenant", "event_id", ev.ID, "type", ev.Type)
		return Ignored, nil
	}
	created := time.Unix(ev.Created, 0).UTC()
	result := Applied
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO stripe_events (tenant_id, event_id, type, created) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant_id, event_id) DO NOTHING`, tenantID, ev.ID, string(ev.Type), created)
		if err != nil {
			return fmt.Errorf("record event: %w", err)
		}
		if tag.RowsAffected() == 0 {
			result = Duplicate
			return nil
		}
		return h.apply(ctx, tx, eventCtx{tenantID: tenantID, id: ev.ID, typ: string(ev.Type), created: created, now: s.now()}, obj)
	})
	if err != nil {
		return "", fmt.Errorf("apply %s %s: %w", ev.Type, ev.ID, err)
	}
	s.logger().InfoContext(ctx, "stripe event", "event_id", ev.ID, "type", ev.Type, "tenant_id", tenantID, "result", result)
	return result, nil
}

// signedAt reads the t= timestamp of a Stripe-Signature header.
func signedAt(header string) (time.Time, bool) {
	for _, part := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(n, 0), true
		}
	}
	return time.Time{}, false
}

// eventCtx is what every event handler knows of its event.
type eventCtx struct {
	tenantID uuid.UUID
	id, typ  string
	created  time.Time
	now      time.Time
}

// stripeObject is the part of an event's object that finds its tenant.
type stripeObject interface {
	meta() map[string]string
	customer() string
}

type handler struct {
	decode func(json.RawMessage) (stripeObject, error)
	apply  func(context.Context, pgx.Tx, eventCtx, stripeObject) error
}

func decodeAs[T any, P interface {
	*T
	stripeObject
}](raw json.RawMessage) (stripeObject, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return P(&v), nil
}

type sessionObj struct{ stripe.CheckoutSession }
type subscriptionObj struct{ stripe.Subscription }
type invoiceObj struct{ stripe.Invoice }
type paymentIntentObj struct{ stripe.PaymentIntent }

func customerID(c *stripe.Customer) string {
	if c == nil {
		return ""
	}
	return c.ID
}

func (o *sessionObj) meta() map[string]string       { return o.Metadata }
func (o *sessionObj) customer() string              { return customerID(o.Customer) }
func (o *subscriptionObj) meta() map[string]string  { return o.Metadata }
func (o *subscriptionObj) customer() string         { return customerID(o.Customer) }
func (o *paymentIntentObj) meta() map[string]string { return o.Metadata }
func (o *paymentIntentObj) customer() string        { return customerID(o.Customer) }
func (o *invoiceObj) customer() string              { return customerID(o.Customer) }
func (o *invoiceObj) meta() map[string]string {
	if o.SubscriptionDetails != nil && o.SubscriptionDetails.Metadata["tenant_id"] != "" {
		return o.SubscriptionDetails.Metadata
	}
	return o.Metadata
}

func (s *Service) handlers() map[string]handler {
	session := handler{decode: decodeAs[sessionObj], apply: func(ctx context.Context, tx pgx.Tx, e eventCtx, o stripeObject) error {
		return s.onCheckoutCompleted(ctx, tx, e, &o.(*sessionObj).CheckoutSession)
	}}
	sub := handler{decode: decodeAs[subscriptionObj], apply: func(ctx context.Context, tx pgx.Tx, e eventCtx, o stripeObject) error {
		return s.onSubscription(ctx, tx, e, &o.(*subscriptionObj).Subscription)
	}}
	return map[string]handler{
		EventCheckoutCompleted:      session,
		EventCheckoutAsyncSucceeded: session,
		EventCheckoutExpired: {decode: decodeAs[sessionObj], apply: func(ctx context.Context, tx pgx.Tx, e eventCtx, o stripeObject) error {
			return s.onCheckoutExpired(ctx, tx, e, &o.(*sessionObj).CheckoutSession)
		}},
		EventSubscriptionCreated: sub,
		EventSubscriptionUpdated: sub,
		EventSubscriptionDeleted: sub,
		EventInvoicePaid: {decode: decodeAs[invoiceObj], apply: func(ctx context.Context, tx pgx.Tx, e eventCtx, o stripeObject) error {
			return s.onInvoicePaid(ctx, tx, e, &o.(*invoiceObj).Invoice)
		}},
		EventInvoicePaymentFailed: {decode: decodeAs[invoiceObj], apply: func(ctx context.Context, tx pgx.Tx, e eventCtx, o stripeObject) error {
			return s.onInvoicePaymentFailed(ctx, tx, e, &o.(*invoiceObj).Invoice)
		}},
		EventPaymentSucceeded: {decode: decodeAs[paymentIntentObj], apply: func(ctx context.Context, tx pgx.Tx, e eventCtx, o stripeObject) error {
			return s.onPaymentSucceeded(ctx, tx, e, &o.(*paymentIntentObj).PaymentIntent)
		}},
		EventPaymentFailed: {decode: decodeAs[paymentIntentObj], apply: func(ctx context.Context, tx pgx.Tx, e eventCtx, o stripeObject) error {
			return s.onPaymentFailed(ctx, tx, e, &o.(*paymentIntentObj).PaymentIntent)
		}},
	}
}

// tenantOf finds the tenant of an event: the tenant_id we put in the
// metadata of everything we create, else the Stripe customer. uuid.Nil:
// none.
func (s *Service) tenantOf(ctx context.Context, meta map[string]string, customer string) (uuid.UUID, error) {
	if raw := meta["tenant_id"]; raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil {
			return uuid.Nil, cic.Codef(cic.EINVALID, "bad_event", "The event's tenant_id is not a UUID.")
		}
		var exists bool
		err = s.DB.PlatformTx(ctx, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1)`, id).Scan(&exists)
		})
		if err != nil {
			return uuid.Nil, fmt.Errorf("event tenant: %w", err)
		}
		if !exists {
			return uuid.Nil, nil
		}
		return id, nil
	}
	if customer == "" {
		return uuid.Nil, nil
	}
	var id uuid.UUID
	err := s.DB.PlatformTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT tenant_id FROM tenants WHERE stripe_customer_id = $1`, customer).Scan(&id)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, nil
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("event tenant by customer: %w", err)
	}
	return id, nil
}
