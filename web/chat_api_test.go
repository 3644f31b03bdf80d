package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestChatWidgets_AdminAPI_SnippetValidationRoles(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 1)
	created := ts.call(t, "POST", "/api/v1/chat/widgets", rc.Token, map[string]any{"name": "Shop", "queue_id": rc.queue,
		"allowed_origins": []string{"https://Shop.Example:443", "http://localhost:8080"}, "greeting": "Hi"}).mustStatus(t, http.StatusCreated)
	key, id := created.str("key"), created.str("id")
	if !strings.HasPrefix(key, "cw1."+rc.TenantID.String()+".") {
		t.Fatalf("key %q", key)
	}
	if want := `<script src="http://cic.test/widget.js" data-key="` + key + `" async></script>`; created.str("snippet") != want {
		t.Errorf("snippet %q, want %q", created.str("snippet"), want)
	}
	if o := created.JSON["allowed_origins"].([]any); len(o) != 2 || o[0] != "https://shop.example" {
		t.Errorf("origins stored as %v, want normalised", o)
	}
	list := ts.call(t, "GET", "/api/v1/chat/widgets", rc.Token, nil).mustStatus(t, http.StatusOK)
	if ws := list.JSON["widgets"].([]any); len(ws) != 1 || ws[0].(map[string]any)["snippet"] == "" {
		t.Fatalf("list: %s", list.Body)
	}
	agent := rc.agents[0]
	ts.call(t, "GET", "/api/v1/chat/widgets", agent.Token, nil).mustStatus(t, http.StatusForbidden)
	ts.call(t, "POST", "/api/v1/chat/widgets", agent.Token, map[string]any{"queue_id": rc.queue, "allowed_origins": []string{site}}).mustStatus(t, http.StatusForbidden)
	ts.call(t, "DELETE", "/api/v1/chat/widgets/"+id, agent.Token, nil).mustStatus(t, http.StatusForbidden)
	ts.call(t, "GET", "/api/v1/chat/widgets", "", nil).mustStatus(t, http.StatusUnauthorized)
	for body, code := range map[string]string{
		`{"queue_id":"` + rc.queue + `","allowed_origins":["*"]}`:                         "invalid_origin",
		`{"queue_id":"` + rc.queue + `","allowed_origins":["https://*.shop.example"]}`:    "invalid_origin",
		`{"queue_id":"` + rc.queue + `","allowed_origins":["https://shop.example/page"]}`: "invalid_origin",
		`{"queue_id":"` + rc.queue + `","allowed_origins":[]}`:                            "invalid_origin",
		`{"queue_id":"` + rc.TenantID.String() + `","allowed_origins":["` + site + `"]}`:  "invalid_queue",
		`{"queue_id":"nope","allowed_origins":["` + site + `"]}`:                          "invalid_json",
		`{"queue_id":"` + rc.queue + `","allowed_origin":["` + site + `"]}`:               "invalid_json",
		`{`: "invalid_json",
		``:  "invalid_json",
	} {
		if a := ts.call(t, "POST", "/api/v1/chat/widgets", rc.Token, body).mustStatus(t, http.StatusBadRequest); a.errCode() != code {
			t.Errorf("%s: %s, want %s", body, a.Body, code)
		}
	}
	// The allowed sites change through the API too; only the tenant's
	// managers may, and another tenant does not find the widget.
	origins := "/api/v1/chat/widgets/" + id + "/origins"
	changed := ts.call(t, "PUT", origins, rc.Token, map[string]any{"allowed_origins": []string{"https://Other.Example"}}).mustStatus(t, http.StatusOK)
	if o := changed.JSON["allowed_origins"].([]any); len(o) != 1 || o[0] != "https://other.example" {
		t.Errorf("origins after the change: %v", o)
	}
	if a := ts.call(t, "PUT", origins, rc.Token, map[string]any{"allowed_origins": []string{"*"}}).mustStatus(t, http.StatusBadRequest); a.errCode() != "invalid_origin" {
		t.Errorf("bad origin: %s", a.Body)
	}
	ts.call(t, "PUT", origins, agent.Token, map[string]any{"allowed_origins": []string{site}}).mustStatus(t, http.StatusForbidden)
	beta := ts.signup(t, "beta")
	ts.call(t, "PUT", origins, beta.Token, map[string]any{"allowed_origins": []string{site}}).mustStatus(t, http.StatusNotFound)
	if after := ts.call(t, "GET", "/api/v1/chat/widgets", rc.Token, nil).mustStatus(t, http.StatusOK); !strings.Contains(string(after.Body), `"allowed_origins":["https://other.example"]`) {
		t.Errorf("another tenant's attempt changed the widget: %s", after.Body)
	}
	revoked := ts.call(t, "DELETE", "/api/v1/chat/widgets/"+id, rc.Token, nil).mustStatus(t, http.StatusOK)
	if revoked.JSON["revoked_at"] == nil {
		t.Errorf("revoke: %s", revoked.Body)
	}
	ts.call(t, "DELETE", "/api/v1/chat/widgets/not-an-id", rc.Token, nil).mustStatus(t, http.StatusNotFound)
}

func TestChatWidget_ScriptServedForCrossOriginUse(t *testing.T) {
	ts := newServer(t)
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/widget.js", "text/javascript", "data-key"},
		{"/widget.css", "text/css", ".cic-chat-button"},
	} {
		a := ts.call(t, "GET", tc.path, "", nil).mustStatus(t, http.StatusOK)
		if !strings.HasPrefix(a.Header.Get("Content-Type"), tc.ctype) || a.Header.Get("Cross-Origin-Resource-Policy") != "cross-origin" ||
			a.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(string(a.Body), tc.contains) {
			t.Errorf("%s: %d %v", tc.path, a.Status, a.Header)
		}
	}
}

// TestChatWidget_WrongKeyRevokedKeyOtherOrigin403_NoContact: the public
// start call refuses each with 403 and an error body, and no contact is
// made; the CORS preflight answers only the allowed origins.
func TestChatWidget_WrongKeyRevokedKeyOtherOrigin403_NoContact(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 0)
	key, _ := ts.widget(t, rc, site)
	revokedKey, revokedID := ts.widget(t, rc, site)
	ts.call(t, "DELETE", "/api/v1/chat/widgets/"+revokedID, rc.Token, nil).mustStatus(t, http.StatusOK)

	for _, tc := range []struct {
		name, key, origin, code string
	}{
		{"wrong key", "cw1." + rc.TenantID.String() + ".AAAAAAAAAAAAAAAAAAAAAAAA", site, "invalid_widget_key"},
		{"malformed key", "hello", site, "invalid_widget_key"},
		{"API key", rc.key, site, "invalid_widget_key"},
		{"revoked key", revokedKey, site, "invalid_widget_key"},
		{"origin off the list", key, "https://evil.example", "origin_not_allowed"},
		{"same host over http", key, "http://shop.example", "origin_not_allowed"},
		{"no origin", key, "", "origin_not_allowed"},
	} {
		a := ts.startChat(t, tc.key, tc.origin, map[string]any{}).mustStatus(t, http.StatusForbidden)
		if a.errCode() != tc.code || a.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: %s (ACAO %q), want %s without CORS", tc.name, a.Body, a.Header.Get("Access-Control-Allow-Origin"), tc.code)
		}
	}
	if l := ts.call(t, "GET", "/api/v1/contacts", rc.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["contacts"].([]any)) != 0 {
		t.Fatalf("refused starts made contacts: %s", l.Body)
	}

	preflight := func(key, origin string) answer {
		req := newRequest("OPTIONS", "/chat/v1/sessions?key="+url.QueryEscape(key), nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		return ts.do(t, req)
	}
	ok := preflight(key, site)
	if ok.Status != http.StatusNoContent || ok.Header.Get("Access-Control-Allow-Origin") != site ||
		!strings.Contains(ok.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(ok.Header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Errorf("preflight from the allowed origin: %d %v", ok.Status, ok.Header)
	}
	for _, tc := range []struct{ key, origin string }{{key, "https://evil.example"}, {revokedKey, site}, {"nope", site}, {key, ""}} {
		a := preflight(tc.key, tc.origin).mustStatus(t, http.StatusForbidden)
		if a.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %s from %q allowed: %v", tc.key, tc.origin, a.Header)
		}
	}

	started := ts.startChat(t, key, site, map[string]any{"visitor_id": "abc"}).mustStatus(t, http.StatusCreated)
	if started.Header.Get("Access-Control-Allow-Origin") != site || started.str("token") == "" || started.str("greeting") != "Hello! How can we help?" {
		t.Fatalf("start: %v %s", started.Header, started.Body)
	}
	d := ts.call(t, "GET", "/api/v1/contacts/"+started.str("contact_id"), rc.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("channel") != "chat" || d.str("customer_ref") != "web:abc" || d.str("state") != "queued" {
		t.Errorf("contact: %s", d.Body)
	}
	// Bad input from the allowed origin is a readable 400.
	for body, code := range map[string]string{`{"visitor_id":"has space"}`: "invalid_visitor_id", `{"visitor":"x"}`: "invalid_json", `{`: "invalid_json"} {
		a := ts.startChat(t, key, site, body).mustStatus(t, http.StatusBadRequest)
		if a.errCode() != code || a.Header.Get("Access-Control-Allow-Origin") != site {
			t.Errorf("start %s: %s %v", body, a.Body, a.Header)
		}
	}
	// ...and from any other origin, a 403 that says nothing more.
	ts.startChat(t, key, "https://evil.example", `{`).mustStatus(t, http.StatusForbidden)
}

func TestChat_BlockPolicyWithNoContactsLeft_StartAnswersUnavailable(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 1)
	key, _ := ts.widget(t, rc, site)
	ts.call(t, "PUT", "/api/v1/usage/policy", rc.Token, map[string]any{"policy": "block"}).mustStatus(t, http.StatusOK)
	ts.ingest(t, rc.key, handled("used", 250, "chat"), http.StatusOK)
	if r := ts.remaining(t, rc.company); r != 0 {
		t.Fatalf("remaining %v, want 0", r)
	}
	a := ts.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusServiceUnavailable)
	if a.errCode() != "service_unavailable" || !strings.Contains(a.str("error", "message"), "unavailable") ||
		a.Header.Get("Access-Control-Allow-Origin") != site {
		t.Fatalf("start when blocked: %s %v", a.Body, a.Header)
	}
	// Outside business hours, the queue's closed message: the queue opens
	// tomorrow only.
	tomorrow := strings.ToLower(time.Now().UTC().Add(24 * time.Hour).Weekday().String()[:3])
	ts.call(t, "PATCH", "/api/v1/queues/"+rc.queue, rc.Token, map[string]any{"closed_message": "We open at 8.",
		"business_hours": map[string]any{"timezone": "UTC", "days": map[string]any{tomorrow: []string{"08:00", "09:00"}}}}).mustStatus(t, http.StatusOK)
	ts.call(t, "PUT", "/api/v1/usage/policy", rc.Token, map[string]any{"policy": "overage"}).mustStatus(t, http.StatusOK)
	if c := ts.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusConflict); c.errCode() != "queue_closed" ||
		c.str("error", "message") != "We open at 8." || c.Header.Get("Access-Control-Allow-Origin") != site {
		t.Errorf("closed queue: %s", c.Body)
	}
}

func TestChatMessagesAPI_BadInputIs4xxJSON(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 1)
	key, _ := ts.widget(t, rc, site)
	id := ts.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusCreated).str("contact_id")
	agent := rc.agents[0]
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	path := "/api/v1/contacts/" + id + "/messages"
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"oversize message", map[string]any{"client_id": "a", "body": strings.Repeat("x", 4001)}, 400, "message_too_long"},
		{"empty message", map[string]any{"client_id": "a", "body": ""}, 400, "empty_message"},
		{"blank message", map[string]any{"client_id": "a", "body": " \n\t"}, 400, "empty_message"},
		{"no client id", map[string]any{"body": "hi"}, 400, "invalid_client_id"},
		{"empty request body", "", 400, "invalid_json"},
		{"bad JSON", `{"client_id":`, 400, "invalid_json"},
		{"unknown field", `{"client_id":"a","text":"hi"}`, 400, "invalid_json"},
		{"wrong type", `{"client_id":"a","body":5}`, 400, "invalid_json"},
		{"two objects", `{"client_id":"a","body":"x"}{}`, 400, "invalid_json"},
		{"over the body limit", `{"client_id":"a","body":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body_too_large"},
	} {
		if a := ts.call(t, "POST", path, agent.Token, tc.body).mustStatus(t, tc.status); a.errCode() != tc.code {
			t.Errorf("%s: %s, want %s", tc.name, a.Body, tc.code)
		}
	}
	for _, q := range []string{"?after=-1", "?after=x", "?limit=0", "?limit=501"} {
		ts.call(t, "GET", path+q, agent.Token, nil).mustStatus(t, http.StatusBadRequest)
	}
	ts.call(t, "GET", "/api/v1/contacts/not-an-id/messages", agent.Token, nil).mustStatus(t, http.StatusNotFound)
	ts.call(t, "POST", path, "", map[string]any{"client_id": "a", "body": "hi"}).mustStatus(t, http.StatusUnauthorized)
	if l := ts.call(t, "GET", path, agent.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["messages"].([]any)) != 0 {
		t.Fatalf("refused messages were stored: %s", l.Body)
	}
	// A message of exactly 4,000 characters (multi-byte) is fine, and a
	// resend with its client id stores nothing new.
	body := strings.Repeat("ü", 4000)
	first := ts.call(t, "POST", path, agent.Token, map[string]any{"client_id": "a-1", "body": body}).mustStatus(t, http.StatusCreated)
	again := ts.call(t, "POST", path, agent.Token, map[string]any{"client_id": "a-1", "body": body}).mustStatus(t, http.StatusOK)
	if first.str("id") != again.str("id") || first.JSON["seq"] != float64(1) {
		t.Errorf("resend: %s / %s", first.Body, again.Body)
	}
	// The leave beacon wants a token.
	ts.call(t, "POST", "/chat/v1/leave", "", "not json").mustStatus(t, http.StatusBadRequest)
	ts.call(t, "POST", "/chat/v1/leave", "", map[string]any{"token": "cv1.x.y.z"}).mustStatus(t, http.StatusUnauthorized)
}

// TestIsolation_ChatIsPerTenant: tenant B reads and writes none of A's
// conversations, sees and revokes none of A's widgets, and A's widget key
// leads nowhere in B.
func TestIsolation_ChatIsPerTenant(t *testing.T) {
	ts := newServer(t)
	a := ts.routed(t, "acme", 1)
	b := ts.routed(t, "bravo", 1)
	keyA, widgetA := ts.widget(t, a, site)
	started := ts.startChat(t, keyA, site, map[string]any{}).mustStatus(t, http.StatusCreated)
	id := started.str("contact_id")
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/accept", a.agents[0].Token, nil).mustStatus(t, http.StatusOK)
	ts.call(t, "POST", "/api/v1/contacts/"+id+"/messages", a.agents[0].Token, map[string]any{"client_id": "a-1", "body": "secret of A"}).mustStatus(t, http.StatusCreated)

	for _, who := range []company{b.company, b.agents[0]} {
		for _, r := range []route{
			{"GET", "/api/v1/contacts/" + id + "/messages", nil},
			{"POST", "/api/v1/contacts/" + id + "/messages", map[string]any{"client_id": "b-1", "body": "from B"}},
			{"DELETE", "/api/v1/chat/widgets/" + widgetA, nil},
		} {
			if got := ts.call(t, r.Method, r.Path, who.Token, r.Body); (got.Status != http.StatusNotFound && got.Status != http.StatusForbidden) ||
				got.errCode() == "" || strings.Contains(string(got.Body), "secret of A") {
				t.Errorf("B: %s %s = %d %s", r.Method, r.Path, got.Status, got.Body)
			}
		}
	}
	if l := ts.call(t, "GET", "/api/v1/chat/widgets", b.Token, nil).mustStatus(t, http.StatusOK); strings.Contains(string(l.Body), widgetA) {
		t.Errorf("B lists A's widget: %s", l.Body)
	}
	if w := ts.call(t, "GET", "/api/v1/chat/widgets", a.Token, nil).mustStatus(t, http.StatusOK); w.JSON["widgets"].([]any)[0].(map[string]any)["revoked_at"] != nil {
		t.Error("B revoked A's widget")
	}
	// A's key under B's tenant id is no key at all; A's key itself only
	// ever opens contacts in A.
	forged := "cw1." + b.TenantID.String() + keyA[strings.LastIndex(keyA, "."):]
	ts.startChat(t, forged, site, map[string]any{}).mustStatus(t, http.StatusForbidden)
	if l := ts.call(t, "GET", "/api/v1/contacts", b.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["contacts"].([]any)) != 0 {
		t.Errorf("B has contacts: %s", l.Body)
	}
	// A's visitor token with B's tenant id in it opens nothing.
	swapped := strings.Replace(started.str("token"), a.TenantID.String(), b.TenantID.String(), 1)
	ts.call(t, "POST", "/chat/v1/leave", "", map[string]any{"token": swapped}).mustStatus(t, http.StatusUnauthorized)
	if d := ts.call(t, "GET", "/api/v1/contacts/"+id+"/messages", a.agents[0].Token, nil).mustStatus(t, http.StatusOK); len(d.JSON["messages"].([]any)) != 1 {
		t.Errorf("A's conversation changed: %s", d.Body)
	}
}
