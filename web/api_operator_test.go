package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cic-platform/cic/tenant"
)

// operatorRoutes are every route of the operator API but login.
var operatorRoutes = []struct {
	method, path string
	body         any
}{
	{"GET", "/api/v1/operator/catalog", nil},
	{"PUT", "/api/v1/operator/catalog/tiers/bundle-free", map[string]any{"name": "free", "contacts": 1000000000, "validity_months": 12, "active": true, "prices": map[string]int{"EUR": 1}}},
	{"PUT", "/api/v1/operator/catalog/seat-prices/EUR", map[string]any{"price_minor": 1}},
	{"GET", "/api/v1/operator/tasks", nil},
	{"GET", "/api/v1/operator/findings", nil},
	{"GET", "/api/v1/operator/tenants", nil},
	{"GET", "/api/v1/operator/queues", nil},
	{"GET", "/api/v1/operator/audit", nil},
	{"POST", "/api/v1/operator/logout", nil},
}

// TestOperatorAPI_TheOldSharedTokenNoLongerWorks: the secret that opened
// every operator route before is now just a wrong token, on the API and
// on the console's login form.
func TestOperatorAPI_TheOldSharedTokenNoLongerWorks(t *testing.T) {
	ts := newServer(t)
	ts.operatorToken(t) // an operator exists and is logged in
	for _, r := range operatorRoutes {
		ans := ts.call(t, r.method, r.path, "op-secret-for-tests", r.body).mustStatus(t, http.StatusUnauthorized)
		if ans.errCode() != "unauthenticated" {
			t.Errorf("%s %s: %s", r.method, r.path, ans.Body)
		}
	}
	b := newBrowserClient(t, ts.listen(t))
	_, _, csrf := b.get("/operator")
	resp, page := b.post("/operator/login", url.Values{"_csrf": {csrf}, "token": {"op-secret-for-tests"}})
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(page, `id="operator-catalog"`) {
		t.Fatalf("the console's login with the old token field: %d", resp.StatusCode)
	}
	cat := ts.call(t, "GET", "/api/v1/catalog", ts.signup(t, "acme").Token, nil).mustStatus(t, http.StatusOK)
	if strings.Contains(string(cat.Body), "bundle-free") {
		t.Fatal("a tier was created without an operator")
	}
}

// TestOperatorAPI_TenantTokensNeverReachOperatorRoutes: a tenant owner's
// access token is refused on every operator route, and an operator's
// token opens no tenant route.
func TestOperatorAPI_TenantTokensNeverReachOperatorRoutes(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	for _, r := range operatorRoutes {
		ts.call(t, r.method, r.path, a.Token, r.body).mustStatus(t, http.StatusUnauthorized)
		ts.call(t, r.method, r.path, "", r.body).mustStatus(t, http.StatusUnauthorized)
	}
	// The owner's e-mail and password are no operator login either.
	ts.call(t, "POST", "/api/v1/operator/login", "", map[string]any{"email": "owner@acme.example", "password": goodPassword, "code": "123456"}).
		mustStatus(t, http.StatusUnauthorized)
	op := ts.operatorToken(t)
	for _, p := range []string{"/api/v1/me", "/api/v1/users", "/api/v1/usage/balance"} {
		ts.call(t, "GET", p, op, nil).mustStatus(t, http.StatusUnauthorized)
	}
}

// TestOperatorAPI_LoginLogout: e-mail, password and code give a bearer
// token; anything less is a 4xx; logout ends the token at once.
func TestOperatorAPI_LoginLogout(t *testing.T) {
	ts := newServer(t)
	op := ts.enrollOperator(t, "olga@operators.example", "Olga Operator")
	for _, tc := range []struct {
		name string
		body any
		want int
		code string
	}{
		{"not JSON", `{"email":`, 400, "invalid_json"},
		{"no password", map[string]any{"email": op.email}, 400, "missing_credentials"},
		{"wrong password", map[string]any{"email": op.email, "password": "wrong password!", "code": "123456"}, 401, "invalid_credentials"},
		{"no code", map[string]any{"email": op.email, "password": testOperatorPassword}, 401, "invalid_credentials"},
		{"letters for a code", map[string]any{"email": op.email, "password": testOperatorPassword, "code": "abcdef"}, 401, "invalid_credentials"},
		{"NUL in the e-mail", map[string]any{"email": "olga\x00@operators.example", "password": testOperatorPassword, "code": "123456"}, 400, "invalid_text"},
	} {
		ans := ts.call(t, "POST", "/api/v1/operator/login", "", tc.body).mustStatus(t, tc.want)
		if ans.errCode() != tc.code {
			t.Errorf("%s: %s", tc.name, ans.Body)
		}
	}
	ans := ts.call(t, "POST", "/api/v1/operator/login", "", map[string]any{"email": op.email, "password": testOperatorPassword, "code": op.nextCode(t)}).
		mustStatus(t, http.StatusOK)
	tok := ans.str("token")
	if tok == "" || ans.str("operator", "name") != "Olga Operator" || ans.str("expires_at") == "" {
		t.Fatalf("login: %s", ans.Body)
	}
	ts.call(t, "GET", "/api/v1/operator/catalog", tok, nil).mustStatus(t, http.StatusOK)
	ts.call(t, "POST", "/api/v1/operator/logout", tok, nil).mustStatus(t, http.StatusNoContent)
	ts.call(t, "GET", "/api/v1/operator/catalog", tok, nil).mustStatus(t, http.StatusUnauthorized)

	// Not yet enrolled: the one-time password does not open the API.
	_, once, err := ts.Operators.Add(t.Context(), "oskar@operators.example", "Oskar", tenant.ClientMeta{})
	if err != nil {
		t.Fatal(err)
	}
	ans = ts.call(t, "POST", "/api/v1/operator/login", "", map[string]any{"email": "oskar@operators.example", "password": once}).mustStatus(t, http.StatusForbidden)
	if ans.errCode() != "enrollment_required" {
		t.Fatalf("one-time password on the API: %s", ans.Body)
	}
}

// TestOperatorAPI_FailedLoginsAreRateLimited: after five wrong tries the
// account is refused 429 even with the right password and code; after
// twenty from one address, so is every account from there.
func TestOperatorAPI_FailedLoginsAreRateLimited(t *testing.T) {
	ts := newServer(t)
	op := ts.enrollOperator(t, "olga@operators.example", "Olga Operator")
	for i := range 5 {
		ts.call(t, "POST", "/api/v1/operator/login", "", map[string]any{"email": op.email, "password": fmt.Sprintf("guess number %d", i), "code": "123456"}).
			mustStatus(t, http.StatusUnauthorized)
	}
	ans := ts.call(t, "POST", "/api/v1/operator/login", "", map[string]any{"email": op.email, "password": testOperatorPassword, "code": op.nextCode(t)}).
		mustStatus(t, http.StatusTooManyRequests)
	if ans.errCode() != "rate_limited" {
		t.Fatalf("locked account: %s", ans.Body)
	}
	other := ts.enrollOperator(t, "oskar@operators.example", "Oskar")
	for i := range 15 {
		ts.call(t, "POST", "/api/v1/operator/login", "", map[string]any{"email": fmt.Sprintf("guess%d@operators.example", i), "password": "some password", "code": "123456"}).
			mustStatus(t, http.StatusUnauthorized)
	}
	ts.call(t, "POST", "/api/v1/operator/login", "", map[string]any{"email": other.email, "password": testOperatorPassword, "code": other.nextCode(t)}).
		mustStatus(t, http.StatusTooManyRequests)
}

// TestOperatorAPI_EditsAreAuditedWithTheOperatorsName: two operators edit
// the catalogue; the platform audit log says who did which, on the API
// and on the console.
func TestOperatorAPI_EditsAreAuditedWithTheOperatorsName(t *testing.T) {
	ts := newServer(t)
	olga := ts.operatorToken(t)
	oskar := ts.enrollOperator(t, "oskar@operators.example", "Oskar Operator")
	oskarTok := ts.call(t, "POST", "/api/v1/operator/login", "", map[string]any{"email": oskar.email, "password": testOperatorPassword, "code": oskar.nextCode(t)}).
		mustStatus(t, http.StatusOK).str("token")
	ts.call(t, "PUT", "/api/v1/operator/catalog/tiers/bundle-50k", olga, map[string]any{
		"name": "50,000 contacts", "contacts": 50000, "validity_months": 6, "active": true, "prices": map[string]int{"EUR": 200000}}).mustStatus(t, http.StatusOK)
	ts.call(t, "PUT", "/api/v1/operator/catalog/seat-prices/GBP", oskarTok, map[string]any{"price_minor": 2700}).mustStatus(t, http.StatusOK)
	// A refused edit is no edit: not audited.
	ts.call(t, "PUT", "/api/v1/operator/catalog/seat-prices/GBP", oskarTok, map[string]any{"price_minor": 0}).mustStatus(t, http.StatusBadRequest)

	ts.call(t, "GET", "/api/v1/operator/audit?limit=0", olga, nil).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "GET", "/api/v1/operator/audit?before=x", olga, nil).mustStatus(t, http.StatusBadRequest)
	ans := ts.call(t, "GET", "/api/v1/operator/audit", olga, nil).mustStatus(t, http.StatusOK)
	got := map[string]string{}
	edits := 0
	for _, e := range ans.JSON["entries"].([]any) {
		m := e.(map[string]any)
		if a := m["action"].(string); strings.HasPrefix(a, "catalog.") {
			edits++
			got[a+" "+m["target_id"].(string)] = m["operator_name"].(string)
		}
	}
	if edits != 2 || got["catalog.tier_put bundle-50k"] != "Olga Operator" || got["catalog.seat_price_put GBP"] != "Oskar Operator" {
		t.Fatalf("audit of the edits: %v (%d edits)\n%s", got, edits, ans.Body)
	}
	b := newBrowserClient(t, ts.listen(t))
	_, _, csrf := b.get("/operator")
	if resp, body := b.post("/operator/login", url.Values{"_csrf": {csrf}, "email": {oskar.email}, "password": {testOperatorPassword}, "code": {oskar.nextCode(t)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console login: %d %s", resp.StatusCode, body)
	}
	_, page, csrf := b.get("/operator")
	if resp, _ := b.post("/operator/seat-prices", url.Values{"_csrf": {csrf}, "currency": {"USD"}, "price_minor": {"3300"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("seat price from the console: %d", resp.StatusCode)
	}
	_, page, _ = b.get("/operator")
	if !strings.Contains(page, `<td class="who">Oskar Operator</td><td class="action">catalog.seat_price_put</td>`) ||
		!strings.Contains(page, `<td class="who">Olga Operator</td><td class="action">catalog.tier_put</td>`) {
		t.Fatalf("the console's audit table lacks the edits:\n%s", page)
	}
}

// TestOperatorPages_FormsNeedTheCSRFToken: the console's login and
// enrollment forms are refused without the page's token.
func TestOperatorPages_FormsNeedTheCSRFToken(t *testing.T) {
	ts := newServer(t)
	op := ts.enrollOperator(t, "olga@operators.example", "Olga Operator")
	b := newBrowserClient(t, ts.listen(t))
	b.get("/operator")
	for _, p := range []string{"/operator/login", "/operator/enroll", "/operator/logout", "/operator/seat-prices"} {
		resp, _ := b.post(p, url.Values{"email": {op.email}, "password": {testOperatorPassword}, "code": {"123456"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without the CSRF token: %d", p, resp.StatusCode)
		}
	}
	// Without an enrollment cookie the enrollment page sends to the login.
	resp, page, _ := b.get("/operator/enroll")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/operator" || strings.Contains(page, "totp-secret") {
		t.Errorf("enrollment without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
