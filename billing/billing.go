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
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/stripe/stripe-go/v76/client"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Modes: where a purchase is paid. ModeOff (no Stripe key, local mode
// not asked for) sells nothing.
const (
	ModeStripe = "stripe"
	ModeLocal  = "local"
	ModeOff    = "off"
)

// ErrNotConfigured answers every purchase, and every webhook delivery,
// when billing is off.
var ErrNotConfigured = cic.Codef(cic.EUNAVAILABLE, "billing_not_configured",
	"Payments are not configured on this server (no Stripe keys, and the local checkout is off); nothing can be bought here yet.")

// LocalWebhookSecret is the secret the local checkout signs its events
// with: derived from the installation's signing keys, so it is random per
// installation, shared by replicas that share the keys (JWT_KEYS or the key
// file), and never known to anyone who does not hold them.
func LocalWebhookSecret(k *tenant.Keys) string {
	return "whsec_local_" + hex.EncodeToString(k.Derive("local-checkout-webhook"))
}

// Service is billing's entry point.
type Service struct {
	DB *tenant.DB
	// Stripe is the API client; nil means no Stripe keys.
	Stripe *client.API
	// Local turns the built-in local checkout on when Stripe is nil
	// (BILLING_MODE=local); with neither, billing is off.
	Local bool
	// WebhookSecret verifies POST /webhooks/stripe (Stripe's whsec_...,
	// or LocalWebhookSecret in local mode); empty refuses every event.
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

// Mode says whether purchases go to Stripe, to the local checkout, or
// nowhere (off).
func (s *Service) Mode() string {
	switch {
	case s.Stripe != nil:
		return ModeStripe
	case s.Local:
		return ModeLocal
	}
	return ModeOff
}

// requireSelling refuses to sell when billing is off.
func (s *Service) requireSelling() error {
	if s.Mode() == ModeOff {
		return ErrNotConfigured
	}
	return nil
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

func (s *Service) secret() string { return s.WebhookSecret }

func (s *Service) tolerance() time.Duration {
	if s.WebhookTolerance > 0 {
		return s.WebhookTolerance
	}
	return 5 * time.Minute
}
