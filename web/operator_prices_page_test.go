package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The operator negotiates a tenant's overage price and sets the
// catalogue's rate on the console; the tenant sees the result and the
// operator audit log names who did it.
func TestOperatorPages_OveragePrices(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	op := ts.enrollOperator(t, "olga@operators.example", "Olga Operator")
	b := newBrowserClient(t, ts.listen(t))
	_, _, tok := b.get("/operator?lang=en")
	resp, body := b.post("/operator/login", url.Values{"_csrf": {tok}, "email": {op.email}, "password": {testOperatorPassword}, "code": {op.nextCode(t)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator login: %d %s", resp.StatusCode, body)
	}
	_, page, tok := b.get("/operator")
	form := regexp.MustCompile(`action="(/operator/tenants/[0-9a-f-]+/overage-price)"`).FindStringSubmatch(page)
	if form == nil || !strings.Contains(form[1], a.TenantID.String()) {
		t.Fatalf("no negotiated-price form for the tenant: %s", page)
	}
	for _, bad := range []string{"0", "-5", "2.5", "abc", "99999999999999"} {
		if resp, body := b.post(form[1], url.Values{"_csrf": {tok}, "price_minor": {bad}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="error"`) {
			t.Fatalf("price %q: %d %s", bad, resp.StatusCode, body)
		}
	}
	if resp, _ := b.post("/operator/tenants/"+a.UserID.String()+"/overage-price", url.Values{"_csrf": {tok}, "price_minor": {"3"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown tenant: %d, want 404", resp.StatusCode)
	}
	if resp, body := b.post(form[1], url.Values{"_csrf": {tok}, "price_minor": {"3"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("negotiate: %d %s", resp.StatusCode, body)
	}
	pol := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil).mustStatus(t, http.StatusOK)
	if pol.str("overage_price_source") != "negotiated" || pol.JSON["overage_price_minor"] != float64(3) {
		t.Fatalf("tenant's policy after the negotiation: %s", pol.Body)
	}
	_, page, tok = b.get("/operator")
	if !strings.Contains(page, `value="3"`) || !strings.Contains(page, "negotiated") || !strings.Contains(page, "tenant.overage_price_negotiated") {
		t.Fatalf("console after the negotiation: %s", page)
	}
	if resp, _ := b.post(form[1], url.Values{"_csrf": {tok}, "catalogue": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("back to the catalogue: %d", resp.StatusCode)
	}
	if pol := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil); pol.str("overage_price_source") != "catalogue" {
		t.Fatalf("tenant's policy after the reset: %s", pol.Body)
	}
	// The catalogue's rate per currency.
	if resp, body := b.post("/operator/overage-prices", url.Values{"_csrf": {tok}, "currency": {"eur"}, "price_minor": {"7"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("catalogue rate: %d %s", resp.StatusCode, body)
	}
	if pol := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil); pol.JSON["overage_price_minor"] != float64(7) {
		t.Fatalf("tenant's policy after the catalogue change: %s", pol.Body)
	}
	if resp, _ := b.post("/operator/overage-prices", url.Values{"_csrf": {tok}, "currency": {"XXQ"}, "price_minor": {"7"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown currency: %d, want 400", resp.StatusCode)
	}
	// A tenant's session is no operator's.
	tb := newBrowserClient(t, b.base)
	tb.login("acme", "owner@acme.example", goodPassword)
	_, _, ttok := tb.get("/dashboard")
	if resp, _ := tb.post(form[1], url.Values{"_csrf": {ttok}, "price_minor": {"1"}}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/operator" {
		t.Fatalf("a tenant's owner on the operator form: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if pol := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil); pol.str("overage_price_source") != "catalogue" {
		t.Fatalf("a tenant's owner negotiated a price: %s", pol.Body)
	}
	// German words.
	if _, page, _ := b.get("/operator?lang=de"); !strings.Contains(page, "Überziehungspreis") {
		t.Fatalf("console in German: %s", page)
	}
}
