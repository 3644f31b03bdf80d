package billing

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	cic "github.com/cic-platform/cic"
)

// NewStripe returns a stripe-go client for key. baseURL, when not empty,
// replaces https://api.stripe.com (stripe-mock in tests, a proxy); httpc,
// when not nil, carries the requests (tests count them).
func NewStripe(key, baseURL string, httpc *http.Client) *client.API {
	if httpc == nil {
		httpc = &http.Client{Timeout: 30 * time.Second}
	}
	cfg := func() *stripe.BackendConfig {
		c := &stripe.BackendConfig{
			HTTPClient:    httpc,
			LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError},
			// Retries reuse the request's idempotency key, which every
			// create here sets, so a retry never charges twice.
			MaxNetworkRetries: stripe.Int64(2),
		}
		if baseURL != "" {
			c.URL = stripe.String(strings.TrimRight(baseURL, "/"))
		}
		return c
	}
	return client.New(key, &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, cfg()),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, cfg()),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, cfg()),
	})
}

// idem sets the idempotency key of a create: derived from our own ids, so
// a retried job or request sends the same key and Stripe answers with what
// it did the first time instead of doing it again.
func idem(p *stripe.Params, parts ...string) {
	p.SetIdempotencyKey("cic:" + strings.Join(parts, ":"))
}

// stripeErr turns a Stripe failure into a domain error: a card problem is
// the customer's (conflict, with Stripe's message), an outage is
// unavailable; anything else stays internal, wrapped.
func stripeErr(what string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		switch se.Type {
		case stripe.ErrorTypeCard:
			return cic.Codef(cic.ECONFLICT, "payment_failed", "The payment failed: %s", se.Msg)
		case stripe.ErrorTypeInvalidRequest:
			return fmt.Errorf("stripe %s: %w", what, err)
		}
		if se.HTTPStatusCode == http.StatusTooManyRequests || se.HTTPStatusCode >= 500 {
			return fmt.Errorf("stripe %s: %w", what, cic.Codef(cic.EUNAVAILABLE, "stripe_unavailable", "The payment provider is not reachable; try again in a minute."))
		}
	}
	return fmt.Errorf("stripe %s: %w", what, err)
}
