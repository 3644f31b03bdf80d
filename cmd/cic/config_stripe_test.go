package main

import (
	"strings"
	"testing"

	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/tenant"
)

func TestLoadConfigStripe(t *testing.T) {
	cfg, err := LoadConfig(envOf(nil))
	if err != nil || cfg.StripeSecretKey != "" || cfg.BillingMode != billing.ModeOff {
		t.Fatalf("defaults: %+v, %v (no key, no BILLING_MODE: billing off)", cfg, err)
	}
	if b := newBilling(cfg, nil, tenant.GenerateKeys(), nil); b.Mode() != billing.ModeOff || b.WebhookSecret != "" {
		t.Fatalf("no key and no BILLING_MODE must not be the local checkout: mode %s", b.Mode())
	}
	if got := cfg.selfURL(); got != "http://127.0.0.1:8080" {
		t.Fatalf("self URL from the default HTTP_ADDR: %q", got)
	}
	cfg, err = LoadConfig(envOf(map[string]string{
		"STRIPE_SECRET_KEY": "sk_test_abc", "STRIPE_WEBHOOK_SECRET": "whsec_abc", "STRIPE_API_BASE": "http://127.0.0.1:12111/",
		"SELF_URL": "http://10.0.0.5:8080/", "HTTP_ADDR": "0.0.0.0:9000",
	}))
	if err != nil || cfg.StripeSecretKey != "sk_test_abc" || cfg.StripeWebhookSecret != "whsec_abc" || cfg.StripeAPIBase != "http://127.0.0.1:12111" ||
		cfg.SelfURL != "http://10.0.0.5:8080" {
		t.Fatalf("set: %+v, %v", cfg, err)
	}
	if got := cfg.selfURL(); got != "http://10.0.0.5:8080" {
		t.Fatalf("SELF_URL wins: %q", got)
	}
	if cfg, _ := LoadConfig(envOf(map[string]string{"HTTP_ADDR": "0.0.0.0:9000"})); cfg.selfURL() != "http://127.0.0.1:9000" {
		t.Fatalf("self URL for 0.0.0.0: %q", cfg.selfURL())
	}
	if b := newBilling(cfg, nil, tenant.GenerateKeys(), nil); b.Mode() != "stripe" || b.WebhookSecret != "whsec_abc" || cfg.BillingMode != "stripe" {
		t.Fatal("a key must turn Stripe on")
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"STRIPE_SECRET_KEY": "pk_test_abc", "STRIPE_WEBHOOK_SECRET": "whsec_x"}, "STRIPE_SECRET_KEY"},
		{map[string]string{"STRIPE_SECRET_KEY": "sk_test_abc"}, "STRIPE_WEBHOOK_SECRET"},
		{map[string]string{"STRIPE_WEBHOOK_SECRET": "secret"}, "STRIPE_WEBHOOK_SECRET"},
		{map[string]string{"STRIPE_API_BASE": "stripe-mock:12111"}, "STRIPE_API_BASE"},
		{map[string]string{"SELF_URL": "/webhooks"}, "SELF_URL"},
		{map[string]string{"BILLING_MODE": "free"}, "BILLING_MODE"},
		{map[string]string{"BILLING_MODE": "stripe"}, "BILLING_MODE"},
		{map[string]string{"BILLING_MODE": "local", "STRIPE_SECRET_KEY": "sk_test_abc", "STRIPE_WEBHOOK_SECRET": "whsec_abc"}, "BILLING_MODE"},
		{map[string]string{"BILLING_MODE": "local", "STRIPE_WEBHOOK_SECRET": "whsec_abc"}, "STRIPE_WEBHOOK_SECRET"},
		// The shared operator secret is gone, even a long one: refused
		// at start, not silently ignored.
		{map[string]string{"OPERATOR_TOKEN": "a-long-operator-secret"}, "cic operator add"},
	} {
		if _, err := LoadConfig(envOf(tc.env)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one about %s", tc.env, err, tc.want)
		}
	}
}

// TestBillingModeLocal: the local checkout only when asked for, its
// webhook secret derived from the installation's signing keys: the same
// for replicas sharing the keys, another for every other installation,
// and never the old public constant.
func TestBillingModeLocal(t *testing.T) {
	cfg, err := LoadConfig(envOf(map[string]string{"BILLING_MODE": "Local"}))
	if err != nil || cfg.BillingMode != billing.ModeLocal {
		t.Fatalf("BILLING_MODE=local: %+v, %v", cfg, err)
	}
	keys := tenant.GenerateKeys()
	a, b := newBilling(cfg, nil, keys, nil), newBilling(cfg, nil, keys, nil)
	other := newBilling(cfg, nil, tenant.GenerateKeys(), nil)
	if a.Mode() != billing.ModeLocal || a.Stripe != nil {
		t.Fatalf("mode %s", a.Mode())
	}
	if a.WebhookSecret == "" || a.WebhookSecret != b.WebhookSecret {
		t.Fatal("replicas sharing the keys must share the local webhook secret")
	}
	if other.WebhookSecret == a.WebhookSecret || a.WebhookSecret == "whsec_local_checkout_not_secret" {
		t.Fatal("the local webhook secret must differ per installation")
	}
}
