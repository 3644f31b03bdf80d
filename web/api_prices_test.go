package web_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
)

// The attack of issue #15 item 1: a tenant prices its own top-up (0 for a
// billion contacts) or its overage (0). Every such PUT is refused whole,
// nothing is saved, and the auto top-up the tenant may choose buys a
// catalogue tier at the catalogue's price, never a free bundle.
func TestPrices_TenantCannotSetAPrice(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	for _, body := range []string{
		`{"policy":"auto_topup","topup_threshold":249,"topup_contacts":1000000000,"topup_price_minor":0,"topup_validity_days":1095}`,
		`{"overage_price_minor":0}`,
		`{"policy":"overage","Overage_Price_Minor":0}`,
		`{"policy":"auto_topup","topup_threshold":249,"topup_tier":"bundle-10k","TOPUP_CONTACTS":1000000000}`,
		`{"topup_validity_days":1095}`,
		`{"policy":"block","overage_price_source":"negotiated"}`,
	} {
		ans := ts.call(t, "PUT", "/api/v1/usage/policy", a.Token, body).mustStatus(t, http.StatusBadRequest)
		if ans.errCode() != "price_not_settable" {
			t.Errorf("%s: %s", body, ans.Body)
		}
	}
	p := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil).mustStatus(t, http.StatusOK)
	if p.str("policy") != "overage" || num(p, "overage_price_minor") != 5 || p.str("overage_price_source") != "catalogue" {
		t.Fatalf("a refused PUT changed the settings: %s", p.Body)
	}

	// What the tenant may choose: the tier and the threshold. The worker
	// then charges the tier's catalogue price for the tier's contacts.
	ts.call(t, "PUT", "/api/v1/usage/policy", a.Token, map[string]any{"policy": "auto_topup", "topup_threshold": 249, "topup_tier": "bundle-10k"}).
		mustStatus(t, http.StatusOK)
	key, _ := ts.apiKey(t, a, "PBX")
	ts.ingest(t, key, handled("c", 2, "chat"), http.StatusOK)
	if _, err := ts.Billing.ProcessTopups(context.Background(), a.TenantID); err != nil {
		t.Fatal(err)
	}
	var n int
	var contacts, price int64
	if err := ts.DB.Owner.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(contacts), 0), coalesce(sum(price_minor), 0)
		FROM bundles WHERE tenant_id = $1 AND source = 'auto_topup'`, a.TenantID).Scan(&n, &contacts, &price); err != nil {
		t.Fatal(err)
	}
	// Local mode credits at once; once top-ups are credited by Stripe's
	// event (item 5) nothing may be credited here yet. Either way never
	// a bundle that is not the catalogue's.
	if n > 1 || (n == 1 && (contacts != 10000 || price != 49000)) {
		t.Fatalf("%d auto top-up bundles: %d contacts for %d", n, contacts, price)
	}
	if err := ts.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM topup_charges
		WHERE tenant_id = $1 AND NOT (contacts = 10000 AND price_minor = 49000 AND currency = 'EUR')`, a.TenantID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d top-up charges not at the catalogue price (%v)", n, err)
	}
}

// A negotiated overage price is the operator's alone: it applies once set
// (audited with the operator's name, shown to the tenant), only to that
// tenant, and a tenant's own token cannot reach the endpoint.
func TestPrices_NegotiatedOveragePriceIsTheOperators(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	path := "/api/v1/operator/tenants/" + a.TenantID.String() + "/overage-price"

	// Neither the tenant's owner nor an anonymous caller may set it.
	for _, token := range []string{a.Token, ""} {
		ts.call(t, "PUT", path, token, map[string]any{"price_minor": 1}).mustStatus(t, http.StatusUnauthorized)
		ts.call(t, "DELETE", path, token, nil).mustStatus(t, http.StatusUnauthorized)
	}
	if p := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil); p.str("overage_price_source") != "catalogue" {
		t.Fatalf("a tenant's call set a price: %s", p.Body)
	}
	// Bad input is a 4xx.
	for _, c := range []struct {
		path, body string
		status     int
		code       string
	}{
		{path, `{"price_minor":0}`, 400, "invalid_price"},
		{path, `{"price_minor":-3}`, 400, "invalid_price"},
		{path, `{"price_minor":"2"}`, 400, "invalid_json"},
		{path, `{"price_minor":99999999999999}`, 400, "invalid_price"},
		{path, `{"price":2}`, 400, "invalid_json"},
		{"/api/v1/operator/tenants/" + uuid.NewString() + "/overage-price", `{"price_minor":2}`, 404, "not_found"},
		{"/api/v1/operator/tenants/not-a-uuid/overage-price", `{"price_minor":2}`, 404, "not_found"},
	} {
		if ans := ts.call(t, "PUT", c.path, ts.operatorToken(t), c.body).mustStatus(t, c.status); ans.errCode() != c.code {
			t.Errorf("%s %s: %s", c.path, c.body, ans.Body)
		}
	}

	set := ts.call(t, "PUT", path, ts.operatorToken(t), map[string]any{"price_minor": 2}).mustStatus(t, http.StatusOK)
	if num(set, "overage_price_minor") != 2 || set.str("overage_price_source") != "negotiated" || set.str("currency") != "EUR" {
		t.Fatalf("set: %s", set.Body)
	}
	p := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil).mustStatus(t, http.StatusOK)
	if num(p, "overage_price_minor") != 2 || p.str("overage_price_source") != "negotiated" || p.str("negotiated_since") == "" {
		t.Fatalf("the tenant does not see its negotiated price: %s", p.Body)
	}
	// Only A's: B stays on the catalogue's rate.
	if p := ts.call(t, "GET", "/api/v1/usage/policy", b.Token, nil); num(p, "overage_price_minor") != 5 || p.str("overage_price_source") != "catalogue" {
		t.Fatalf("B's price changed: %s", p.Body)
	}
	// It applies: 2 contacts over the trial cost 2 each.
	key, _ := ts.apiKey(t, a, "PBX")
	ts.ingest(t, key, handled("c", 252, "chat"), http.StatusOK)
	if bal := ts.balance(t, a); num(bal, "overage_contacts") != 2 || num(bal, "overage_cost_minor") != 4 {
		t.Fatalf("balance: %s", bal.Body)
	}
	// Audited in the tenant's log, with the operator's name.
	audit := ts.call(t, "GET", "/api/v1/audit", a.Token, nil).mustStatus(t, http.StatusOK)
	if !bytes.Contains(audit.Body, []byte(`"billing.overage_price_negotiated"`)) || !bytes.Contains(audit.Body, []byte(`"operator":"Olga Operator"`)) {
		t.Fatalf("audit: %s", audit.Body)
	}
	if audit := ts.call(t, "GET", "/api/v1/audit", b.Token, nil); bytes.Contains(audit.Body, []byte("overage_price")) {
		t.Fatalf("B's audit shows A's price: %s", audit.Body)
	}
	// The usage page shows it.
	br := newBrowserClient(t, ts.listen(t))
	br.login("acme", "owner@acme.example", goodPassword)
	if _, page, _ := br.get("/usage"); !bytes.Contains([]byte(page), []byte("0.02 EUR")) || !bytes.Contains([]byte(page), []byte("negotiated with the platform")) {
		t.Fatalf("usage page: %s", page)
	}

	// Back to the catalogue.
	del := ts.call(t, "DELETE", path, ts.operatorToken(t), nil).mustStatus(t, http.StatusOK)
	if num(del, "overage_price_minor") != 5 || del.str("overage_price_source") != "catalogue" {
		t.Fatalf("delete: %s", del.Body)
	}
	ts.ingest(t, key, handled("d", 1, "chat"), http.StatusOK)
	if bal := ts.balance(t, a); num(bal, "overage_contacts") != 3 || num(bal, "overage_cost_minor") != 9 {
		t.Fatalf("balance after delete: %s", bal.Body)
	}
}

// The catalogue's overage rate is the operator's to edit, per currency.
func TestPrices_OperatorEditsTheCatalogueOverageRate(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	ts.call(t, "PUT", "/api/v1/operator/catalog/overage-prices/EUR", a.Token, map[string]any{"price_minor": 1}).mustStatus(t, http.StatusUnauthorized)
	for body, code := range map[string]string{`{"price_minor":0}`: "invalid_price", `{"price_minor":true}`: "invalid_json"} {
		if ans := ts.call(t, "PUT", "/api/v1/operator/catalog/overage-prices/EUR", ts.operatorToken(t), body).mustStatus(t, http.StatusBadRequest); ans.errCode() != code {
			t.Errorf("%s: %s", body, ans.Body)
		}
	}
	ts.call(t, "PUT", "/api/v1/operator/catalog/overage-prices/EURO", ts.operatorToken(t), map[string]any{"price_minor": 3}).mustStatus(t, http.StatusBadRequest)
	cat := ts.call(t, "PUT", "/api/v1/operator/catalog/overage-prices/eur", ts.operatorToken(t), map[string]any{"price_minor": 7}).mustStatus(t, http.StatusOK)
	if !bytes.Contains(cat.Body, []byte(`"overage_prices":{`)) || !bytes.Contains(cat.Body, []byte(`"EUR":7`)) {
		t.Fatalf("catalogue: %s", cat.Body)
	}
	if p := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil); num(p, "overage_price_minor") != 7 {
		t.Fatalf("policy: %s", p.Body)
	}
	if o := ts.call(t, "GET", "/api/v1/catalog", a.Token, nil); num(o, "overage_price_minor") != 7 {
		t.Fatalf("offer: %s", o.Body)
	}
}
