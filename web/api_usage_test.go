package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/web"
)

// apiKey creates an API key for c and returns it.
func (ts *testServer) apiKey(t testing.TB, c company, name string) (key, id string) {
	t.Helper()
	k := ts.call(t, "POST", "/api/v1/api-keys", c.Token, map[string]any{"name": name}).mustStatus(t, http.StatusCreated)
	return k.str("key"), k.str("id")
}

// handled makes n contacts with ids prefix-0 ... handled a minute ago.
func handled(prefix string, n int, channel string) []map[string]any {
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"id": fmt.Sprintf("%s-%d", prefix, i), "channel": channel, "direction": "inbound",
			"handled_at": at, "queue": "support", "department": "Sales", "campaign": "spring", "agent": "a-1"}
	}
	return out
}

// ingestResult is the decoded answer of POST /usage/contacts.
type ingestResult struct {
	Accepted   []string `json:"accepted"`
	Duplicates []string `json:"duplicates"`
	Errors     []struct {
		ID, Code, Message string
	} `json:"errors"`
}

func (ts *testServer) ingest(t testing.TB, key string, items any, want int) (ingestResult, answer) {
	t.Helper()
	a := ts.call(t, "POST", "/api/v1/usage/contacts", key, map[string]any{"contacts": items}).mustStatus(t, want)
	var r ingestResult
	if want == http.StatusOK {
		if err := json.Unmarshal(a.Body, &r); err != nil {
			t.Fatal(err)
		}
		if r.Accepted == nil || r.Duplicates == nil || r.Errors == nil {
			t.Fatalf("lists must be [] rather than null: %s", a.Body)
		}
	}
	return r, a
}

// balance reads GET /usage/balance as c.
func (ts *testServer) balance(t testing.TB, c company) answer {
	t.Helper()
	return ts.call(t, "GET", "/api/v1/usage/balance", c.Token, nil).mustStatus(t, http.StatusOK)
}

func num(a answer, key string) float64 {
	v, _ := a.JSON[key].(float64)
	return v
}

func TestIngest_AcceptsDuplicatesAndItemErrors(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	key, keyID := ts.apiKey(t, a, "PBX bridge")

	items := handled("c", 3, "voice")
	items = append(items,
		map[string]any{"id": "bad-channel", "channel": "pigeon", "handled_at": time.Now().UTC().Format(time.RFC3339)},
		map[string]any{"id": "bad-time", "channel": "chat", "handled_at": "yesterday"},
		map[string]any{"id": 42, "channel": "chat"},
		map[string]any{"id": "extra", "channel": "chat", "handled_at": time.Now().UTC().Format(time.RFC3339), "colour": "red"},
		map[string]any{"id": "no-time", "channel": "chat"},
		map[string]any{"id": strings.Repeat("x", 129), "channel": "chat", "handled_at": time.Now().UTC().Format(time.RFC3339)},
	)
	r, _ := ts.ingest(t, key, items, http.StatusOK)
	if strings.Join(r.Accepted, ",") != "c-0,c-1,c-2" || len(r.Duplicates) != 0 || len(r.Errors) != 6 {
		t.Fatalf("first send: %+v", r)
	}
	codes := map[string]string{}
	for _, e := range r.Errors {
		if e.Message == "" {
			t.Errorf("error without message: %+v", e)
		}
		codes[e.ID] = e.Code
	}
	for id, code := range map[string]string{"bad-channel": "invalid_channel", "bad-time": "invalid_handled_at", "42": "invalid_item",
		"extra": "invalid_item", "no-time": "missing_handled_at", strings.Repeat("x", 129): "invalid_id"} {
		if codes[id] != code {
			t.Errorf("item %q: code %q, want %q (all: %v)", id, codes[id], code, codes)
		}
	}

	// Re-sending is harmless: the known ids come back as duplicates.
	again := append(handled("c", 3, "voice"), handled("d", 2, "chat")...)
	r, _ = ts.ingest(t, key, again, http.StatusOK)
	if strings.Join(r.Accepted, ",") != "d-0,d-1" || strings.Join(r.Duplicates, ",") != "c-0,c-1,c-2" || len(r.Errors) != 0 {
		t.Fatalf("re-send: %+v", r)
	}
	// The same id twice in one batch is metered once.
	r, _ = ts.ingest(t, key, append(handled("e", 1, "sms"), handled("e", 1, "sms")...), http.StatusOK)
	if strings.Join(r.Accepted, ",") != "e-0" || strings.Join(r.Duplicates, ",") != "e-0" {
		t.Fatalf("same id twice: %+v", r)
	}
	var records int
	if err := ts.DB.Owner.QueryRow(t.Context(), `SELECT count(*) FROM meter_records WHERE tenant_id = $1 AND source = 'api'
		AND department = 'Sales' AND campaign = 'spring'`, a.TenantID).Scan(&records); err != nil {
		t.Fatal(err)
	}
	if records != 6 {
		t.Fatalf("%d records, want 6", records)
	}
	if b := ts.balance(t, a); num(b, "total_remaining") != 244 {
		t.Fatalf("balance after 6: %s", b.Body)
	}

	// Batch limits and malformed bodies refuse the whole call.
	if _, ans := ts.ingest(t, key, handled("big", 1001, "chat"), http.StatusBadRequest); ans.errCode() != "batch_too_large" {
		t.Fatalf("1001 items: %s", ans.Body)
	}
	if _, ans := ts.ingest(t, key, []any{}, http.StatusBadRequest); ans.errCode() != "empty_batch" {
		t.Fatalf("empty: %s", ans.Body)
	}
	for _, body := range []string{`{"contacts":`, `{"contacts": {}}`, `{"items": []}`, `[]`, ``} {
		ans := ts.call(t, "POST", "/api/v1/usage/contacts", key, body).mustStatus(t, http.StatusBadRequest)
		if ans.errCode() != "invalid_json" {
			t.Errorf("body %q: %s", body, ans.Body)
		}
	}
	ts.call(t, "POST", "/api/v1/usage/contacts", key, map[string]any{}).mustStatus(t, http.StatusBadRequest)

	// A full batch of 1,000 with every dimension at its longest fits the body limit.
	full := handled("full", 1000, "email")
	for _, it := range full {
		for _, k := range []string{"queue", "department", "campaign", "agent"} {
			it[k] = strings.Repeat("q", 200)
		}
	}
	if r, _ := ts.ingest(t, key, full, http.StatusOK); len(r.Accepted) != 1000 {
		t.Fatalf("1000 items: %d accepted, %d errors", len(r.Accepted), len(r.Errors))
	}

	// Revoked keys are refused.
	ts.call(t, "DELETE", "/api/v1/api-keys/"+keyID, a.Token, nil).mustStatus(t, http.StatusOK)
	if _, ans := ts.ingest(t, key, handled("f", 1, "chat"), http.StatusUnauthorized); ans.errCode() != "invalid_api_key" {
		t.Fatalf("revoked key: %s", ans.Body)
	}
}

func TestIngest_NeedsAnAPIKeyAndNothingElse(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	key, _ := ts.apiKey(t, a, "PBX")
	body := map[string]any{"contacts": handled("x", 1, "chat")}
	for name, token := range map[string]string{
		"no credentials": "",
		"user token":     a.Token,
		"forged key":     key[:len(key)-4] + "AAAA",
		"garbage":        "ck1.not-a-key",
	} {
		ans := ts.call(t, "POST", "/api/v1/usage/contacts", token, body).mustStatus(t, http.StatusUnauthorized)
		if ans.errCode() != "api_key_required" && ans.errCode() != "invalid_api_key" {
			t.Errorf("%s: %s", name, ans.Body)
		}
	}
	// The key opens ingest only: not the user API.
	for _, path := range []string{"/api/v1/me", "/api/v1/usage/balance", "/api/v1/api-keys"} {
		ts.call(t, "GET", path, key, nil).mustStatus(t, http.StatusUnauthorized)
	}
	ts.call(t, "PUT", "/api/v1/usage/policy", key, map[string]any{"policy": "block"}).mustStatus(t, http.StatusUnauthorized)
	// Nothing was metered by the refused calls.
	if b := ts.balance(t, a); num(b, "total_remaining") != 250 || num(b, "contacts_last_7_days") != 0 {
		t.Fatalf("balance: %s", b.Body)
	}
}

func TestIsolation_UsageIsPerTenant(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	keyA, _ := ts.apiKey(t, a, "PBX A")
	keyB, _ := ts.apiKey(t, b, "PBX B")

	// A's key meters into A only, even for ids B also uses.
	if r, _ := ts.ingest(t, keyA, handled("same", 30, "voice"), http.StatusOK); len(r.Accepted) != 30 {
		t.Fatalf("A: %+v", r)
	}
	if r, _ := ts.ingest(t, keyB, handled("same", 5, "chat"), http.StatusOK); len(r.Accepted) != 5 || len(r.Duplicates) != 0 {
		t.Fatalf("B's ids are its own: %+v", r)
	}
	ba, bb := ts.balance(t, a), ts.balance(t, b)
	if num(ba, "total_remaining") != 220 || num(bb, "total_remaining") != 245 || num(bb, "contacts_last_7_days") != 5 {
		t.Fatalf("balances A %s B %s", ba.Body, bb.Body)
	}
	// B's answers carry none of A's bundles.
	for _, bundle := range ba.JSON["bundles"].([]any) {
		id := bundle.(map[string]any)["id"].(string)
		if bytes.Contains(bb.Body, []byte(id)) {
			t.Fatalf("B's balance shows A's bundle %s", id)
		}
	}
	today := time.Now().UTC().Format(time.DateOnly)
	db := ts.call(t, "GET", "/api/v1/usage/daily?from="+today+"&to="+today, b.Token, nil).mustStatus(t, http.StatusOK)
	day := db.JSON["days"].([]any)[0].(map[string]any)
	if day["total"].(float64) != 5 || day["channels"].(map[string]any)["voice"].(float64) != 0 {
		t.Fatalf("B's daily shows A's contacts: %s", db.Body)
	}
	// B's key cannot see A's data through the ingest answer either.
	if r, _ := ts.ingest(t, keyB, handled("same", 30, "voice"), http.StatusOK); len(r.Accepted) != 25 || len(r.Duplicates) != 5 {
		t.Fatalf("B re-sends: %+v", r)
	}
	if after := ts.balance(t, a); num(after, "total_remaining") != 220 {
		t.Fatalf("A's balance changed under B: %s", after.Body)
	}
	var leaked int
	if err := ts.DB.Owner.QueryRow(t.Context(), `SELECT count(*) FROM meter_records WHERE tenant_id = $1 AND channel = 'chat'`, a.TenantID).Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Fatalf("%d of B's contacts metered into A", leaked)
	}
}

func TestUsage_BalanceAfterOverage(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	key, _ := ts.apiKey(t, a, "PBX")
	for i := range 3 {
		if r, _ := ts.ingest(t, key, handled(fmt.Sprintf("b%d", i), 100, "chat"), http.StatusOK); len(r.Accepted) != 100 {
			t.Fatalf("batch %d: %+v", i, r)
		}
	}
	b := ts.balance(t, a)
	if num(b, "total_remaining") != 0 || len(b.JSON["bundles"].([]any)) != 0 || num(b, "overage_contacts") != 50 ||
		num(b, "overage_cost_minor") != 250 || num(b, "contacts_last_7_days") != 300 || b.str("burn_rate_per_day") != "42.9" ||
		b.str("run_out") != "none_left" || b.JSON["projected_run_out"] != nil || b.str("policy") != "overage" || b.str("currency") != "EUR" {
		t.Fatalf("balance: %s", b.Body)
	}

	fresh := ts.signup(t, "bravo")
	fb := ts.balance(t, fresh)
	bundles := fb.JSON["bundles"].([]any)
	if num(fb, "total_remaining") != 250 || len(bundles) != 1 {
		t.Fatalf("fresh balance: %s", fb.Body)
	}
	for _, k := range []string{"id", "source", "contacts", "remaining", "valid_until", "price_minor", "currency"} {
		if _, ok := bundles[0].(map[string]any)[k]; !ok {
			t.Errorf("bundle lacks %q: %s", k, fb.Body)
		}
	}
}

func TestUsage_DailyValidatesItsRange(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	key, _ := ts.apiKey(t, a, "PBX")
	items := handled("v", 2, "voice")
	items[1]["handled_at"] = time.Now().UTC().AddDate(0, 0, -2).Format(time.RFC3339)
	ts.ingest(t, key, items, http.StatusOK)

	d := ts.call(t, "GET", "/api/v1/usage/daily", a.Token, nil).mustStatus(t, http.StatusOK)
	days := d.JSON["days"].([]any)
	if len(days) != 30 || d.str("to") != time.Now().UTC().Format(time.DateOnly) {
		t.Fatalf("default range: %d days to %s", len(days), d.str("to"))
	}
	var total float64
	for _, x := range days {
		total += x.(map[string]any)["total"].(float64)
	}
	if total != 2 {
		t.Fatalf("total %v: %s", total, d.Body)
	}
	for q, code := range map[string]string{
		"from=2025-13-01&to=2025-12-31": "invalid_date",
		"from=yesterday":                "invalid_date",
		"from=2025-03-02&to=2025-03-01": "invalid_range",
		"from=2024-01-01&to=2025-12-31": "range_too_long",
	} {
		if ans := ts.call(t, "GET", "/api/v1/usage/daily?"+q, a.Token, nil).mustStatus(t, http.StatusBadRequest); ans.errCode() != code {
			t.Errorf("%s: %s", q, ans.Body)
		}
	}
	ok := ts.call(t, "GET", "/api/v1/usage/daily?from=2024-01-01&to=2024-12-31", a.Token, nil).mustStatus(t, http.StatusOK)
	if n := len(ok.JSON["days"].([]any)); n != 366 {
		t.Fatalf("leap year: %d days", n)
	}
}

func TestUsage_RolesAndPolicy(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	finance := ts.createUser(t, a, "finance@acme.example", "finance")
	supervisor := ts.createUser(t, a, "sup@acme.example", "supervisor")
	admin := ts.createUser(t, a, "admin@acme.example", "admin")

	for _, path := range []string{"/api/v1/usage/balance", "/api/v1/usage/daily", "/api/v1/usage/policy"} {
		for _, who := range []company{a, admin, finance, supervisor} {
			ts.call(t, "GET", path, who.Token, nil).mustStatus(t, http.StatusOK)
		}
		ts.call(t, "GET", path, agent.Token, nil).mustStatus(t, http.StatusForbidden)
		ts.call(t, "GET", path, "", nil).mustStatus(t, http.StatusUnauthorized)
	}
	p := ts.call(t, "GET", "/api/v1/usage/policy", finance.Token, nil)
	if p.str("policy") != "overage" || num(p, "overage_price_minor") != 5 {
		t.Fatalf("default policy: %s", p.Body)
	}

	for _, who := range []company{agent, finance, supervisor} {
		ts.call(t, "PUT", "/api/v1/usage/policy", who.Token, map[string]any{"policy": "block"}).mustStatus(t, http.StatusForbidden)
		ts.call(t, "PUT", "/api/v1/usage/policy", who.Token, `{"policy":`).mustStatus(t, http.StatusForbidden)
	}
	for body, code := range map[string]string{
		`{"policy":"pray"}`:          "invalid_policy",
		`{"policy":"auto_topup"}`:    "topup_incomplete",
		`{"overage_price_minor":-1}`: "price_not_settable",
		`{"policy":"auto_topup","topup_threshold":5,"topup_tier":"bundle-nope"}`: "unknown_tier",
		`{"warn_percents":[5,20]}`:                   "invalid_warn_percents",
		`{"warn_percents":[100,80,60,40,20,0]}`:      "invalid_warn_percents",
		`{"policy":"block","topup_validity_days":0}`: "price_not_settable",
		`{"topup_threshold":"x"}`:                    "invalid_json",
		`{"polcy":"block"}`:                          "invalid_json",
		`{"policy":5}`:                               "invalid_json",
	} {
		if ans := ts.call(t, "PUT", "/api/v1/usage/policy", admin.Token, body).mustStatus(t, http.StatusBadRequest); ans.errCode() != code {
			t.Errorf("%s: %s", body, ans.Body)
		}
	}
	if p := ts.call(t, "GET", "/api/v1/usage/policy", a.Token, nil); p.str("policy") != "overage" {
		t.Fatalf("a refused PUT changed the policy: %s", p.Body)
	}

	set := ts.call(t, "PUT", "/api/v1/usage/policy", admin.Token, map[string]any{
		"policy": "auto_topup", "topup_threshold": 50, "topup_tier": "bundle-10k",
	}).mustStatus(t, http.StatusOK)
	if set.str("policy") != "auto_topup" || set.str("topup_tier") != "bundle-10k" || num(set, "overage_price_minor") != 5 || set.str("overage_price_source") != "catalogue" {
		t.Fatalf("auto top-up: %s", set.Body)
	}
	// Fields left out keep their value.
	set = ts.call(t, "PUT", "/api/v1/usage/policy", a.Token, map[string]any{"policy": "block", "warn_percents": []int{10, 0}}).mustStatus(t, http.StatusOK)
	if set.str("policy") != "block" || set.str("topup_tier") != "bundle-10k" || len(set.JSON["warn_percents"].([]any)) != 2 {
		t.Fatalf("block: %s", set.Body)
	}
	if b := ts.balance(t, finance); b.str("policy") != "block" {
		t.Fatalf("balance policy: %s", b.Body)
	}
	audit := ts.call(t, "GET", "/api/v1/audit", a.Token, nil).mustStatus(t, http.StatusOK)
	if bytes.Count(audit.Body, []byte(`"metering.settings"`)) != 2 {
		t.Fatalf("audit: %s", audit.Body)
	}
	// Another tenant's policy is untouched.
	b := ts.signup(t, "bravo")
	if p := ts.call(t, "GET", "/api/v1/usage/policy", b.Token, nil); p.str("policy") != "overage" {
		t.Fatalf("B's policy: %s", p.Body)
	}
}

func TestIngest_MeteringDownIs503(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	key, _ := ts.apiKey(t, a, "PBX")
	// The same database behind a server whose Meter is not running.
	srv, err := web.New(web.Config{Tenants: ts.Tenants, Pool: ts.DB.App, Redis: ts.Rdb, RedisPrefix: testenv.Prefix(),
		Meter: metering.NewMeter(ts.Tenants.DB), Seats: ts.Seats, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	down := &testServer{Server: srv, Tenants: ts.Tenants, DB: ts.DB}
	_, ans := down.ingest(t, key, handled("x", 2, "chat"), http.StatusServiceUnavailable)
	if ans.errCode() != "metering_unavailable" {
		t.Fatalf("%s", ans.Body)
	}
	if ans.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %v", ans.Header)
	}
	// Items refused by validation alone need no metering.
	r, _ := down.ingest(t, key, []map[string]any{{"id": "bad", "channel": "pigeon"}}, http.StatusOK)
	if len(r.Errors) != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestIngest_BodyLimitIsItsOwn(t *testing.T) {
	ts := newServer(t) // BodyLimit 64 KiB; ingest keeps the 4 MiB default
	a := ts.signup(t, "acme")
	key, _ := ts.apiKey(t, a, "PBX")
	base := ts.listen(t)
	post := func(path, token string, body []byte) answer {
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		ans := answer{Status: resp.StatusCode, Body: raw}
		_ = json.Unmarshal(raw, &ans.JSON)
		return ans
	}
	// 200 KiB: over the general limit, fine for ingest.
	items := handled("x", 1000, "chat")
	for _, it := range items {
		it["agent"] = strings.Repeat("a", 200)
	}
	body, _ := json.Marshal(map[string]any{"contacts": items})
	if len(body) < 128<<10 {
		t.Fatalf("test body only %d bytes", len(body))
	}
	post("/api/v1/usage/contacts", key, body).mustStatus(t, http.StatusOK)
	// The same size elsewhere is refused.
	if ans := post("/api/v1/departments", a.Token, body).mustStatus(t, http.StatusRequestEntityTooLarge); ans.errCode() != "body_too_large" {
		t.Fatalf("%s", ans.Body)
	}
	// Over 4 MiB even ingest refuses: with a 413 or, as the server stops
	// reading, by closing the connection while the client still writes.
	huge := []byte(`{"contacts":[{"id":"` + strings.Repeat("x", 5<<20) + `"}]}`)
	req, _ := http.NewRequest("POST", base+"/api/v1/usage/contacts", bytes.NewReader(huge))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("5 MiB: %d", resp.StatusCode)
		}
	}
}
