package main

import (
	"strings"
	"testing"
)

func TestLoadConfigStripe(t *testing.T) {
	cfg, err := LoadConfig(envOf(nil))
	if err != nil || cfg.StripeSecretKey != "" {
		t.Fatalf("defaults: %+v, %v (no key: the local checkout)", cfg, err)
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
	if b := newBilling(cfg, nil, nil); b.Mode() != "stripe" {
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
		// The shared operator secret is gone, even a long one: refused
		// at start, not silently ignored.
		{map[string]string{"OPERATOR_TOKEN": "a-long-operator-secret"}, "cic operator add"},
	} {
		if _, err := LoadConfig(envOf(tc.env)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one about %s", tc.env, err, tc.want)
		}
	}
}
