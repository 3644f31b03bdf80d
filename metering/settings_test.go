package metering_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

func ownerOf(tid uuid.UUID) tenant.Actor {
	return tenant.Actor{TenantID: tid, Role: cic.RoleOwner, IP: "192.0.2.9", RequestID: "req-1"}
}

func i64(v int64) *int64 { return &v }

func sptr(v string) *string { return &v }

func TestSettingsValidate(t *testing.T) {
	topup := func(mod func(*metering.Settings)) metering.Settings {
		st := metering.Settings{Policy: metering.PolicyAutoTopup, WarnPercents: []int{20, 5, 0},
			TopupThreshold: i64(100), TopupTier: sptr("bundle-10k")}
		if mod != nil {
			mod(&st)
		}
		return st
	}
	for _, c := range []struct {
		name string
		st   metering.Settings
		code string // "" = valid
	}{
		{"default", metering.DefaultSettings("EUR"), ""},
		{"block, no warnings", metering.Settings{Policy: "block", WarnPercents: []int{}}, ""},
		{"policy is trimmed and lowered", metering.Settings{Policy: " Block "}, ""},
		{"auto top-up", topup(nil), ""},
		{"threshold 0", topup(func(s *metering.Settings) { s.TopupThreshold = i64(0) }), ""},
		{"tier is trimmed and lowered", topup(func(s *metering.Settings) { s.TopupTier = sptr(" Bundle-10K ") }), ""},
		{"a price in the struct is not the tenant's and is ignored", topup(func(s *metering.Settings) { s.OveragePriceMinor = -1 }), ""},
		{"five warnings", metering.Settings{Policy: "overage", WarnPercents: []int{100, 50, 20, 5, 0}}, ""},
		{"unknown policy", metering.Settings{Policy: "pray"}, "invalid_policy"},
		{"empty policy", metering.Settings{}, "invalid_policy"},
		{"top-up without bundle", metering.Settings{Policy: "auto_topup"}, "topup_incomplete"},
		{"top-up without threshold", topup(func(s *metering.Settings) { s.TopupThreshold = nil }), "topup_incomplete"},
		{"negative threshold", topup(func(s *metering.Settings) { s.TopupThreshold = i64(-1) }), "invalid_topup_threshold"},
		{"top-up without tier", topup(func(s *metering.Settings) { s.TopupTier = nil }), "topup_incomplete"},
		{"top-up with an empty tier", topup(func(s *metering.Settings) { s.TopupTier = sptr(" ") }), "topup_incomplete"},
		{"tier not an id", topup(func(s *metering.Settings) { s.TopupTier = sptr("../x") }), "unknown_tier"},
		{"bad top-up fields checked under other policies too", metering.Settings{Policy: "overage", TopupThreshold: i64(-3)}, "invalid_topup_threshold"},
		{"six warnings", metering.Settings{Policy: "overage", WarnPercents: []int{100, 80, 50, 20, 5, 0}}, "invalid_warn_percents"},
		{"warning over 100", metering.Settings{Policy: "overage", WarnPercents: []int{101}}, "invalid_warn_percents"},
		{"negative warning", metering.Settings{Policy: "overage", WarnPercents: []int{-1}}, "invalid_warn_percents"},
		{"ascending warnings", metering.Settings{Policy: "overage", WarnPercents: []int{5, 20}}, "invalid_warn_percents"},
		{"repeated warning", metering.Settings{Policy: "overage", WarnPercents: []int{20, 20}}, "invalid_warn_percents"},
	} {
		st := c.st
		err := st.Validate()
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if e, ok := cic.AsError(err); !ok || e.Kind != cic.EINVALID || e.Code != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
}

func TestUpdateSettings_SavesAuditsAndApplies(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	other := e.newTenant(t, "bravo")

	got, err := metering.GetSettings(c, e.Tenants.DB, tid)
	if err != nil {
		t.Fatal(err)
	}
	if got.Policy != metering.PolicyOverage || got.OveragePriceMinor != 5 || len(got.WarnPercents) != 3 || got.Currency != "EUR" {
		t.Fatalf("defaults: %+v", got)
	}

	for _, role := range []cic.Role{cic.RoleAgent, cic.RoleFinance, cic.RoleSupervisor} {
		a := ownerOf(tid)
		a.Role = role
		if _, err := metering.UpdateSettings(c, e.Tenants.DB, a, metering.DefaultSettings("EUR")); cic.ErrorKind(err) != cic.EFORBIDDEN {
			t.Fatalf("%s: %v, want forbidden", role, err)
		}
	}
	if _, err := metering.UpdateSettings(c, e.Tenants.DB, ownerOf(tid), metering.Settings{Policy: "nope"}); cic.ErrorKind(err) != cic.EINVALID {
		t.Fatalf("invalid: %v", err)
	}

	admin := ownerOf(tid)
	admin.Role = cic.RoleAdmin
	// A tier the catalogue does not sell in the tenant's currency is refused.
	for _, tier := range []string{"bundle-nope", "nope"} {
		bad := metering.Settings{Policy: metering.PolicyAutoTopup, TopupThreshold: i64(20), TopupTier: sptr(tier)}
		if _, err := metering.UpdateSettings(c, e.Tenants.DB, admin, bad); cic.ErrorKind(err) != cic.EINVALID {
			t.Fatalf("tier %s: %v, want unknown_tier", tier, err)
		}
	}
	// A price sent along is not the tenant's to set: it is not saved.
	want := metering.Settings{Policy: metering.PolicyAutoTopup, OveragePriceMinor: 0, WarnPercents: []int{50, 10},
		TopupThreshold: i64(20), TopupTier: sptr("bundle-10k")}
	saved, err := metering.UpdateSettings(c, e.Tenants.DB, admin, want)
	if err != nil {
		t.Fatal(err)
	}
	want.Currency, want.OveragePriceMinor, want.OveragePriceSource = "EUR", 5, metering.OverageCatalogue
	if a, b := mustJSON(t, saved), mustJSON(t, want); a != b {
		t.Fatalf("saved %s, want %s", a, b)
	}
	if again, _ := metering.GetSettings(c, e.Tenants.DB, tid); mustJSON(t, again) != mustJSON(t, want) {
		t.Fatalf("read back %+v", again)
	}
	// Another tenant keeps its defaults.
	if st, _ := metering.GetSettings(c, e.Tenants.DB, other); st.Policy != metering.PolicyOverage || st.OveragePriceMinor != 5 {
		t.Fatalf("B's settings changed: %+v", st)
	}
	var n int
	var details string
	if err := e.DB.Owner.QueryRow(c, `SELECT count(*), max(details::text) FROM audit_log
		WHERE tenant_id = $1 AND action = 'metering.settings' AND target_id = $2 AND actor_role = 'admin'`, tid, tid.String()).Scan(&n, &details); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d audit entries", n)
	}

	// The Meter uses the negotiated overage price (as billing writes it
	// for the operator), and the auto top-up threshold.
	if _, err := e.DB.Owner.Exec(c, `INSERT INTO negotiated_overage_prices (tenant_id, price_minor, set_by) VALUES ($1, 7, 'op')`, tid); err != nil {
		t.Fatal(err)
	}
	if st, _ := metering.GetSettings(c, e.Tenants.DB, tid); st.OveragePriceMinor != 7 || st.OveragePriceSource != metering.OverageNegotiated || st.NegotiatedSince == nil {
		t.Fatalf("negotiated: %+v", st)
	}
	if _, err := e.Meter.Meter(c, tid, metering.SourceAPI, contacts("a", 260)); err != nil {
		t.Fatal(err)
	}
	b, err := metering.GetBalance(c, e.Tenants.DB, tid, e.Meter.Now())
	if err != nil {
		t.Fatal(err)
	}
	if b.OverageContacts != 10 || b.OverageCostMinor != 70 || b.Policy != metering.PolicyAutoTopup {
		t.Fatalf("balance %+v", b)
	}
	var pending int
	if err := e.DB.Owner.QueryRow(c, `SELECT count(*) FROM topup_requests WHERE tenant_id = $1 AND status = 'pending' AND tier_id = 'bundle-10k'`, tid).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 1 {
		t.Fatalf("%d pending top-ups", pending)
	}

	// Switching back to overage keeps the chosen top-up bundle; an empty
	// warning list is kept empty.
	back := saved
	back.Policy, back.WarnPercents = metering.PolicyOverage, nil
	saved, err = metering.UpdateSettings(c, e.Tenants.DB, ownerOf(tid), back)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Policy != metering.PolicyOverage || saved.TopupTier == nil || *saved.TopupTier != "bundle-10k" || saved.WarnPercents == nil || len(saved.WarnPercents) != 0 {
		t.Fatalf("switched back: %+v", saved)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The overage price is the catalogue's rate in the tenant's currency (the
// operator changes it for everyone), unless a negotiated one is set.
func TestSettings_OveragePriceIsTheCatalogues(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	if _, err := e.DB.Owner.Exec(c, `UPDATE catalog_overage_prices SET price_minor = 9 WHERE currency = 'EUR'`); err != nil {
		t.Fatal(err)
	}
	st, err := metering.GetSettings(c, e.Tenants.DB, tid)
	if err != nil || st.OveragePriceMinor != 9 || st.OveragePriceSource != metering.OverageCatalogue {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := e.Meter.Meter(c, tid, metering.SourceAPI, contacts("a", 251)); err != nil {
		t.Fatal(err)
	}
	b, err := metering.GetBalance(c, e.Tenants.DB, tid, e.Meter.Now())
	if err != nil || b.OverageContacts != 1 || b.OverageCostMinor != 9 {
		t.Fatalf("balance %+v %v", b, err)
	}
}

func TestRefusePriceFields(t *testing.T) {
	for _, c := range []struct {
		give []string
		want bool
	}{
		{[]string{"policy", "topup_tier", "topup_threshold", "warn_percents", "currency"}, false},
		{[]string{"policy", "topup_price_minor"}, true},
		{[]string{"Overage_Price_Minor"}, true},
		{[]string{"TOPUP_CONTACTS"}, true},
		{[]string{"topup_validity_days"}, true},
	} {
		err := metering.RefusePriceFields(c.give)
		if e, ok := cic.AsError(err); c.want != (ok && e.Code == "price_not_settable" && e.Kind == cic.EINVALID) || (!c.want && err != nil) {
			t.Errorf("%v: %v", c.give, err)
		}
	}
}
