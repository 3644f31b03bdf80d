package billing

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// mailbox is a Mailer that keeps what it is given.
type mailbox struct {
	mu   sync.Mutex
	msgs []metering.Message
}

func (m *mailbox) Send(_ context.Context, msg metering.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

func (m *mailbox) sent() []metering.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]metering.Message(nil), m.msgs...)
}

func invoiceEvent(tenantID uuid.UUID, id, sub, status string) map[string]any {
	return map[string]any{"id": id, "object": "invoice", "status": status, "subscription": sub, "number": "ACME-" + id,
		"amount_due": 14500, "amount_paid": 14500, "currency": "eur", "created": time.Now().Unix(), "attempt_count": 1,
		"hosted_invoice_url": "https://invoice.stripe.com/i/" + id, "metadata": map[string]string{"tenant_id": tenantID.String()}}
}

func (e *env) subStatus(t *testing.T, tenantID uuid.UUID, id string) (status string, since *time.Time) {
	t.Helper()
	if err := e.DB.Owner.QueryRow(ctx(t), `SELECT status, past_due_since FROM subscriptions WHERE tenant_id = $1 AND id = $2`, tenantID, id).
		Scan(&status, &since); err != nil {
		t.Fatal(err)
	}
	return status, since
}

func (e *env) audits(t *testing.T, tenantID uuid.UUID, action string) int {
	return e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2`, tenantID, action)
}

// invoice.payment_failed: past_due, seats kept through the grace, the
// owners told once (banner and e-mail), audited; after the grace the
// seats end (audited once); invoice.paid brings them back; an older
// failure arriving after that changes nothing.
func TestDunning_FailedInvoiceGraceThenRecoveryByInvoicePaid(t *testing.T) {
	e := newEnv(t, false)
	a := e.signup(t, "acme")
	agent, err := e.Tenants.CreateUser(ctx(t), a, tenant.NewUser{Email: "agent@acme.example", Name: "Agnes", Role: cic.RoleAgent, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e.deliver(t, event(t, "evt_c", EventSubscriptionCreated, now.Add(-9*24*time.Hour), subEvent(a.TenantID, "sub_1", "active", 5, now.AddDate(0, 1, 0))))
	if got := e.seatLimit(t, a.TenantID); got != 5 {
		t.Fatalf("seat limit %d, want 5", got)
	}
	box := &mailbox{}
	if n, err := e.Billing.NotifyDunning(ctx(t), a.TenantID, box, "http://cic.test"); err != nil || n != 0 {
		t.Fatalf("paid up: %d mails, %v", n, err)
	}

	// The renewal fails (yesterday, so the grace is still running).
	failedAt := now.Add(-24 * time.Hour)
	failed := event(t, "evt_f1", EventInvoicePaymentFailed, failedAt, invoiceEvent(a.TenantID, "in_1", "sub_1", "open"))
	if r := e.deliver(t, failed); r != Applied {
		t.Fatalf("payment failed: %s", r)
	}
	if r := e.deliver(t, failed); r != Duplicate {
		t.Fatalf("replay: %s", r)
	}
	status, since := e.subStatus(t, a.TenantID, "sub_1")
	if status != "past_due" || since == nil || !since.Equal(failedAt.Truncate(time.Second)) {
		t.Fatalf("subscription %s since %v, want past_due since %v", status, since, failedAt)
	}
	if got := e.seatLimit(t, a.TenantID); got != 5 {
		t.Fatalf("seat limit %d during the grace, want 5", got)
	}
	owner, err := e.Billing.Dunning(ctx(t), a)
	if err != nil || owner == nil || owner.PayURL != "https://invoice.stripe.com/i/in_1" || owner.SeatsUntil == nil ||
		!owner.SeatsUntil.Equal(since.Add(DunningGrace)) {
		t.Fatalf("owner's notice %+v, %v", owner, err)
	}
	if n, err := e.Billing.Dunning(ctx(t), tenant.Actor{TenantID: a.TenantID, UserID: agent.ID, Role: cic.RoleAgent}); err != nil || n != nil {
		t.Fatalf("agent's notice %+v, %v: agents do not see billing", n, err)
	}
	// Another tenant's owner sees nothing of it, and is not mailed.
	bravo := e.signup(t, "bravo")
	if n, err := e.Billing.Dunning(ctx(t), bravo); err != nil || n != nil {
		t.Fatalf("another tenant's notice %+v, %v", n, err)
	}
	if n, err := e.Billing.NotifyDunning(ctx(t), bravo.TenantID, box, ""); err != nil || n != 0 {
		t.Fatalf("another tenant mailed: %d, %v", n, err)
	}
	for range 2 {
		if _, err := e.Billing.NotifyDunning(ctx(t), a.TenantID, box, "http://cic.test"); err != nil {
			t.Fatal(err)
		}
	}
	msgs := box.sent()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0].Address != "owner@acme.example" ||
		!strings.Contains(msgs[0].Subject, "payment failed") || !strings.Contains(msgs[0].Body, "Zahlung") ||
		!strings.Contains(msgs[0].Body, "https://invoice.stripe.com/i/in_1") {
		t.Fatalf("mails %+v, want one to the owner", msgs)
	}
	if e.audits(t, a.TenantID, "billing.subscription_past_due") != 1 || e.audits(t, a.TenantID, "billing.invoice_payment_failed") != 1 ||
		e.audits(t, a.TenantID, "billing.dunning_mailed") != 1 {
		t.Fatal("dunning not audited once each")
	}

	// A second failure (Stripe's retry), older than the grace: the grace
	// still counts from the first failure... which it is now, for the
	// test, moved back beyond the grace.
	if _, err := e.DB.Owner.Exec(ctx(t), `UPDATE subscriptions SET past_due_since = now() - interval '8 days' WHERE tenant_id = $1`, a.TenantID); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, event(t, "evt_f2", EventInvoicePaymentFailed, now.Add(-time.Hour), invoiceEvent(a.TenantID, "in_1", "sub_1", "open")))
	if got := e.seatLimit(t, a.TenantID); got != 0 {
		t.Fatalf("seat limit %d after the grace, want 0", got)
	}
	if n, _ := e.Billing.Dunning(ctx(t), a); n == nil || n.SeatsUntil != nil {
		t.Fatalf("notice after the grace %+v", n)
	}
	for range 2 {
		if _, err := e.Billing.NotifyDunning(ctx(t), a.TenantID, box, ""); err != nil {
			t.Fatal(err)
		}
	}
	if e.audits(t, a.TenantID, "billing.dunning_seats_ended") != 1 || len(box.sent()) != 1 || e.audits(t, a.TenantID, "billing.subscription_past_due") != 1 {
		t.Fatal("the end of the seats is audited once; the episode is mailed once")
	}

	// Paid: seats back, banner gone, audited.
	e.deliver(t, event(t, "evt_p", EventInvoicePaid, now, invoiceEvent(a.TenantID, "in_1", "sub_1", "paid")))
	if status, since := e.subStatus(t, a.TenantID, "sub_1"); status != "active" || since != nil {
		t.Fatalf("after payment: %s since %v", status, since)
	}
	if got := e.seatLimit(t, a.TenantID); got != 5 {
		t.Fatalf("seat limit %d after payment, want 5", got)
	}
	if n, err := e.Billing.Dunning(ctx(t), a); err != nil || n != nil {
		t.Fatalf("notice after payment %+v, %v", n, err)
	}
	if e.audits(t, a.TenantID, "billing.subscription_recovered") != 1 {
		t.Fatal("recovery not audited")
	}
	// An older failure delivered late changes nothing.
	e.deliver(t, event(t, "evt_f_late", EventInvoicePaymentFailed, now.Add(-2*time.Hour), invoiceEvent(a.TenantID, "in_0", "sub_1", "open")))
	if status, _ := e.subStatus(t, a.TenantID, "sub_1"); status != "active" || e.seatLimit(t, a.TenantID) != 5 {
		t.Fatalf("a late, older failure moved the subscription to %s", status)
	}
	docs, err := e.Billing.ListDocuments(ctx(t), a)
	if err != nil || len(docs) != 2 {
		t.Fatalf("documents %+v, %v", docs, err)
	}
	for _, d := range docs {
		if d.ID == "in_1" && d.Status != "paid" {
			t.Fatalf("invoice in_1 is %s after being paid", d.Status)
		}
	}
	// A new failure is a new episode: mailed again.
	e.deliver(t, event(t, "evt_f3", EventInvoicePaymentFailed, now.Add(time.Second), invoiceEvent(a.TenantID, "in_2", "sub_1", "open")))
	if _, err := e.Billing.NotifyDunning(ctx(t), a.TenantID, box, ""); err != nil || len(box.sent()) != 2 {
		t.Fatalf("second episode: %d mails, %v", len(box.sent()), err)
	}
}

// A failed renewal as Stripe's subscription events say it: past_due
// keeps the seats through the grace, unpaid after it ends them, active
// brings them back; each transition audited.
func TestDunning_SubscriptionStatusFollowsStripeAfterTheGrace(t *testing.T) {
	e := newEnv(t, false)
	a := e.signup(t, "acme")
	now := time.Now()
	end := now.AddDate(0, 1, 0)
	e.deliver(t, event(t, "evt_c", EventSubscriptionCreated, now.Add(-20*24*time.Hour), subEvent(a.TenantID, "sub_1", "active", 4, end)))
	// Past due 2 days ago: within the grace.
	e.deliver(t, event(t, "evt_pd", EventSubscriptionUpdated, now.Add(-2*24*time.Hour), subEvent(a.TenantID, "sub_1", "past_due", 4, end)))
	if got := e.seatLimit(t, a.TenantID); got != 4 {
		t.Fatalf("past_due within the grace: seat limit %d, want 4", got)
	}
	if e.audits(t, a.TenantID, "billing.subscription_past_due") != 1 {
		t.Fatal("past_due not audited")
	}
	// Unpaid now: the grace still counts from the first failure (2 days
	// ago), so the seats are kept until then...
	e.deliver(t, event(t, "evt_up", EventSubscriptionUpdated, now.Add(-time.Hour), subEvent(a.TenantID, "sub_1", "unpaid", 4, end)))
	if _, since := e.subStatus(t, a.TenantID, "sub_1"); since == nil || !since.Equal(now.Add(-2*24*time.Hour).Truncate(time.Second)) {
		t.Fatalf("past_due_since %v moved", since)
	}
	if got := e.seatLimit(t, a.TenantID); got != 4 {
		t.Fatalf("unpaid within the grace: seat limit %d, want 4", got)
	}
	// ...and an event after the grace ends them (the grace counted from an
	// older first failure).
	if _, err := e.DB.Owner.Exec(ctx(t), `UPDATE subscriptions SET past_due_since = now() - interval '7 days 1 minute' WHERE tenant_id = $1`, a.TenantID); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, event(t, "evt_up2", EventSubscriptionUpdated, now, subEvent(a.TenantID, "sub_1", "unpaid", 4, end)))
	if got := e.seatLimit(t, a.TenantID); got != 0 {
		t.Fatalf("unpaid after the grace: seat limit %d, want 0", got)
	}
	e.deliver(t, event(t, "evt_ok", EventSubscriptionUpdated, now.Add(time.Second), subEvent(a.TenantID, "sub_1", "active", 4, end)))
	if got := e.seatLimit(t, a.TenantID); got != 4 {
		t.Fatalf("active again: seat limit %d, want 4", got)
	}
	if status, since := e.subStatus(t, a.TenantID, "sub_1"); status != "active" || since != nil {
		t.Fatalf("active again: %s since %v", status, since)
	}
	if e.audits(t, a.TenantID, "billing.subscription_recovered") != 1 || e.audits(t, a.TenantID, "billing.subscription_past_due") != 1 {
		t.Fatal("transitions not audited once each")
	}
}

// Invoice and receipt links are only ever Stripe's own.
func TestStripeLink_OnlyStripesOwnHosts(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://invoice.stripe.com/i/acct_1/test_x": true,
		"https://pay.stripe.com/invoice/x/pdf":       true,
		"https://stripe.com/x":                       true,
		"http://invoice.stripe.com/i/x":              false,
		"https://invoice.stripe.com.evil.example/x":  false,
		"https://evilstripe.com/x":                   false,
		"https://user:pw@invoice.stripe.com/x":       false,
		"https://invoice.stripe.com:8443/x":          false,
		"javascript:alert(1)":                        false,
		"//invoice.stripe.com/x":                     false,
		"https://evil.example\\@invoice.stripe.com/": false,
		"https://invoice.stripe.com/x y":             false,
		"":                                           false,
	} {
		if got := StripeLink(raw) != ""; got != want {
			t.Errorf("StripeLink(%q) kept %v, want %v", raw, got, want)
		}
	}
}
