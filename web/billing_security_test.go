package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/web"
)

// oldPublicSecret is the constant the local checkout signed with before
// BILLING_MODE: anyone could read it in the source.
const oldPublicSecret = "whsec_local_checkout_not_secret"

func stripeEvent(t *testing.T, id, typ string, obj map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "created": time.Now().Unix(),
		"api_version": "2023-10-16", "data": map[string]any{"object": obj}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (ts *testServer) seatLimit(t *testing.T, c company) int {
	t.Helper()
	var n int
	if err := ts.DB.Owner.QueryRow(context.Background(), `SELECT coalesce(sum(seats), 0) FROM seat_grants
		WHERE tenant_id = $1 AND valid_from <= now() AND valid_until > now()`, c.TenantID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The attacks of issue #15 item 2, against a server in local mode: each
// event signed with the old public constant is refused (400), changes
// nothing, and the same events signed with the installation's own secret
// are applied (so the refusal is the secret's doing), except that the
// invoice's link to another site is never shown.
func TestBilling_EventsSignedWithTheOldPublicSecretAreRefused(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	if ts.Billing.WebhookSecret == oldPublicSecret || !strings.HasPrefix(ts.Billing.WebhookSecret, "whsec_local_") {
		t.Fatalf("local secret %q", ts.Billing.WebhookSecret)
	}
	p := ts.call(t, "POST", "/api/v1/purchases", a.Token, map[string]any{"tier": "bundle-10k"}).mustStatus(t, http.StatusCreated)
	meta := map[string]string{"tenant_id": a.TenantID.String()}
	sub500 := stripeEvent(t, "evt_sub", billing.EventSubscriptionCreated, map[string]any{"id": "sub_evil", "object": "subscription", "status": "active",
		"current_period_end": time.Now().AddDate(0, 1, 0).Unix(), "metadata": meta,
		"items": map[string]any{"object": "list", "data": []map[string]any{{"id": "si_evil", "object": "subscription_item", "quantity": 500}}}})
	paid := stripeEvent(t, "evt_cs", billing.EventCheckoutCompleted, map[string]any{"id": "cs_local_" + strings.ReplaceAll(p.str("id"), "-", ""),
		"object": "checkout.session", "mode": "payment", "status": "complete", "payment_status": "paid",
		"metadata": map[string]string{"tenant_id": a.TenantID.String(), "purchase_id": p.str("id"), "kind": "bundle"}})
	invoice := stripeEvent(t, "evt_in", billing.EventInvoicePaid, map[string]any{"id": "in_evil", "object": "invoice", "status": "paid",
		"amount_paid": 100, "currency": "eur", "number": "EVIL-1", "created": time.Now().Unix(), "metadata": meta,
		"hosted_invoice_url": "https://evil.example/pay", "invoice_pdf": "https://invoice.stripe.com.evil.example/x.pdf"})

	for name, ev := range map[string][]byte{"subscription of 500 seats": sub500, "checkout for a purchase": paid, "invoice with a link": invoice} {
		if ans := ts.signedPost(t, ev, oldPublicSecret, time.Now()); ans.Status != http.StatusBadRequest || ans.errCode() != "bad_signature" {
			t.Fatalf("%s signed with the old constant: %d %s", name, ans.Status, ans.Body)
		}
	}
	if got := ts.seatLimit(t, a); got != 2 {
		t.Fatalf("seat limit %d after forged events, want the trial's 2", got)
	}
	if got := ts.remaining(t, a); got != 250 {
		t.Fatalf("remaining %v after forged events, want 250", got)
	}
	docs := ts.call(t, "GET", "/api/v1/billing/invoices", a.Token, nil).mustStatus(t, http.StatusOK)
	if strings.Contains(string(docs.Body), "in_evil") {
		t.Fatalf("forged invoice recorded: %s", docs.Body)
	}

	// Control: the installation's own secret is believed.
	for _, ev := range [][]byte{sub500, paid, invoice} {
		ts.signedPost(t, ev, ts.Billing.WebhookSecret, time.Now()).mustStatus(t, http.StatusOK)
	}
	if got := ts.seatLimit(t, a); got != 500 {
		t.Fatalf("seat limit %d with the real secret, want 500", got)
	}
	docs = ts.call(t, "GET", "/api/v1/billing/invoices", a.Token, nil).mustStatus(t, http.StatusOK)
	if !strings.Contains(string(docs.Body), "EVIL-1") || strings.Contains(string(docs.Body), "evil.example") {
		t.Fatalf("invoice list must show the invoice without its foreign links: %s", docs.Body)
	}
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)
	resp, page, _ := b.get("/billing")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "EVIL-1") || strings.Contains(page, "evil.example") {
		t.Fatalf("billing page (%d) must list the invoice without its foreign links:\n%s", resp.StatusCode, page)
	}
}

// offServer is a server with neither Stripe keys nor local mode.
func offServer(t *testing.T) *testServer {
	return newServer(t, func(c *web.Config) {
		c.Billing = &billing.Service{DB: c.Tenants.DB, PublicURL: "http://cic.test"}
	})
}

func TestBilling_WithNeitherKeysNorLocalModeNothingIsSoldAndNoEventBelieved(t *testing.T) {
	ts := offServer(t)
	a := ts.signup(t, "acme")
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/api/v1/purchases", map[string]any{"tier": "bundle-10k"}},
		{"/api/v1/seats/subscription", map[string]any{"quantity": 3}},
		{"/api/v1/billing/portal", nil},
	} {
		ans := ts.call(t, "POST", c.path, a.Token, c.body)
		if ans.Status != http.StatusServiceUnavailable || ans.errCode() != "billing_not_configured" {
			t.Fatalf("%s: %d %s, want 503 billing_not_configured", c.path, ans.Status, ans.Body)
		}
	}
	if n := ts.count(t, `SELECT count(*) FROM purchases WHERE tenant_id = $1`, a.TenantID) + ts.count(t, `SELECT count(*) FROM seat_checkouts WHERE tenant_id = $1`, a.TenantID); n != 0 {
		t.Fatalf("%d purchases or seat checkouts recorded with billing off", n)
	}
	// The webhook believes nothing: not the old constant, not an empty
	// secret, not a derived-looking one.
	ev := stripeEvent(t, "evt_sub", billing.EventSubscriptionCreated, map[string]any{"id": "sub_evil", "object": "subscription", "status": "active",
		"current_period_end": time.Now().AddDate(0, 1, 0).Unix(), "metadata": map[string]string{"tenant_id": a.TenantID.String()},
		"items": map[string]any{"object": "list", "data": []map[string]any{{"id": "si_evil", "object": "subscription_item", "quantity": 500}}}})
	for _, secret := range []string{oldPublicSecret, "", "whsec_local_00"} {
		if ans := ts.signedPost(t, ev, secret, time.Now()); ans.Status != http.StatusServiceUnavailable || ans.errCode() != "billing_not_configured" {
			t.Fatalf("event signed with %q: %d %s", secret, ans.Status, ans.Body)
		}
	}
	if got := ts.seatLimit(t, a); got != 2 {
		t.Fatalf("seat limit %d, want 2", got)
	}
	if n := ts.count(t, `SELECT count(*) FROM stripe_events`); n != 0 {
		t.Fatalf("%d events recorded with billing off", n)
	}

	// The page says so, in German and English, and offers no Buy button;
	// a posted Buy form answers 503 with the same words.
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)
	resp, page, token := b.get("/billing")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="billing-not-configured"`) ||
		!strings.Contains(page, "Zahlungen sind auf diesem Server nicht eingerichtet") || !strings.Contains(page, "Payments are not configured on this server") ||
		strings.Contains(page, `id="buy-bundle-10k"`) || strings.Contains(page, `id="seats-form"`) {
		t.Fatalf("billing page with billing off (%d):\n%s", resp.StatusCode, page)
	}
	resp, page = b.post("/billing/buy", url.Values{"_csrf": {token}, "tier": {"bundle-10k"}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, "nicht eingerichtet") || !strings.Contains(page, "not configured") {
		t.Fatalf("buy with billing off: %d\n%s", resp.StatusCode, page)
	}
}

// count runs a count(*) as the database owner (no RLS), for checks.
func (ts *testServer) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := ts.DB.Owner.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// Dunning on the pages: the owner sees the banner (German and English,
// with Stripe's pay link) on every page; an agent does not; paying
// removes it.
func TestBilling_FailedPaymentBannerForOwnersUntilPaid(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	ts.createUser(t, a, "agent@acme.example", "agent")
	meta := map[string]string{"tenant_id": a.TenantID.String()}
	sub := map[string]any{"id": "sub_1", "object": "subscription", "status": "active", "current_period_end": time.Now().AddDate(0, 1, 0).Unix(),
		"metadata": meta, "items": map[string]any{"object": "list", "data": []map[string]any{{"id": "si_1", "object": "subscription_item", "quantity": 3}}}}
	ts.signedPost(t, stripeEvent(t, "evt_c", billing.EventSubscriptionCreated, sub), ts.Billing.WebhookSecret, time.Now()).mustStatus(t, http.StatusOK)
	inv := func(status string) map[string]any {
		return map[string]any{"id": "in_1", "object": "invoice", "status": status, "subscription": "sub_1", "amount_due": 4500, "amount_paid": 4500,
			"currency": "eur", "created": time.Now().Unix(), "metadata": meta, "hosted_invoice_url": "https://invoice.stripe.com/i/in_1"}
	}
	failed := stripeEvent(t, "evt_f", billing.EventInvoicePaymentFailed, inv("open"))
	// Signed with the old public constant, the failure is refused too.
	ts.signedPost(t, failed, oldPublicSecret, time.Now()).mustStatus(t, http.StatusBadRequest)
	base := ts.listen(t)
	owner := newBrowserClient(t, base)
	owner.login("acme", "owner@acme.example", goodPassword)
	if _, page, _ := owner.get("/dashboard"); strings.Contains(page, `id="dunning-banner"`) {
		t.Fatal("banner before any failure")
	}
	ts.signedPost(t, failed, ts.Billing.WebhookSecret, time.Now()).mustStatus(t, http.StatusOK)
	for _, path := range []string{"/dashboard", "/billing", "/users"} {
		resp, page, _ := owner.get(path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="dunning-banner"`) || !strings.Contains(page, "Zahlung für Ihr Sitzplatz-Abonnement ist fehlgeschlagen") ||
			!strings.Contains(page, "payment for your seat subscription failed") || !strings.Contains(page, `href="https://invoice.stripe.com/i/in_1"`) {
			t.Fatalf("%s (%d) lacks the banner:\n%s", path, resp.StatusCode, page)
		}
	}
	agent := newBrowserClient(t, base)
	agent.login("acme", "agent@acme.example", goodPassword)
	if _, page, _ := agent.get("/dashboard"); strings.Contains(page, `id="dunning-banner"`) {
		t.Fatal("an agent sees the billing banner")
	}
	ts.signedPost(t, stripeEvent(t, "evt_p", billing.EventInvoicePaid, inv("paid")), ts.Billing.WebhookSecret, time.Now()).mustStatus(t, http.StatusOK)
	if _, page, _ := owner.get("/dashboard"); strings.Contains(page, `id="dunning-banner"`) {
		t.Fatal("banner after the invoice was paid")
	}
	sub2 := ts.call(t, "GET", "/api/v1/seats/subscription", a.Token, nil).mustStatus(t, http.StatusOK)
	if !strings.Contains(string(sub2.Body), `"status":"active"`) {
		t.Fatalf("subscription after payment %s", sub2.Body)
	}
}
