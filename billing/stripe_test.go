package billing

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// These drive the real stripe-go client against stripe-mock.

func TestCustomer_CreatedOnceWithIdempotencyKey(t *testing.T) {
	e := newEnv(t, true)
	a := e.signup(t, "acme")
	tasks := &Tasks{Billing: e.Billing}
	// The sign-up job, run twice (asynq retries), and a purchase's own
	// EnsureCustomer: one customer.
	if err := tasks.HandleCreateCustomer(ctx(t), NewCreateCustomerTask(a.TenantID)); err != nil {
		t.Fatal(err)
	}
	if err := tasks.HandleCreateCustomer(ctx(t), NewCreateCustomerTask(a.TenantID)); err != nil {
		t.Fatal(err)
	}
	id, err := e.Billing.EnsureCustomer(ctx(t), a.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "cus_") {
		t.Fatalf("customer id %q", id)
	}
	posts := e.Calls.to("POST", "/v1/customers")
	if len(posts) != 1 {
		t.Fatalf("%d customer creations sent to Stripe, want 1", len(posts))
	}
	if got, want := posts[0].IdempotencyKey, "cic:customer:"+a.TenantID.String(); got != want {
		t.Fatalf("idempotency key %q, want %q", got, want)
	}
	if posts[0].Form.Get("metadata[tenant_id]") != a.TenantID.String() {
		t.Fatalf("customer metadata: %v", posts[0].Form)
	}
	if n := e.count(t, `SELECT count(*) FROM tenants WHERE tenant_id = $1 AND stripe_customer_id = $2`, a.TenantID, id); n != 1 {
		t.Fatal("customer id not stored on the tenant")
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'billing.customer_created'`, a.TenantID); n != 1 {
		t.Fatalf("%d audit entries for the customer, want 1", n)
	}
}

func TestCheckout_BundleSessionIsCreatedAndNothingCreditedYet(t *testing.T) {
	e := newEnv(t, true)
	a := e.signup(t, "acme")
	p, err := e.Billing.BuyBundle(ctx(t), a, "bundle-100k")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.CheckoutURL, "https://checkout.stripe.com/") || p.Status != "open" || p.Mode != ModeStripe {
		t.Fatalf("purchase %+v", p)
	}
	if p.Contacts != 100000 || p.PriceMinor != 350000 || p.Currency != "EUR" {
		t.Fatalf("priced %+v", p)
	}
	posts := e.Calls.to("POST", "/v1/checkout/sessions")
	if len(posts) != 1 {
		t.Fatalf("%d checkout sessions, want 1", len(posts))
	}
	f := posts[0].Form
	if f.Get("mode") != "payment" || f.Get("metadata[purchase_id]") != p.ID.String() || f.Get("metadata[tenant_id]") != a.TenantID.String() ||
		f.Get("payment_intent_data[setup_future_usage]") != "off_session" || !strings.HasPrefix(f.Get("customer"), "cus_") {
		t.Fatalf("checkout session params: %v", f)
	}
	if f.Get("line_items[0][price_data][unit_amount]") != "350000" || f.Get("line_items[0][price_data][currency]") != "eur" {
		t.Fatalf("line item: %v", f)
	}
	if posts[0].IdempotencyKey != "cic:checkout:"+p.ID.String() {
		t.Fatalf("idempotency key %q", posts[0].IdempotencyKey)
	}
	if n := e.count(t, `SELECT count(*) FROM bundles WHERE tenant_id = $1 AND source = 'purchase'`, a.TenantID); n != 0 {
		t.Fatalf("%d bundles credited before any webhook", n)
	}
	// An unknown tier is the client's mistake.
	if _, err := e.Billing.BuyBundle(ctx(t), a, "bundle-7"); !isKind(err, "unknown_tier") {
		t.Fatalf("unknown tier: %v", err)
	}
}

func TestCatalog_SyncCreatesProductsAndPricesOnce(t *testing.T) {
	e := newEnv(t, true)
	n, err := e.Billing.SyncCatalog(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	// 3 products + 9 tier prices + 3 seat prices.
	if n != 15 {
		t.Fatalf("created %d, want 15", n)
	}
	if c := e.count(t, `SELECT count(*) FROM catalog_prices WHERE stripe_price_id IS NULL`); c != 0 {
		t.Fatalf("%d prices left unsynced", c)
	}
	before := len(e.Calls.to("POST", "/v1/"))
	if n, err := e.Billing.SyncCatalog(ctx(t)); err != nil || n != 0 {
		t.Fatalf("second sync: %d, %v", n, err)
	}
	if after := len(e.Calls.to("POST", "/v1/")); after != before {
		t.Fatalf("second sync sent %d creates", after-before)
	}
	seatPrices := 0
	for _, c := range e.Calls.to("POST", "/v1/prices") {
		if c.Form.Get("recurring[interval]") == "month" {
			seatPrices++
		}
	}
	if seatPrices != 3 {
		t.Fatalf("%d monthly seat prices, want 3", seatPrices)
	}
	// A new amount forgets the Stripe price; the next sync makes one.
	if _, err := e.Billing.PutTier(ctx(t), CatalogTier{ID: "bundle-10k", Name: "10,000 contacts", Contacts: 10000, ValidityMonths: 12, Active: true,
		Prices: map[string]int64{"EUR": 45000, "USD": 53000, "GBP": 42000}}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Billing.SyncCatalog(ctx(t)); err != nil || n != 1 {
		t.Fatalf("sync after a price change: %d, %v", n, err)
	}
}

func TestSeats_FirstTimeOpensSubscriptionCheckoutThenUpdatesQuantity(t *testing.T) {
	e := newEnv(t, true)
	a := e.signup(t, "acme")
	ch, err := e.Billing.ChangeSeats(ctx(t), a, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ch.CheckoutURL, "https://checkout.stripe.com/") {
		t.Fatalf("change %+v", ch)
	}
	posts := e.Calls.to("POST", "/v1/checkout/sessions")
	if len(posts) != 1 || posts[0].Form.Get("mode") != "subscription" || posts[0].Form.Get("line_items[0][quantity]") != "5" ||
		posts[0].Form.Get("line_items[0][price_data][recurring][interval]") != "month" || posts[0].Form.Get("subscription_data[metadata][tenant_id]") != a.TenantID.String() {
		t.Fatalf("seat checkout: %+v", posts)
	}
	if e.seatLimit(t, a.TenantID) != 2 {
		t.Fatal("the seat limit moved before Stripe confirmed")
	}
	// Stripe confirms: the subscription exists with 5 seats.
	e.deliver(t, event(t, "evt_sub_1", EventSubscriptionUpdated, time.Now(), subEvent(a.TenantID, "sub_a", "active", 5, time.Now().AddDate(0, 1, 0))))
	if got := e.seatLimit(t, a.TenantID); got != 5 {
		t.Fatalf("seat limit %d, want 5 (the subscription replaces the trial's 2)", got)
	}

	ch, err = e.Billing.ChangeSeats(ctx(t), a, 7, "")
	if err != nil {
		t.Fatal(err)
	}
	if ch.CheckoutURL != "" || ch.Subscription == nil || ch.Quantity != 7 {
		t.Fatalf("change %+v", ch)
	}
	ups := e.Calls.to("POST", "/v1/subscriptions/sub_a")
	if len(ups) != 1 || ups[0].Form.Get("items[0][id]") != "si_sub_a" || ups[0].Form.Get("items[0][quantity]") != "7" || ups[0].IdempotencyKey == "" {
		t.Fatalf("subscription update: %+v", ups)
	}
	if e.seatLimit(t, a.TenantID) != 5 {
		t.Fatal("the seat limit moved before Stripe confirmed the new quantity")
	}
	e.deliver(t, event(t, "evt_sub_2", EventSubscriptionUpdated, time.Now().Add(time.Second), subEvent(a.TenantID, "sub_a", "active", 7, time.Now().AddDate(0, 1, 0))))
	if got := e.seatLimit(t, a.TenantID); got != 7 {
		t.Fatalf("seat limit %d, want 7", got)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'billing.seats_change_requested'`, a.TenantID); n != 1 {
		t.Fatalf("%d audit entries for the seat change", n)
	}
	if _, err := e.Billing.ChangeSeats(ctx(t), a, 0, ""); !isKind(err, "invalid_quantity") {
		t.Fatalf("0 seats: %v", err)
	}
}

func TestReconcile_RecordsEachDifferenceOnce(t *testing.T) {
	e := newEnv(t, true)
	a := e.signup(t, "acme")
	p, err := e.Billing.BuyBundle(ctx(t), a, "bundle-10k")
	if err != nil {
		t.Fatal(err)
	}
	var session string
	if err := e.DB.Owner.QueryRow(ctx(t), `SELECT checkout_session_id FROM purchases WHERE id = $1`, p.ID).Scan(&session); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, event(t, "evt_paid", EventCheckoutCompleted, time.Now(), paidSession(a.TenantID, p, session)))
	// stripe-mock's session fixture is not this purchase's amount: that is
	// a difference to report.
	fs, err := e.Billing.Reconcile(ctx(t), a.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 || fs[0].Kind != "purchase" || fs[0].Ref != p.ID.String() {
		t.Fatalf("findings %+v", fs)
	}
	again, err := e.Billing.Reconcile(ctx(t), a.TenantID)
	if err != nil || len(again) != 0 {
		t.Fatalf("second run found %d new (%v), want 0", len(again), err)
	}
	all, err := e.Billing.ListFindings(ctx(t), 50)
	if err != nil || len(all) != len(fs) {
		t.Fatalf("listed %d findings (%v), want %d", len(all), err, len(fs))
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'billing.reconcile_mismatch'`, a.TenantID); n != len(fs) {
		t.Fatalf("%d audit entries, want %d", n, len(fs))
	}
	_ = uuid.Nil
}

func isKind(err error, code string) bool {
	e, ok := asError(err)
	return ok && e.Code == code
}

// The positive control of reconciliation: a purchase and a top-up that
// match what Stripe holds yield no finding; changing one number of
// Stripe's answer yields exactly the finding for it.
func TestReconcile_MatchingLedgerYieldsNoFinding(t *testing.T) {
	e := newEnv(t, true)
	a := e.signup(t, "acme")
	e.autoTopup(t, a)
	e.Calls.answerWith(func(method, path string, obj map[string]any) {
		if strings.HasPrefix(path, "/v1/payment_intents") {
			obj["status"], obj["amount"], obj["currency"] = "succeeded", 2000, "eur"
		}
	})
	if _, err := e.Billing.ProcessTopups(ctx(t), a.TenantID); err != nil {
		t.Fatal(err)
	}
	req, pi, _ := e.topupCharge(t, a.TenantID)
	e.deliver(t, event(t, "evt_pi", EventPaymentSucceeded, time.Now(), piEvent(a.TenantID, req, pi, "succeeded", 2000, "eur")))
	if n := e.topupBundles(t, a.TenantID); n != 1 {
		t.Fatalf("%d top-up bundles", n)
	}
	p, err := e.Billing.BuyBundle(ctx(t), a, "bundle-10k")
	if err != nil {
		t.Fatal(err)
	}
	var session string
	if err := e.DB.Owner.QueryRow(ctx(t), `SELECT checkout_session_id FROM purchases WHERE id = $1`, p.ID).Scan(&session); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, event(t, "evt_paid", EventCheckoutCompleted, time.Now(), paidSession(a.TenantID, p, session)))
	// Stripe holds what the ledger says.
	sessionAmount := p.PriceMinor
	e.Calls.answerWith(func(method, path string, obj map[string]any) {
		switch {
		case strings.HasPrefix(path, "/v1/checkout/sessions/"):
			obj["payment_status"], obj["amount_total"], obj["currency"] = "paid", sessionAmount, "eur"
		case strings.HasPrefix(path, "/v1/payment_intents/"):
			obj["status"], obj["amount"], obj["currency"] = "succeeded", 2000, "eur"
		}
	})
	fs, err := e.Billing.Reconcile(ctx(t), a.TenantID)
	if err != nil || len(fs) != 0 {
		t.Fatalf("matching ledger: findings %+v, %v; want none", fs, err)
	}
	if n := e.count(t, `SELECT count(*) FROM reconcile_findings WHERE tenant_id = $1`, a.TenantID); n != 0 {
		t.Fatalf("%d findings recorded", n)
	}
	// The control can fail: one cent off on the session is found.
	sessionAmount = p.PriceMinor - 1
	fs, err = e.Billing.Reconcile(ctx(t), a.TenantID)
	if err != nil || len(fs) != 1 || fs[0].Kind != "purchase" || fs[0].Ref != p.ID.String() {
		t.Fatalf("one cent off: findings %+v, %v", fs, err)
	}
	// And a top-up Stripe does not call succeeded is found.
	e.Calls.answerWith(nil)
	fs, err = e.Billing.Reconcile(ctx(t), a.TenantID)
	topupFound := false
	for _, f := range fs {
		topupFound = topupFound || (f.Kind == "topup" && f.Ref != "")
	}
	if err != nil || !topupFound {
		t.Fatalf("top-up not succeeded at Stripe: findings %+v, %v", fs, err)
	}
}
