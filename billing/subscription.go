package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// MaxSeats bounds a subscription's quantity.
const MaxSeats = 10000

// seatGrace keeps a subscription's seats a few days past its period end,
// so the renewal invoice can be paid without agents being locked out.
const seatGrace = 3 * 24 * time.Hour

// DunningGrace is how long a subscription whose payment failed (Stripe's
// past_due or unpaid) keeps its seats, counted from the first failure:
// Stripe retries the card meanwhile and the owners are told. After it the
// seat grant ends until Stripe says the subscription is paid again.
const DunningGrace = 7 * 24 * time.Hour

// dunning reports whether a Stripe status means "payment failed".
func dunning(status string) bool { return status == "past_due" || status == "unpaid" }

// Subscription is the tenant's seat subscription as Stripe last said.
type Subscription struct {
	ID               string    `json:"id"`
	Status           string    `json:"status"`
	Quantity         int       `json:"quantity"`
	CurrentPeriodEnd time.Time `json:"current_period_end"`
	Mode             string    `json:"mode"`
	// PastDueSince is when its payment first failed (past_due or
	// unpaid); nil when paid up.
	PastDueSince *time.Time `json:"past_due_since,omitempty"`
	// SeatsUntil is when its seats end: the period end plus a few days,
	// or, when past due, the end of the dunning grace.
	SeatsUntil *time.Time `json:"seats_until,omitempty"`
	itemID     string
}

// seatsUntil is when the subscription's seats end as of now (zero: they
// have ended). Paid up: the period end plus seatGrace. Payment failed:
// DunningGrace after the first failure, whatever the period says.
func (s Subscription) seatsUntil(now time.Time) time.Time {
	if s.Quantity <= 0 {
		return time.Time{}
	}
	switch {
	case s.Status == "active" || s.Status == "trialing":
		until := s.CurrentPeriodEnd.Add(seatGrace)
		if !until.After(now) {
			until = now.Add(seatGrace)
		}
		return until
	case dunning(s.Status):
		since := now
		if s.PastDueSince != nil {
			since = *s.PastDueSince
		}
		if until := since.Add(DunningGrace); until.After(now) {
			return until
		}
	}
	return time.Time{}
}

// SeatChange is what ChangeSeats did: a checkout to pay (first
// subscription) or a quantity sent to the existing subscription, whose
// seat limit follows once Stripe confirms (the webhook).
type SeatChange struct {
	CheckoutURL  string        `json:"checkout_url,omitempty"`
	Subscription *Subscription `json:"subscription,omitempty"`
	Quantity     int           `json:"quantity"`
}

const subscriptionColumns = `id, status, quantity, current_period_end, mode, item_id, past_due_since`

func scanSubscription(row pgx.Row) (Subscription, error) {
	var s Subscription
	err := row.Scan(&s.ID, &s.Status, &s.Quantity, &s.CurrentPeriodEnd, &s.Mode, &s.itemID, &s.PastDueSince)
	return s, err
}

// currentSubscription is the tenant's newest subscription that is not
// over (paid up or in dunning), if any.
func currentSubscription(ctx context.Context, q tenant.Querier, tenantID uuid.UUID) (*Subscription, error) {
	sub, err := scanSubscription(q.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE tenant_id = $1 AND status IN ('active', 'trialing', 'past_due', 'unpaid') ORDER BY updated_at DESC LIMIT 1`, tenantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("current subscription: %w", err)
	}
	if until := sub.seatsUntil(time.Now()); !until.IsZero() {
		sub.SeatsUntil = &until
	}
	return &sub, nil
}

// GetSubscription returns the tenant's live seat subscription (nil: none).
func (s *Service) GetSubscription(ctx context.Context, a tenant.Actor) (*Subscription, error) {
	if err := RequireViewer(a); err != nil {
		return nil, err
	}
	var sub *Subscription
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) (err error) {
		sub, err = currentSubscription(ctx, tx, a.TenantID)
		return err
	})
	return sub, err
}

// ChangeSeats sets the number of concurrent seats the tenant pays for.
// Without a subscription it opens a checkout (mode=subscription); with
// one it sends the new quantity to Stripe (or, locally, a signed
// customer.subscription.updated event to selfURL's webhook). Either way
// the seat limit changes only when the webhook applies Stripe's word.
func (s *Service) ChangeSeats(ctx context.Context, a tenant.Actor, quantity int, selfURL string) (SeatChange, error) {
	if err := requireBuyer(a); err != nil {
		return SeatChange{}, err
	}
	if err := s.requireSelling(); err != nil {
		return SeatChange{}, err
	}
	if quantity < 1 || quantity > MaxSeats {
		return SeatChange{}, cic.Codef(cic.EINVALID, "invalid_quantity", "quantity must be a whole number of seats from 1 to %d.", MaxSeats)
	}
	var (
		t        tenant.Tenant
		sub      *Subscription
		price    *SeatPrice
		customer string
		checkout uuid.UUID
	)
	mode := s.Mode()
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		if t, err = tenant.Get(ctx, tx, a.TenantID); err != nil {
			return err
		}
		if sub, err = currentSubscription(ctx, tx, a.TenantID); err != nil {
			return err
		}
		if customer, err = customerOf(ctx, tx, a.TenantID); err != nil {
			return err
		}
		if sub != nil {
			return tenant.Audit(ctx, tx, a, "billing.seats_change_requested", "subscription", sub.ID,
				map[string]any{"from": sub.Quantity, "to": quantity, "mode": sub.Mode})
		}
		if price, err = seatPrice(ctx, tx, t.Currency); err != nil {
			return err
		}
		if price == nil {
			return cic.Codef(cic.ECONFLICT, "currency_not_offered", "Seats are not sold in %s yet.", t.Currency)
		}
		checkout = uuid.New()
		_, err = tx.Exec(ctx, `INSERT INTO seat_checkouts (tenant_id, id, quantity, price_minor, currency, mode, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, a.TenantID, checkout, quantity, price.PriceMinor, price.Currency, mode, actorUser(a))
		if err != nil {
			return fmt.Errorf("insert seat checkout: %w", err)
		}
		return nil
	})
	if err != nil {
		return SeatChange{}, err
	}

	if sub != nil {
		if err := s.updateQuantity(ctx, a.TenantID, *sub, quantity, selfURL); err != nil {
			return SeatChange{}, err
		}
		return SeatChange{Subscription: sub, Quantity: quantity}, nil
	}

	var sessionID, url string
	if mode == ModeLocal {
		sessionID, url = "cs_local_"+hexID(checkout), s.link("/billing/local-checkout/"+checkout.String())
	} else {
		if customer == "" {
			if customer, err = s.EnsureCustomer(ctx, a.TenantID); err != nil {
				return SeatChange{}, err
			}
		}
		meta := map[string]string{"tenant_id": a.TenantID.String(), "seat_checkout_id": checkout.String(), "kind": "seats"}
		params := &stripe.CheckoutSessionParams{
			Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
			Customer:          stripe.String(customer),
			ClientReferenceID: stripe.String(a.TenantID.String()),
			LineItems: []*stripe.CheckoutSessionLineItemParams{lineItem(price.StripePriceID, price.PriceMinor, price.Currency, "Concurrent seat",
				&stripe.CheckoutSessionLineItemPriceDataRecurringParams{Interval: stripe.String("month")}, int64(quantity))},
			Metadata:         meta,
			SubscriptionData: &stripe.CheckoutSessionSubscriptionDataParams{Metadata: map[string]string{"tenant_id": a.TenantID.String()}},
			SuccessURL:       stripe.String(s.link("/billing?done=seats")),
			CancelURL:        stripe.String(s.link("/billing?done=cancelled")),
		}
		idem(&params.Params, "seat-checkout", checkout.String())
		sess, err := s.Stripe.CheckoutSessions.New(params)
		if err != nil {
			return SeatChange{}, stripeErr("create seat checkout", err)
		}
		sessionID, url = sess.ID, sess.URL
	}
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE seat_checkouts SET checkout_session_id = $3, checkout_url = $4 WHERE tenant_id = $1 AND id = $2`,
			a.TenantID, checkout, sessionID, url); err != nil {
			return fmt.Errorf("save seat checkout: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "billing.checkout_started", "seat_checkout", checkout.String(), map[string]any{
			"quantity": quantity, "price_minor": price.PriceMinor, "currency": price.Currency, "mode": mode, "checkout_session_id": sessionID,
		})
	})
	if err != nil {
		return SeatChange{}, err
	}
	return SeatChange{CheckoutURL: url, Quantity: quantity}, nil
}

// updateQuantity asks Stripe (or the local checkout) for a new quantity.
func (s *Service) updateQuantity(ctx context.Context, tenantID uuid.UUID, sub Subscription, quantity int, selfURL string) error {
	if sub.Mode == ModeLocal {
		if s.Stripe != nil {
			return cic.Codef(cic.ECONFLICT, "local_subscription", "This subscription was made by the local checkout and cannot be changed through Stripe.")
		}
		if s.Mode() != ModeLocal {
			return ErrNotConfigured
		}
		sub.Quantity = quantity
		ev, err := localEvent("customer.subscription.updated", subscriptionObject(tenantID, sub), s.now())
		if err != nil {
			return err
		}
		return s.deliverLocal(ctx, selfURL, ev)
	}
	if s.Stripe == nil {
		return cic.Codef(cic.EUNAVAILABLE, "stripe_not_configured", "This subscription is with Stripe, and no Stripe key is configured.")
	}
	params := &stripe.SubscriptionParams{
		Items:             []*stripe.SubscriptionItemsParams{{ID: stripe.String(sub.itemID), Quantity: stripe.Int64(int64(quantity))}},
		ProrationBehavior: stripe.String("create_prorations"),
		Metadata:          map[string]string{"tenant_id": tenantID.String()},
	}
	// Setting a quantity is idempotent in itself; the key only makes a
	// network retry of this very call harmless (a later change to the same
	// quantity must not be swallowed as a replay, hence the fresh part).
	idem(&params.Params, "seats", sub.ID, fmt.Sprint(quantity), uuid.NewString())
	if _, err := s.Stripe.Subscriptions.Update(sub.ID, params); err != nil {
		return stripeErr("update subscription", err)
	}
	return nil
}

// subState is a subscription as an event (or Stripe's API) describes it.
type subState struct {
	ID        string
	ItemID    string
	Status    string
	Quantity  int
	PeriodEnd time.Time
	Mode      string
}

func subStateOf(sub *stripe.Subscription, mode string) subState {
	st := subState{ID: sub.ID, Status: string(sub.Status), PeriodEnd: time.Unix(sub.CurrentPeriodEnd, 0).UTC(), Mode: mode}
	if sub.Items != nil && len(sub.Items.Data) > 0 {
		st.ItemID, st.Quantity = sub.Items.Data[0].ID, int(sub.Items.Data[0].Quantity)
	}
	return st
}

// applySubscription records what an event says of a subscription, unless
// a newer event was applied already ('canceled' is final whatever the
// order), and then makes the seat grant match the stored state, so the
// seat limit follows the subscription whatever order events come in.
// Entering past_due or unpaid starts the dunning grace (past_due_since
// keeps the first failure's time); leaving them clears it. It returns the
// status before and after, for the caller's audit entry.
func applySubscription(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, st subState, eventAt, now time.Time) (before, after string, err error) {
	if err := tx.QueryRow(ctx, `SELECT status FROM subscriptions WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, st.ID).
		Scan(&before); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", "", fmt.Errorf("lock subscription: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO subscriptions (tenant_id, id, item_id, status, quantity, current_period_end, mode, last_event_at,
			past_due_since)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $4 IN ('past_due', 'unpaid') THEN $8::timestamptz END)
		ON CONFLICT (tenant_id, id) DO UPDATE SET
			item_id = CASE WHEN EXCLUDED.item_id = '' THEN subscriptions.item_id ELSE EXCLUDED.item_id END,
			status = EXCLUDED.status, quantity = EXCLUDED.quantity, current_period_end = EXCLUDED.current_period_end,
			last_event_at = EXCLUDED.last_event_at, updated_at = now(),
			past_due_since = CASE WHEN EXCLUDED.status IN ('past_due', 'unpaid')
				THEN coalesce(subscriptions.past_due_since, EXCLUDED.last_event_at) END,
			dunning_mailed_at = CASE WHEN EXCLUDED.status IN ('past_due', 'unpaid') THEN subscriptions.dunning_mailed_at END,
			dunning_seats_ended_at = CASE WHEN EXCLUDED.status IN ('past_due', 'unpaid') THEN subscriptions.dunning_seats_ended_at END
		WHERE subscriptions.status <> 'canceled'
			AND (EXCLUDED.status = 'canceled' OR EXCLUDED.last_event_at >= subscriptions.last_event_at)`,
		tenantID, st.ID, st.ItemID, st.Status, st.Quantity, st.PeriodEnd, st.Mode, eventAt)
	if err != nil {
		return "", "", fmt.Errorf("save subscription: %w", err)
	}
	sub, err := scanSubscription(tx.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE tenant_id = $1 AND id = $2`, tenantID, st.ID))
	if err != nil {
		return "", "", fmt.Errorf("read subscription: %w", err)
	}
	return before, sub.Status, grantSubscriptionSeats(ctx, tx, tenantID, sub, now)
}

// grantSubscriptionSeats makes the subscription's seat grant match its
// stored state as of now.
func grantSubscriptionSeats(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, sub Subscription, now time.Time) error {
	until := sub.seatsUntil(now)
	if until.IsZero() {
		// The grant ends now (never before it began: valid_until > valid_from).
		_, err := tx.Exec(ctx, `UPDATE seat_grants SET valid_until = greatest($3, valid_from + interval '1 millisecond')
			WHERE tenant_id = $1 AND stripe_subscription_id = $2 AND valid_until > $3`, tenantID, sub.ID, now)
		if err != nil {
			return fmt.Errorf("end subscription seats: %w", err)
		}
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO seat_grants (tenant_id, id, source, seats, valid_from, valid_until, stripe_subscription_id)
		VALUES ($1, $2, 'subscription', $3, $4, $5, $6)
		ON CONFLICT (tenant_id, stripe_subscription_id) WHERE stripe_subscription_id IS NOT NULL
		DO UPDATE SET seats = EXCLUDED.seats, valid_until = EXCLUDED.valid_until`,
		tenantID, uuid.New(), sub.Quantity, now, until, sub.ID)
	if err != nil {
		return fmt.Errorf("grant subscription seats: %w", err)
	}
	// Paid seats replace the trial's: a company that buys 10 has 10.
	_, err = tx.Exec(ctx, `UPDATE seat_grants SET valid_until = greatest($2, valid_from + interval '1 millisecond')
		WHERE tenant_id = $1 AND source = 'trial' AND valid_until > $2`, tenantID, now)
	if err != nil {
		return fmt.Errorf("end trial seats: %w", err)
	}
	return nil
}
