package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cic-platform/cic/metering"
)

func TestPages_UsageIsForOwnersAndAdmins(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	ts.createUser(t, a, "agent@acme.example", "agent")
	ts.createUser(t, a, "finance@acme.example", "finance")
	base := ts.listen(t)

	for _, email := range []string{"agent@acme.example", "finance@acme.example"} {
		b := newBrowserClient(t, base)
		b.login("acme", email, goodPassword)
		resp, body, _ := b.get("/usage")
		if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "policy-form") {
			t.Fatalf("%s GET /usage: %d", email, resp.StatusCode)
		}
		_, _, token := b.get("/dashboard")
		if resp, _ := b.post("/usage/policy", url.Values{"_csrf": {token}, "policy": {"block"}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s POST /usage/policy: %d", email, resp.StatusCode)
		}
		if resp, _ := b.post("/usage/api-keys", url.Values{"_csrf": {token}, "name": {"x"}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s POST /usage/api-keys: %d", email, resp.StatusCode)
		}
		// Finance sees the usage figures on the dashboard; an agent only
		// the contacts left.
		_, dash, _ := b.get("/dashboard")
		if strings.Contains(dash, `id="contacts-left"`) != true || strings.Contains(dash, `id="burn-rate"`) != (email == "finance@acme.example") {
			t.Fatalf("%s dashboard: %s", email, dash)
		}
	}
	if p := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil); p.str("policy") != "overage" {
		t.Fatalf("policy changed: %s", p.Body)
	}
	if k := ts.call(t, "GET", "/api/v1/api-keys", a.Token, nil); strings.Contains(string(k.Body), `"name"`) {
		t.Fatalf("a key was created: %s", k.Body)
	}
}

func TestPages_UsagePolicyFormKeepsInputOnError(t *testing.T) {
	ts := newServer(t)
	ts.signup(t, "acme")
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)
	_, page, token := b.get("/usage")
	if !strings.Contains(page, `value="overage" id="policy-overage" checked`) || !strings.Contains(page, `value="20, 5, 0"`) {
		t.Fatalf("usage page: %s", page)
	}
	// Without the CSRF token nothing happens.
	if resp, _ := b.post("/usage/policy", url.Values{"policy": {"block"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	resp, body := b.post("/usage/policy", url.Values{"_csrf": {token}, "policy": {"auto_topup"},
		"topup_threshold": {"10"}, "warn_percents": {"30, 10"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "auto_topup needs") ||
		!strings.Contains(body, `value="30, 10"`) || !strings.Contains(body, `value="10"`) || !strings.Contains(body, `value="auto_topup" id="policy-auto_topup" checked`) {
		t.Fatalf("invalid form: %d %s", resp.StatusCode, body)
	}
	resp, body = b.post("/usage/policy", url.Values{"_csrf": {token}, "policy": {"block"}, "topup_threshold": {"nine"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "whole number") {
		t.Fatalf("bad number: %d %s", resp.StatusCode, body)
	}
	// The attack of issue #15 item 1 through the form: a price of its own.
	resp, body = b.post("/usage/policy", url.Values{"_csrf": {token}, "policy": {"auto_topup"}, "topup_threshold": {"10"},
		"topup_tier": {"bundle-10k"}, "topup_price_minor": {"0"}, "topup_contacts": {"1000000000"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "cannot be set") {
		t.Fatalf("price in the form: %d %s", resp.StatusCode, body)
	}
	resp, _ = b.post("/usage/policy", url.Values{"_csrf": {token}, "policy": {"auto_topup"},
		"topup_threshold": {"10"}, "topup_tier": {"bundle-10k"}, "warn_percents": {"30%, 10%"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/usage?done=saved" {
		t.Fatalf("valid form: %d", resp.StatusCode)
	}
	_, page, _ = b.get("/usage?done=saved")
	for _, want := range []string{`id="notice"`, `value="auto_topup" id="policy-auto_topup" checked`, `value="30, 10"`,
		`<option value="bundle-10k" selected>`, `id="overage-price"`, `0.05 EUR`, `pay-as-you-go rate`} {
		if !strings.Contains(page, want) {
			t.Fatalf("saved page lacks %s: %s", want, page)
		}
	}
}

var newKeyField = regexp.MustCompile(`id="new-api-key" class="wide" readonly value="([^"]+)"`)

func TestPages_APIKeyShownOnceAndRevoked(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)
	_, _, token := b.get("/usage")
	resp, body := b.post("/usage/api-keys", url.Values{"_csrf": {token}, "name": {"PBX bridge"}})
	m := newKeyField.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.HasPrefix(m[1], "ck1.") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	key := m[1]
	_, page, _ := b.get("/usage")
	if strings.Contains(page, key[strings.LastIndex(key, ".")+1:]) || !strings.Contains(page, "PBX bridge") {
		t.Fatalf("the key is shown again or not listed: %s", page)
	}
	if r, _ := ts.ingest(t, key, handled("k", 2, "chat"), http.StatusOK); len(r.Accepted) != 2 {
		t.Fatalf("ingest: %+v", r)
	}
	id := strings.Split(key, ".")[2]
	resp, _ = b.post("/usage/api-keys/"+id+"/revoke", url.Values{"_csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	ts.ingest(t, key, handled("k2", 1, "chat"), http.StatusUnauthorized)

	// Another tenant's owner cannot revoke A's key.
	ts.signup(t, "bravo")
	ob := newBrowserClient(t, b.base)
	ob.login("bravo", "owner@bravo.example", goodPassword)
	_, _, otoken := ob.get("/usage")
	key2, id2 := ts.apiKey(t, a, "second")
	if resp, _ := ob.post("/usage/api-keys/"+id2+"/revoke", url.Values{"_csrf": {otoken}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("B revokes A's key: %d", resp.StatusCode)
	}
	ts.ingest(t, key2, handled("k3", 1, "chat"), http.StatusOK)
}

func TestPages_DashboardUsageAndChart(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	key, _ := ts.apiKey(t, a, "PBX")
	ts.ingest(t, key, handled("c", 120, "chat"), http.StatusOK)
	ts.ingest(t, key, handled("v", 140, "voice"), http.StatusOK)
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", goodPassword)
	_, page, _ := b.get("/dashboard")
	for _, want := range []string{
		`id="contacts-left">0<`, `id="overage">10<`, `id="overage-cost">0.50 EUR<`, `id="burn-rate">37.1<`, `id="run-out">now<`,
		`<svg id="usage-chart"`, `class="ch-chat"`, `class="ch-voice"`, `260 contacts from`, `id="no-bundle"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	if strings.Contains(page, "style=") {
		t.Error("the dashboard uses inline styles, which the CSP forbids")
	}
	if t.Failed() {
		t.Log(page)
	}
}

func TestBrowser_OwnerSetsPolicyCreatesKeySeesBalance(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	base := ts.listen(t)
	br := newBrowser(t)

	run(t, br, "log in",
		chromedp.Navigate(base+"/login"),
		fill(`#login-form input[name=tenant]`, "acme"),
		fill(`#login-form input[name=email]`, "owner@acme.example"),
		fill(`#login-form input[name=password]`, goodPassword),
		click(`#login-form button[type=submit]`),
		visible("#burn-rate"),
	)
	if got := read(t, br, "#contacts-left"); got != "250" {
		t.Fatalf("contacts left %q", got)
	}
	if got := read(t, br, "#run-out-why"); !strings.Contains(got, "no contacts in the last 7 days") {
		t.Fatalf("run-out %q", got)
	}

	run(t, br, "open usage from the navigation", click(`header nav a[href="/usage"]`), visible("#policy-form"))
	run(t, br, "choose block",
		click("#policy-block"),
		click(`#policy-form button[type=submit]`),
		visible("#notice"),
	)
	if p := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil); p.str("policy") != "block" {
		t.Fatalf("policy after the form: %s", p.Body)
	}

	run(t, br, "create an API key",
		fill(`#api-key-form input[name=name]`, "PBX bridge"),
		click(`#api-key-form button[type=submit]`),
		visible("#new-api-key"),
	)
	key := read(t, br, "input#new-api-key")
	if !strings.HasPrefix(key, "ck1.") {
		t.Fatalf("key %q", key)
	}
	run(t, br, "the key is shown once", chromedp.Navigate(base+"/usage"), visible("#api-keys"))
	if keys := read(t, br, "#api-keys"); !strings.Contains(keys, "PBX bridge") || !strings.Contains(keys, "active") {
		t.Fatalf("keys table %q", keys)
	}
	if html := pageText(br); strings.Contains(html, key) {
		t.Fatal("the key is shown again")
	}

	// The integrator reports 260 contacts: 250 from the trial; under
	// block the 10 beyond are refused (no_credit), never overage.
	ts.ingest(t, key, handled("pbx", 260, "voice"), http.StatusOK)
	if _, err := ts.DB.Owner.Exec(t.Context(), `INSERT INTO balance_warnings (tenant_id, cycle, percent, remaining) VALUES ($1, 250, 0, 0)`, a.TenantID); err != nil {
		t.Fatal(err)
	}
	run(t, br, "dashboard", chromedp.Navigate(base+"/dashboard"), visible("#usage-chart"))
	if got := read(t, br, "#contacts-left"); got != "0" {
		t.Fatalf("contacts left %q", got)
	}
	if got := read(t, br, "#overage"); got != "0" {
		t.Fatalf("overage %q", got)
	}
	if got := read(t, br, "#no-bundle"); !strings.Contains(got, "refused") {
		t.Fatalf("no-bundle %q", got)
	}
	if got := read(t, br, "#low-balance"); !strings.Contains(got, "No contacts left") {
		t.Fatalf("warning %q", got)
	}
	run(t, br, "dismiss the warning", click("#dismiss-warnings"), chromedp.WaitNotPresent(chromedp.CSS("#low-balance")), visible("#usage-chart"))
	if ws, err := metering.UnreadWarnings(t.Context(), ts.Tenants.DB, a.TenantID); err != nil || len(ws) != 0 {
		t.Fatalf("unread warnings after dismissing: %v %v", ws, err)
	}
	if bars, err := chromedp.Run(br, chromedp.Evaluate[int](`document.querySelectorAll("#usage-chart rect.ch-voice").length`)); err != nil || bars != 1 {
		t.Fatalf("voice bars %d %v", bars, err)
	}
}
