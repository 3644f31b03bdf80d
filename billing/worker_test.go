package billing

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// overageLastMonth records n overage contacts at 5 minor units each,
// metered in the middle of last month.
func (e *env) overageLastMonth(t testing.TB, tenantID uuid.UUID, n int) time.Time {
	t.Helper()
	period := MonthOf(time.Now()).AddDate(0, -1, 0)
	at := period.Add(10 * 24 * time.Hour)
	for i := range n {
		if _, err := e.DB.Owner.Exec(ctx(t), `INSERT INTO meter_records (tenant_id, contact_id, cost_num, cost_den, currency, channel,
			direction, handled_at, source, metered_at) VALUES ($1, $2, 5, 1, 'EUR', 'chat', 'inbound', $3, 'api', $3)`,
			tenantID, fmt.Sprintf("over-%d", i), at); err != nil {
			t.Fatal(err)
		}
	}
	return period
}

func TestOverage_ChargedOnceWhenTheTaskRunsTwiceOrCrashesMidway(t *testing.T) {
	e := newEnv(t, true)
	a := e.signup(t, "acme")
	period := e.overageLastMonth(t, a.TenantID, 7)
	// Last month's overage of another tenant is its own business.
	b := e.signup(t, "bravo")
	e.overageLastMonth(t, b.TenantID, 2)

	// First run: Stripe makes the invoice item, then the worker dies
	// before recording it.
	crash := errors.New("worker killed")
	e.Billing.afterOverageCharge = func() error { return crash }
	if _, err := e.Billing.ChargeOverage(ctx(t), a.TenantID, period); !errors.Is(err, crash) {
		t.Fatalf("crashing run: %v", err)
	}
	var status string
	if err := e.DB.Owner.QueryRow(ctx(t), `SELECT status FROM overage_charges WHERE tenant_id = $1`, a.TenantID).Scan(&status); err != nil || status != "pending" {
		t.Fatalf("after the crash: %q, %v", status, err)
	}
	e.Billing.afterOverageCharge = nil

	// The retry, and the task run twice more through its handler.
	tasks := &Tasks{Billing: e.Billing}
	for range 3 {
		if err := tasks.HandleChargeOverage(ctx(t), NewChargeOverageTask(a.TenantID, period)); err != nil {
			t.Fatal(err)
		}
	}
	items := e.Calls.to("POST", "/v1/invoiceitems")
	if len(items) != 2 {
		t.Fatalf("%d invoice item requests, want 2 (the crashed one and its retry)", len(items))
	}
	want := "cic:overage:" + a.TenantID.String() + ":" + period.Format("2006-01")
	for _, c := range items {
		// Same key and same body: Stripe answers the retry with the item
		// it made for the crashed run instead of making a second one.
		if c.IdempotencyKey != want {
			t.Fatalf("idempotency key %q, want %q", c.IdempotencyKey, want)
		}
		if c.Form.Get("amount") != "35" || c.Form.Get("currency") != "eur" || c.Form.Encode() != items[0].Form.Encode() {
			t.Fatalf("invoice item %v", c.Form)
		}
	}
	var n, amount int64
	if err := e.DB.Owner.QueryRow(ctx(t), `SELECT count(*), sum(amount_minor) FROM overage_charges WHERE tenant_id = $1 AND status = 'charged'`,
		a.TenantID).Scan(&n, &amount); err != nil || n != 1 || amount != 35 {
		t.Fatalf("charged rows %d amount %d (%v)", n, amount, err)
	}
	if c := e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'billing.overage_charged'`, a.TenantID); c != 1 {
		t.Fatalf("%d audit entries, want 1", c)
	}
	// This month is not over: refused.
	if _, err := e.Billing.ChargeOverage(ctx(t), a.TenantID, time.Now()); !isKind(err, "period_open") {
		t.Fatalf("open month: %v", err)
	}
	// A month without overage charges nothing.
	if ch, err := e.Billing.ChargeOverage(ctx(t), a.TenantID, period.AddDate(0, -1, 0)); err != nil || ch != nil {
		t.Fatalf("empty month: %+v, %v", ch, err)
	}
}

func meter(t testing.TB, e *env, tenantID uuid.UUID, prefix string, n int) {
	t.Helper()
	cs := make([]metering.HandledContact, n)
	for i := range cs {
		cs[i] = metering.HandledContact{ID: fmt.Sprintf("%s-%d", prefix, i), Channel: "chat", Direction: "inbound", HandledAt: time.Now()}
	}
	res, err := e.Meter.Meter(ctx(t), tenantID, metering.SourceAPI, cs)
	if err != nil || len(res.Accepted) != n {
		t.Fatalf("meter %d: %+v, %v", n, res, err)
	}
}

// topupTier puts a on auto top-up under threshold, buying a catalogue
// tier of 1000 contacts for 2000 EUR.
func (e *env) topupTier(t testing.TB, a tenant.Actor, threshold int64) {
	t.Helper()
	if _, err := e.Billing.PutTier(ctx(t), CatalogTier{ID: "small", Name: "Small", Contacts: 1000, ValidityMonths: 12,
		Active: true, Prices: map[string]int64{"EUR": 2000}}); err != nil {
		t.Fatal(err)
	}
	tier := "small"
	if _, err := metering.UpdateSettings(ctx(t), e.Tenants.DB, a, metering.Settings{Policy: metering.PolicyAutoTopup,
		TopupThreshold: &threshold, TopupTier: &tier, WarnPercents: []int{}}); err != nil {
		t.Fatal(err)
	}
}

func TestTopup_ChargedOncePerCrossing(t *testing.T) {
	e := newEnv(t, false)
	a := e.signup(t, "acme")
	e.topupTier(t, a, 100)
	tasks := &Tasks{Billing: e.Billing}
	run := func() {
		t.Helper()
		for range 2 { // the task runs twice: the second finds nothing to do
			if err := tasks.HandleChargeTopup(ctx(t), NewChargeTopupTask(a.TenantID, uuid.New())); err != nil {
				t.Fatal(err)
			}
		}
	}
	topups := func() int {
		return e.count(t, `SELECT count(*) FROM bundles WHERE tenant_id = $1 AND source = 'auto_topup'`, a.TenantID)
	}

	meter(t, e, a.TenantID, "a", 100) // 150 of the trial's 250 left: above the threshold
	run()
	if topups() != 0 {
		t.Fatal("topped up above the threshold")
	}
	meter(t, e, a.TenantID, "b", 60) // 90 left: the first crossing
	meter(t, e, a.TenantID, "c", 10) // still under: the same crossing
	run()
	if n := topups(); n != 1 {
		t.Fatalf("%d top-ups after the first crossing, want 1", n)
	}
	meter(t, e, a.TenantID, "d", 500) // 1080 - 500 = 580 left: above again
	run()
	if n := topups(); n != 1 {
		t.Fatalf("%d top-ups while above the threshold, want 1", n)
	}
	meter(t, e, a.TenantID, "e", 500) // 80 left: the second crossing
	run()
	if n := topups(); n != 2 {
		t.Fatalf("%d top-ups after the second crossing, want 2", n)
	}
	if n := e.count(t, `SELECT count(*) FROM topup_charges WHERE tenant_id = $1 AND status = 'paid' AND price_minor = 2000`, a.TenantID); n != 2 {
		t.Fatalf("%d paid charges, want 2", n)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'billing.topup_charged'`, a.TenantID); n != 2 {
		t.Fatalf("%d audit entries, want 2", n)
	}
}

func TestTopup_FailedChargeIsNotRetriedInTheSameCrossing(t *testing.T) {
	e := newEnv(t, true)
	a := e.signup(t, "acme")
	e.topupTier(t, a, 100)
	meter(t, e, a.TenantID, "a", 200)
	// stripe-mock's payment intent stays requires_payment_method: the
	// off-session charge fails, as a card needing authentication would.
	out, err := e.Billing.ProcessTopups(ctx(t), a.TenantID)
	if err != nil || out.Failed != 1 {
		t.Fatalf("first charge: %+v, %v", out, err)
	}
	pis := e.Calls.to("POST", "/v1/payment_intents")
	if len(pis) != 1 {
		t.Fatalf("%d payment intents, want 1", len(pis))
	}
	f := pis[0].Form
	if f.Get("off_session") != "true" || f.Get("confirm") != "true" || f.Get("amount") != "2000" || f.Get("payment_method") == "" ||
		f.Get("metadata[tenant_id]") != a.TenantID.String() || pis[0].IdempotencyKey == "" {
		t.Fatalf("payment intent params: %v key %q", f, pis[0].IdempotencyKey)
	}
	// More contacts in the same crossing file a new request; it is
	// skipped, not charged.
	meter(t, e, a.TenantID, "b", 10)
	out, err = e.Billing.ProcessTopups(ctx(t), a.TenantID)
	if err != nil || out.Skipped != 1 {
		t.Fatalf("second request: %+v, %v", out, err)
	}
	if n := len(e.Calls.to("POST", "/v1/payment_intents")); n != 1 {
		t.Fatalf("%d payment intents, want still 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM bundles WHERE tenant_id = $1 AND source = 'auto_topup'`, a.TenantID); n != 0 {
		t.Fatalf("%d bundles credited for a failed payment", n)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'billing.topup_failed'`, a.TenantID); n != 1 {
		t.Fatalf("%d topup_failed audit entries, want 1", n)
	}
	var reqStatus string
	err = e.Tenants.DB.Tx(ctx(t), a.TenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT status FROM topup_requests WHERE tenant_id = $1 ORDER BY requested_at LIMIT 1`, a.TenantID).Scan(&reqStatus)
	})
	if err != nil || reqStatus != "failed" {
		t.Fatalf("first request %q, %v", reqStatus, err)
	}
}
