// Package billing sells what metering counts: contact bundles and
// concurrent seats, paid through Stripe (Checkout, a subscription, invoice
// items, off-session top-ups), or through a built-in local checkout when no
// Stripe key is configured. Its one rule: money moves the ledger only when
// Stripe says so in a signed webhook event (checkout.session.completed,
// customer.subscription.*, invoice.paid, payment_intent.payment_failed), and
// each event, session, overage period and top-up cycle is applied once,
// whatever the order or number of deliveries. The local checkout signs its
// event with the local webhook secret and posts it to the same endpoint, so
// the demo runs the very same code.
package billing

import (
	"log/slog"
	"time"

	"github.com/stripe/stripe-go/v76/client"

	"github.com/cic-platform/cic/tenant"
)

// Modes: where a purchase is paid.
const (
	ModeStripe = "stripe"
	ModeLocal  = "local"
)

// LocalWebhookSecret signs the local checkout's events when no
// STRIPE_WEBHOOK_SECRET is set. It protects nothing of value: without
// Stripe keys no money moves; it keeps the local path identical to the real
// one (a bad signature is still refused).
const LocalWebhookSecret = "whsec_local_checkout_not_secret"

// Service is billing's entry point.
type Service struct {
	DB *tenant.DB
	// Stripe is the API client; nil means local mode (no Stripe keys).
	Stripe *client.API
	// WebhookSecret verifies POST /webhooks/stripe (Stripe's whsec_...,
	// or LocalWebhookSecret in local mode).
	WebhookSecret string
	// WebhookTolerance is how old a signature may be; 0 means 5 minutes.
	WebhookTolerance time.Duration
	// PublicURL is where users reach the product (checkout return links).
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time

	// afterOverageCharge, when set (tests), runs between Stripe's answer
	// and the COMMIT that records it: an error there is a crash midway.
	afterOverageCharge func() error
}

// Mode says whether purchases go to Stripe or to the local checkout.
func (s *Service) Mode() string {
	if s.Stripe == nil {
		return ModeLocal
	}
	return ModeStripe
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Service) secret() string {
	if s.WebhookSecret != "" {
		return s.WebhookSecret
	}
	return LocalWebhookSecret
}

func (s *Service) tolerance() time.Duration {
	if s.WebhookTolerance > 0 {
		return s.WebhookTolerance
	}
	return 5 * time.Minute
}
