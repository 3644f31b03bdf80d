package billing

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
)

func TestWebhook_CheckoutCompletedCreditsOneBundleUnderRepeatedConcurrentDelivery(t *testing.T) {
	e := newEnv(t, false)
	a := e.signup(t, "acme")
	p, err := e.Billing.BuyBundle(ctx(t), a, "bundle-10k")
	if err != nil {
		t.Fatal(err)
	}
	session := "cs_local_" + hexID(p.ID)
	payload := event(t, "evt_1", EventCheckoutCompleted, time.Now(), paidSession(a.TenantID, p, session))

	// The same event three times at once, then again in turn, and the same
	// session under another event id (Stripe's retry of a failed delivery
	// keeps the id; a replay or a second endpoint may not).
	var wg sync.WaitGroup
	results := make([]WebhookResult, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.Billing.HandleWebhook(context.Background(), payload, sign(payload, testSecret, time.Now()))
		}()
	}
	wg.Wait()
	applied := 0
	for i := range 3 {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		if results[i] == Applied {
			applied++
		}
	}
	if applied != 1 {
		t.Fatalf("results %v: want exactly one applied", results)
	}
	if r := e.deliver(t, payload); r != Duplicate {
		t.Fatalf("fourth delivery: %s, want duplicate", r)
	}
	if r := e.deliver(t, event(t, "evt_2", EventCheckoutCompleted, time.Now(), paidSession(a.TenantID, p, session))); r != Applied {
		t.Fatalf("other event id: %s", r)
	}
	if n := e.count(t, `SELECT count(*) FROM bundles WHERE tenant_id = $1 AND source = 'purchase' AND contacts = 10000 AND price_minor = 49000`, a.TenantID); n != 1 {
		t.Fatalf("%d bundles credited, want 1", n)
	}
	got, err := e.Billing.GetPurchase(ctx(t), a, p.ID)
	if err != nil || got.Status != "paid" || got.BundleID == nil || got.PaidAt == nil {
		t.Fatalf("purchase %+v, %v", got, err)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'billing.bundle_credited'`, a.TenantID); n != 1 {
		t.Fatalf("%d bundle_credited audit entries, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM stripe_events WHERE tenant_id = $1`, a.TenantID); n != 2 {
		t.Fatalf("%d events recorded, want 2", n)
	}
}

func TestWebhook_BadOrStaleSignatureIsRefusedAndCreditsNothing(t *testing.T) {
	e := newEnv(t, false)
	a := e.signup(t, "acme")
	p, err := e.Billing.BuyBundle(ctx(t), a, "bundle-10k")
	if err != nil {
		t.Fatal(err)
	}
	payload := event(t, "evt_1", EventCheckoutCompleted, time.Now(), paidSession(a.TenantID, p, "cs_local_"+hexID(p.ID)))
	tampered := append([]byte{}, payload...)
	tampered[len(tampered)-3] = ' '
	for _, tc := range []struct {
		name, header string
		body         []byte
	}{
		{"wrong secret", sign(payload, "whsec_someone_else", time.Now()), payload},
		{"stale", sign(payload, testSecret, time.Now().Add(-10*time.Minute)), payload},
		{"from the future", sign(payload, testSecret, time.Now().Add(10*time.Minute)), payload},
		{"body changed after signing", sign(payload, testSecret, time.Now()), tampered},
		{"no header", "", payload},
		{"garbage header", "t=abc,v1=zz", payload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Billing.HandleWebhook(ctx(t), tc.body, tc.header)
			if cic.ErrorKind(err) != cic.EINVALID {
				t.Fatalf("err = %v, want an invalid (400) error", err)
			}
		})
	}
	if n := e.count(t, `SELECT count(*) FROM bundles WHERE tenant_id = $1 AND source = 'purchase'`, a.TenantID); n != 0 {
		t.Fatalf("%d bundles credited by refused events", n)
	}
	if n := e.count(t, `SELECT count(*) FROM stripe_events`); n != 0 {
		t.Fatalf("%d refused events recorded", n)
	}
	// The genuine one still works afterwards.
	if r := e.deliver(t, payload); r != Applied {
		t.Fatalf("genuine event: %s", r)
	}
}

func TestWebhook_SubscriptionEventsInAnyOrderEndInTheRightState(t *testing.T) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := t0.AddDate(0, 1, 0)
	type ev struct {
		id, typ string
		at      time.Time
		status  string
		qty     int
	}
	created := ev{"evt_c", EventSubscriptionCreated, t0, "active", 3}
	up5 := ev{"evt_u5", EventSubscriptionUpdated, t0.Add(time.Minute), "active", 5}
	up8 := ev{"evt_u8", EventSubscriptionUpdated, t0.Add(2 * time.Minute), "active", 8}
	deleted := ev{"evt_d", EventSubscriptionDeleted, t0.Add(3 * time.Minute), "canceled", 8}
	for _, tc := range []struct {
		name       string
		order      []ev
		wantStatus string
		wantQty    int
		wantSeats  int
	}{
		{"in order", []ev{created, up5, up8}, "active", 8, 8},
		{"reversed", []ev{up8, up5, created}, "active", 8, 8},
		{"newest first", []ev{up8, created, up5}, "active", 8, 8},
		{"deleted last", []ev{created, up5, deleted}, "canceled", 8, 0},
		{"deleted first", []ev{deleted, up8, created}, "canceled", 8, 2},
		{"deleted in the middle", []ev{up5, deleted, up8}, "canceled", 8, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, false)
			a := e.signup(t, "acme")
			for _, x := range tc.order {
				e.deliver(t, event(t, x.id, x.typ, x.at, subEvent(a.TenantID, "sub_1", x.status, x.qty, end)))
			}
			var status string
			var qty int
			if err := e.DB.Owner.QueryRow(ctx(t), `SELECT status, quantity FROM subscriptions WHERE tenant_id = $1 AND id = 'sub_1'`, a.TenantID).
				Scan(&status, &qty); err != nil {
				t.Fatal(err)
			}
			if status != tc.wantStatus || qty != tc.wantQty {
				t.Fatalf("subscription %s with %d, want %s with %d", status, qty, tc.wantStatus, tc.wantQty)
			}
			// Trial seats end when a subscription first grants seats; a
			// subscription that was never live leaves them.
			if got := e.seatLimit(t, a.TenantID); got != tc.wantSeats {
				t.Fatalf("seat limit %d, want %d", got, tc.wantSeats)
			}
		})
	}
}

func TestWebhook_CheckoutAndSubscriptionEventsInEitherOrder(t *testing.T) {
	for _, checkoutFirst := range []bool{true, false} {
		e := newEnv(t, false)
		a := e.signup(t, "acme")
		ch, err := e.Billing.ChangeSeats(ctx(t), a, 4, "")
		if err != nil {
			t.Fatal(err)
		}
		id := uuid.MustParse(ch.CheckoutURL[len(ch.CheckoutURL)-36:])
		sess := map[string]any{"id": "cs_local_" + hexID(id), "object": "checkout.session", "mode": "subscription", "status": "complete",
			"payment_status": "paid", "subscription": "sub_9",
			"metadata": map[string]string{"tenant_id": a.TenantID.String(), "seat_checkout_id": id.String(), "kind": "seats"}}
		now := time.Now()
		completed := event(t, "evt_cs", EventCheckoutCompleted, now, sess)
		// Stripe's own subscription event says 6 (the customer changed the
		// quantity on the checkout page) and is created a moment earlier.
		subCreated := event(t, "evt_sc", EventSubscriptionCreated, now.Add(-time.Second), subEvent(a.TenantID, "sub_9", "active", 6, now.AddDate(0, 1, 0)))
		if checkoutFirst {
			e.deliver(t, completed)
			e.deliver(t, subCreated)
		} else {
			e.deliver(t, subCreated)
			e.deliver(t, completed)
		}
		if got := e.seatLimit(t, a.TenantID); got != 6 {
			t.Fatalf("checkout first %v: seat limit %d, want Stripe's 6", checkoutFirst, got)
		}
		sub, err := e.Billing.GetSubscription(ctx(t), a)
		if err != nil || sub == nil || sub.Quantity != 6 {
			t.Fatalf("checkout first %v: subscription %+v, %v", checkoutFirst, sub, err)
		}
	}
}

func TestWebhook_InvoicePaidAndPaymentFailedAreRecorded(t *testing.T) {
	e := newEnv(t, false)
	a := e.signup(t, "acme")
	if _, err := e.DB.Owner.Exec(ctx(t), `UPDATE tenants SET stripe_customer_id = 'cus_acme' WHERE tenant_id = $1`, a.TenantID); err != nil {
		t.Fatal(err)
	}
	// An invoice names only the customer: the tenant is found by it.
	inv := map[string]any{"id": "in_1", "object": "invoice", "customer": "cus_acme", "number": "ACME-0001", "status": "paid",
		"amount_paid": 14500, "currency": "eur", "hosted_invoice_url": "https://invoice.stripe.com/i/1", "invoice_pdf": "https://pay.stripe.com/1.pdf",
		"created": time.Now().Unix(), "subscription": "sub_1"}
	e.deliver(t, event(t, "evt_in", EventInvoicePaid, time.Now(), inv))
	docs, err := e.Billing.ListDocuments(ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Kind != "invoice" || docs[0].AmountMinor != 14500 || docs[0].Currency != "EUR" || docs[0].PDFURL == "" {
		t.Fatalf("documents %+v", docs)
	}
	// Unknown customer: acknowledged, nothing recorded.
	inv["customer"] = "cus_stranger"
	if r := e.deliver(t, event(t, "evt_in2", EventInvoicePaid, time.Now(), inv)); r != Ignored {
		t.Fatalf("stranger's invoice: %s", r)
	}
	pi := map[string]any{"id": "pi_1", "object": "payment_intent", "customer": "cus_acme", "status": "requires_payment_method",
		"last_payment_error": map[string]any{"message": "Your card was declined."}, "metadata": map[string]string{"purchase_id": uuid.NewString()}}
	e.deliver(t, event(t, "evt_pf", EventPaymentFailed, time.Now(), pi))
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'billing.payment_failed' AND details->>'reason' = 'Your card was declined.'`, a.TenantID); n != 1 {
		t.Fatalf("%d payment_failed audit entries", n)
	}
	// An event type billing does not handle is acknowledged.
	if r := e.deliver(t, event(t, "evt_x", "customer.updated", time.Now(), map[string]any{"id": "cus_acme", "object": "customer"})); r != Ignored {
		t.Fatalf("unhandled type: %s", r)
	}
}
