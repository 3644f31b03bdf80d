package billing

import (
	"testing"
)

// A top-up is priced from the catalogue when it is charged, never from
// anything the tenant sent: the operator's price change between the
// crossing and the charge is what is charged, and a tier withdrawn from
// sale is not charged at all.
func TestTopup_PricedFromTheCatalogueWhenCharged(t *testing.T) {
	e := newEnv(t, false)
	a := e.signup(t, "acme")
	e.topupTier(t, a, 100) // "small": 1000 contacts for 2000 EUR
	meter(t, e, a.TenantID, "a", 200)
	// The operator reprices the tier before the worker runs.
	if _, err := e.Billing.PutTier(ctx(t), CatalogTier{ID: "small", Name: "Small", Contacts: 1500, ValidityMonths: 1,
		Active: true, Prices: map[string]int64{"EUR": 2500}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Billing.ProcessTopups(ctx(t), a.TenantID); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM topup_charges WHERE tenant_id = $1 AND contacts = 1500 AND price_minor = 2500
		AND currency = 'EUR' AND validity_days BETWEEN 28 AND 31`, a.TenantID); n != 1 {
		t.Fatalf("%d charges at the catalogue's new price, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM bundles WHERE tenant_id = $1 AND source = 'auto_topup'
		AND NOT (contacts = 1500 AND price_minor = 2500)`, a.TenantID); n != 0 {
		t.Fatalf("%d auto top-up bundles not at the catalogue's price", n)
	}

	// A tier no longer for sale: the next crossing is skipped, not charged.
	b := e.signup(t, "bravo")
	e.topupTier(t, b, 100)
	meter(t, e, b.TenantID, "a", 200)
	if _, err := e.Billing.PutTier(ctx(t), CatalogTier{ID: "small", Name: "Small", Contacts: 1500, ValidityMonths: 1,
		Active: false, Prices: map[string]int64{"EUR": 2500}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.Billing.ProcessTopups(ctx(t), b.TenantID)
	if err != nil || out.Skipped != 1 {
		t.Fatalf("withdrawn tier: %+v %v", out, err)
	}
	if n := e.count(t, `SELECT count(*) FROM topup_charges WHERE tenant_id = $1`, b.TenantID); n != 0 {
		t.Fatalf("%d charges for a withdrawn tier", n)
	}
}
