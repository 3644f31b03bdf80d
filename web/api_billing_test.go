package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/tenant"
)

func TestBilling_CatalogIsCheaperPerContactTheBiggerTheBundle(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	// Every role may read the catalogue.
	ans := ts.call(t, "GET", "/api/v1/catalog", agent.Token, nil).mustStatus(t, http.StatusOK)
	var o billing.Offer
	if err := json.Unmarshal(ans.Body, &o); err != nil {
		t.Fatal(err)
	}
	if o.Currency != "EUR" || o.Mode != "local" || o.OveragePriceMinor != 5 || o.Seat == nil || len(o.Tiers) != 3 {
		t.Fatalf("offer %s", ans.Body)
	}
	for i := 1; i < len(o.Tiers); i++ {
		prev, cur := o.Tiers[i-1], o.Tiers[i]
		// price/contacts strictly decreasing, compared exactly: p1*c2 > p2*c1.
		if cur.Contacts <= prev.Contacts || prev.PriceMinor*cur.Contacts <= cur.PriceMinor*prev.Contacts {
			t.Fatalf("%s is not cheaper per contact than %s", cur.ID, prev.ID)
		}
	}
	big := o.Tiers[2]
	if big.Contacts != 1_000_000 || big.ValidityMonths != 12 || big.PriceMinor >= 2_000_000 || big.PricePerContactMinor != "1.9" {
		t.Fatalf("the million: %+v", big)
	}
}

// signedPost posts an event to the webhook the way Stripe does.
func (ts *testServer) signedPost(t *testing.T, payload []byte, secret string, at time.Time) answer {
	t.Helper()
	req := jsonRequest(t, "POST", "/webhooks/stripe", string(payload))
	req.Header.Set("Stripe-Signature", webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header)
	return ts.do(t, req)
}

func (ts *testServer) remaining(t *testing.T, c company) float64 {
	t.Helper()
	b := ts.call(t, "GET", "/api/v1/usage/balance", c.Token, nil).mustStatus(t, http.StatusOK)
	n, _ := b.JSON["total_remaining"].(float64)
	return n
}

func TestBilling_LocalCheckoutCreditsThroughTheSignedWebhookOnce(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	a := ts.signup(t, "acme")
	p := ts.call(t, "POST", "/api/v1/purchases", a.Token, map[string]any{"tier": "bundle-10k"}).mustStatus(t, http.StatusCreated)
	id := p.str("id")
	if p.str("checkout_url") != "http://cic.test/billing/local-checkout/"+id || p.str("status") != "open" {
		t.Fatalf("purchase %s", p.Body)
	}
	if got := ts.remaining(t, a); got != 250 {
		t.Fatalf("remaining %v before paying, want the trial's 250", got)
	}
	owner := tenant.Actor{TenantID: a.TenantID, UserID: a.UserID, Role: "owner"}
	// Pay twice: the second event names the same session and credits nothing.
	for range 2 {
		if err := ts.Billing.LocalPay(context.Background(), owner, uuid.MustParse(id), base); err != nil {
			t.Fatal(err)
		}
	}
	if got := ts.remaining(t, a); got != 10250 {
		t.Fatalf("remaining %v, want 10250", got)
	}
	got := ts.call(t, "GET", "/api/v1/purchases/"+id, a.Token, nil).mustStatus(t, http.StatusOK)
	if got.str("status") != "paid" || got.str("bundle_id") == "" {
		t.Fatalf("purchase after paying: %s", got.Body)
	}
	docs := ts.call(t, "GET", "/api/v1/billing/invoices", a.Token, nil).mustStatus(t, http.StatusOK)
	if !bytes.Contains(docs.Body, []byte(`"kind":"receipt"`)) || !bytes.Contains(docs.Body, []byte(`"amount_minor":49000`)) {
		t.Fatalf("receipts: %s", docs.Body)
	}
	audit := ts.call(t, "GET", "/api/v1/audit", a.Token, nil).mustStatus(t, http.StatusOK)
	for _, action := range []string{"billing.checkout_started", "billing.local_payment", "billing.bundle_credited"} {
		if !bytes.Contains(audit.Body, []byte(action)) {
			t.Errorf("audit log lacks %s", action)
		}
	}
}

func TestBilling_LocalSeatSubscriptionFollowsTheWebhook(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	a := ts.signup(t, "acme")
	owner := tenant.Actor{TenantID: a.TenantID, UserID: a.UserID, Role: "owner"}
	ch := ts.call(t, "POST", "/api/v1/seats/subscription", a.Token, map[string]any{"quantity": 4}).mustStatus(t, http.StatusCreated)
	url := ch.str("checkout_url")
	if !strings.HasPrefix(url, "http://cic.test/billing/local-checkout/") {
		t.Fatalf("seat checkout %s", ch.Body)
	}
	if err := ts.Billing.LocalPay(context.Background(), owner, uuid.MustParse(url[len(url)-36:]), base); err != nil {
		t.Fatal(err)
	}
	sub := ts.call(t, "GET", "/api/v1/seats/subscription", a.Token, nil).mustStatus(t, http.StatusOK)
	if !bytes.Contains(sub.Body, []byte(`"quantity":4`)) {
		t.Fatalf("subscription %s", sub.Body)
	}
	// With a subscription, a change is an update, confirmed by the
	// (local) webhook before the answer: over real HTTP, as the local
	// checkout posts to the address the request came in on.
	raw, _ := json.Marshal(map[string]any{"quantity": 9})
	req, _ := http.NewRequest("POST", base+"/api/v1/seats/subscription", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("seat change: %d, want 202", resp.StatusCode)
	}
	sub = ts.call(t, "GET", "/api/v1/seats/subscription", a.Token, nil).mustStatus(t, http.StatusOK)
	if !bytes.Contains(sub.Body, []byte(`"quantity":9`)) {
		t.Fatalf("subscription after the change %s", sub.Body)
	}
	var limit int
	if err := ts.DB.Owner.QueryRow(context.Background(), `SELECT sum(seats) FROM seat_grants WHERE tenant_id = $1 AND valid_from <= now() AND valid_until > now()`,
		a.TenantID).Scan(&limit); err != nil || limit != 9 {
		t.Fatalf("seat limit %d (%v), want 9", limit, err)
	}
}

func TestBilling_WebhookRefusesBadSignaturesWith400(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	p := ts.call(t, "POST", "/api/v1/purchases", a.Token, map[string]any{"tier": "bundle-10k"}).mustStatus(t, http.StatusCreated)
	payload, _ := json.Marshal(map[string]any{"id": "evt_1", "object": "event", "type": "checkout.session.completed", "created": time.Now().Unix(),
		"data": map[string]any{"object": map[string]any{"id": "cs_local_" + strings.ReplaceAll(p.str("id"), "-", ""), "object": "checkout.session", "mode": "payment", "payment_status": "paid",
			"metadata": map[string]string{"tenant_id": a.TenantID.String(), "purchase_id": p.str("id")}}}})
	ts.signedPost(t, payload, "whsec_wrong", time.Now()).mustStatus(t, http.StatusBadRequest)
	ts.signedPost(t, payload, ts.Billing.WebhookSecret, time.Now().Add(-time.Hour)).mustStatus(t, http.StatusBadRequest)
	unsigned := jsonRequest(t, "POST", "/webhooks/stripe", string(payload))
	if ans := ts.do(t, unsigned).mustStatus(t, http.StatusBadRequest); ans.errCode() != "bad_signature" {
		t.Fatalf("unsigned: %s", ans.Body)
	}
	ts.signedPost(t, []byte("not json"), ts.Billing.WebhookSecret, time.Now()).mustStatus(t, http.StatusBadRequest)
	if got := ts.remaining(t, a); got != 250 {
		t.Fatalf("remaining %v after refused events, want 250", got)
	}
	// The genuine event is applied.
	ts.signedPost(t, payload, ts.Billing.WebhookSecret, time.Now()).mustStatus(t, http.StatusOK)
	if got := ts.remaining(t, a); got != 10250 {
		t.Fatalf("remaining %v, want 10250", got)
	}
}

func TestIsolation_BillingIsPerTenant(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	p := ts.call(t, "POST", "/api/v1/purchases", a.Token, map[string]any{"tier": "bundle-10k"}).mustStatus(t, http.StatusCreated)
	owner := tenant.Actor{TenantID: a.TenantID, UserID: a.UserID, Role: "owner"}
	if err := ts.Billing.LocalPay(context.Background(), owner, uuid.MustParse(p.str("id")), base); err != nil {
		t.Fatal(err)
	}
	ch := ts.call(t, "POST", "/api/v1/seats/subscription", a.Token, map[string]any{"quantity": 3}).mustStatus(t, http.StatusCreated)
	url := ch.str("checkout_url")
	if err := ts.Billing.LocalPay(context.Background(), owner, uuid.MustParse(url[len(url)-36:]), base); err != nil {
		t.Fatal(err)
	}
	assertIsolated(t, ts, a, b, "/api/v1/purchases/"+p.str("id"), []route{{"GET", "/api/v1/purchases/:id", nil}})
	// B's lists show none of A's purchases, receipts or subscription.
	for _, path := range []string{"/api/v1/purchases", "/api/v1/billing/invoices", "/api/v1/seats/subscription"} {
		ans := ts.call(t, "GET", path, b.Token, nil).mustStatus(t, http.StatusOK)
		if bytes.Contains(ans.Body, []byte(p.str("id"))) || bytes.Contains(ans.Body, []byte("sub_local")) || bytes.Contains(ans.Body, []byte("49000")) {
			t.Fatalf("tenant B's %s shows A's billing: %s", path, ans.Body)
		}
	}
	// B cannot pay A's checkouts, through the page or the API.
	bActor := tenant.Actor{TenantID: b.TenantID, UserID: b.UserID, Role: "owner"}
	if err := ts.Billing.LocalPay(context.Background(), bActor, uuid.MustParse(url[len(url)-36:]), base); err == nil {
		t.Fatal("tenant B paid A's seat checkout")
	}
	// B changing seats makes B's own checkout; A keeps 3 seats.
	ts.call(t, "POST", "/api/v1/seats/subscription", b.Token, map[string]any{"quantity": 50}).mustStatus(t, http.StatusCreated)
	sub := ts.call(t, "GET", "/api/v1/seats/subscription", a.Token, nil).mustStatus(t, http.StatusOK)
	if !bytes.Contains(sub.Body, []byte(`"quantity":3`)) {
		t.Fatalf("A's subscription changed: %s", sub.Body)
	}
	// A signed event naming A cannot be smuggled in as B: the metadata's
	// tenant decides, and B's purchase ids do not exist in A.
	if got := ts.remaining(t, b); got != 250 {
		t.Fatalf("B's remaining %v, want its trial's 250", got)
	}
}

func TestBadInput_BillingAnswers4xx(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	fin := ts.createUser(t, a, "fin@acme.example", "finance")
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		want                      int
		code                      string
	}{
		{"no tier", "POST", "/api/v1/purchases", a.Token, map[string]any{}, 400, "missing_tier"},
		{"unknown tier", "POST", "/api/v1/purchases", a.Token, map[string]any{"tier": "bundle-7"}, 400, "unknown_tier"},
		{"tier not a string", "POST", "/api/v1/purchases", a.Token, `{"tier": 10000}`, 400, "invalid_json"},
		{"extra field", "POST", "/api/v1/purchases", a.Token, `{"tier": "bundle-10k", "price": 1}`, 400, "invalid_json"},
		{"agent buys", "POST", "/api/v1/purchases", agent.Token, map[string]any{"tier": "bundle-10k"}, 403, "forbidden"},
		{"finance buys", "POST", "/api/v1/purchases", fin.Token, map[string]any{"tier": "bundle-10k"}, 403, "forbidden"},
		{"agent lists purchases", "GET", "/api/v1/purchases", agent.Token, nil, 403, "forbidden"},
		{"no token", "GET", "/api/v1/catalog", "", nil, 401, "unauthenticated"},
		{"purchase id not a uuid", "GET", "/api/v1/purchases/123", a.Token, nil, 404, "not_found"},
		{"unknown purchase", "GET", "/api/v1/purchases/" + uuid.NewString(), a.Token, nil, 404, "not_found"},
		{"zero seats", "POST", "/api/v1/seats/subscription", a.Token, map[string]any{"quantity": 0}, 400, "invalid_quantity"},
		{"negative seats", "POST", "/api/v1/seats/subscription", a.Token, map[string]any{"quantity": -3}, 400, "invalid_quantity"},
		{"too many seats", "POST", "/api/v1/seats/subscription", a.Token, map[string]any{"quantity": 10001}, 400, "invalid_quantity"},
		{"seats not a number", "POST", "/api/v1/seats/subscription", a.Token, `{"quantity": "five"}`, 400, "invalid_json"},
		{"fractional seats", "POST", "/api/v1/seats/subscription", a.Token, `{"quantity": 2.5}`, 400, "invalid_json"},
		{"agent changes seats", "POST", "/api/v1/seats/subscription", agent.Token, map[string]any{"quantity": 3}, 403, "forbidden"},
		{"portal without stripe", "POST", "/api/v1/billing/portal", a.Token, nil, 409, "portal_unavailable"},
		{"webhook without signature", "POST", "/webhooks/stripe", "", `{"id":"evt_1"}`, 400, "bad_signature"},
		{"operator without token", "GET", "/api/v1/operator/catalog", "", nil, 401, "unauthenticated"},
		{"operator with a user token", "GET", "/api/v1/operator/catalog", a.Token, nil, 401, "unauthenticated"},
		{"operator bad tier", "PUT", "/api/v1/operator/catalog/tiers/Bad%20Id", ts.operatorToken(t), map[string]any{"name": "x", "contacts": 1, "validity_months": 12, "prices": map[string]int{"EUR": 1}}, 400, "invalid_tier_id"},
		{"operator zero price", "PUT", "/api/v1/operator/catalog/tiers/bundle-1", ts.operatorToken(t), map[string]any{"name": "x", "contacts": 1, "validity_months": 12, "prices": map[string]int{"EUR": 0}}, 400, "invalid_price"},
		{"operator bad currency", "PUT", "/api/v1/operator/catalog/seat-prices/EURO", ts.operatorToken(t), map[string]any{"price_minor": 100}, 400, "invalid_currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ans := ts.call(t, tc.method, tc.path, tc.token, tc.body).mustStatus(t, tc.want)
			if ans.errCode() != tc.code {
				t.Fatalf("code %q, want %q: %s", ans.errCode(), tc.code, ans.Body)
			}
		})
	}
	// Finance reads billing.
	ts.call(t, "GET", "/api/v1/purchases", fin.Token, nil).mustStatus(t, http.StatusOK)
	ts.call(t, "GET", "/api/v1/billing/invoices", fin.Token, nil).mustStatus(t, http.StatusOK)
}

func TestOperator_EditsTheCatalogue(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	ts.call(t, "PUT", "/api/v1/operator/catalog/tiers/bundle-50k", ts.operatorToken(t), map[string]any{
		"name": "50,000 contacts", "contacts": 50000, "validity_months": 6, "active": true, "prices": map[string]int{"EUR": 200000, "usd": 215000},
	}).mustStatus(t, http.StatusOK)
	ts.call(t, "PUT", "/api/v1/operator/catalog/seat-prices/EUR", ts.operatorToken(t), map[string]any{"price_minor": 3500}).mustStatus(t, http.StatusOK)
	cat := ts.call(t, "GET", "/api/v1/catalog", a.Token, nil).mustStatus(t, http.StatusOK)
	if !bytes.Contains(cat.Body, []byte(`"id":"bundle-50k"`)) || !bytes.Contains(cat.Body, []byte(`"price_minor":3500`)) {
		t.Fatalf("catalogue after the edit: %s", cat.Body)
	}
	// Deactivated: no longer offered, no longer sold.
	ts.call(t, "PUT", "/api/v1/operator/catalog/tiers/bundle-50k", ts.operatorToken(t), map[string]any{
		"name": "50,000 contacts", "contacts": 50000, "validity_months": 6, "active": false, "prices": map[string]int{"EUR": 200000},
	}).mustStatus(t, http.StatusOK)
	ts.call(t, "POST", "/api/v1/purchases", a.Token, map[string]any{"tier": "bundle-50k"}).mustStatus(t, http.StatusBadRequest)
	full := ts.call(t, "GET", "/api/v1/operator/catalog", ts.operatorToken(t), nil).mustStatus(t, http.StatusOK)
	if !bytes.Contains(full.Body, []byte(`"active":false`)) {
		t.Fatalf("operator catalogue: %s", full.Body)
	}
	ts.call(t, "GET", "/api/v1/operator/tasks", ts.operatorToken(t), nil).mustStatus(t, http.StatusOK)
	ts.call(t, "GET", "/api/v1/operator/findings", ts.operatorToken(t), nil).mustStatus(t, http.StatusOK)
}
