package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cic-platform/cic/channels/chat"
)

// TestChatIdentityAPI_SecretOnceRotatePerTenant: the widget's identity
// secret is in the answer that creates it and in the one that rotates
// it, never in a list; only the tenant's owners and admins rotate it
// (another tenant's widget is a 404); the widget's start call links the
// chat to a customer only with a valid data-email-hash, so the agent's
// view of a forged claim names no customer with that address.
func TestChatIdentityAPI_SecretOnceRotatePerTenant(t *testing.T) {
	ts := newServer(t)
	rc := ts.routed(t, "acme", 0)
	other := ts.signup(t, "bravo")
	agent := ts.createUser(t, rc.company, "agent@acme.example", "agent")
	created := ts.call(t, "POST", "/api/v1/chat/widgets", rc.Token, map[string]any{"name": "Shop", "queue_id": rc.queue,
		"allowed_origins": []string{site}}).mustStatus(t, http.StatusCreated)
	id, key, secret := created.str("id"), created.str("key"), created.str("identity_secret")
	if !strings.HasPrefix(secret, "cis1_") || created.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %s", created.Body)
	}
	if w := ts.widgetByID(t, rc.company, id); w["identity_secret"] != nil {
		t.Fatalf("the list shows the secret: %v", w)
	}
	path := "/api/v1/chat/widgets/" + id + "/identity-secret"
	if a := ts.call(t, "POST", path, agent.Token, nil); a.Status != http.StatusForbidden {
		t.Errorf("agent rotates: %d %s", a.Status, a.Body)
	}
	if a := ts.call(t, "POST", path, other.Token, nil); a.Status != http.StatusNotFound || strings.Contains(string(a.Body), key) {
		t.Errorf("another tenant rotates: %d %s", a.Status, a.Body)
	}
	if a := ts.call(t, "POST", "/api/v1/chat/widgets/not-an-id/identity-secret", rc.Token, nil); a.Status != http.StatusNotFound {
		t.Errorf("bad id: %d", a.Status)
	}

	customerEmails := func(contactID string) string {
		t.Helper()
		a := ts.call(t, "GET", "/api/v1/contacts/"+contactID+"/customer", rc.Token, nil)
		return string(a.Body)
	}
	const jane = "jane@example.com"
	forged := ts.startChat(t, key, site, map[string]any{"visitor_id": "mallory", "email": jane}).mustStatus(t, http.StatusCreated)
	if strings.Contains(customerEmails(forged.str("contact_id")), jane) {
		t.Error("an unsigned address named the chat's customer")
	}
	signed := ts.startChat(t, key, site, map[string]any{"visitor_id": "jane", "email": jane,
		"email_hash": chat.EmailHash(secret, jane)}).mustStatus(t, http.StatusCreated)
	if !strings.Contains(customerEmails(signed.str("contact_id")), jane) {
		t.Error("a signed address did not link the chat to the customer")
	}
	rotated := ts.call(t, "POST", path, rc.Token, nil).mustStatus(t, http.StatusOK)
	if rotated.str("identity_secret") == "" || rotated.str("identity_secret") == secret {
		t.Fatalf("rotate: %s", rotated.Body)
	}
	stale := ts.startChat(t, key, site, map[string]any{"visitor_id": "someone", "email": jane,
		"email_hash": chat.EmailHash(secret, jane)}).mustStatus(t, http.StatusCreated)
	if strings.Contains(customerEmails(stale.str("contact_id")), jane) {
		t.Error("the rotated-out secret still links")
	}
	if a := ts.startChat(t, key, site, map[string]any{"email": strings.Repeat("x", 400)}); a.Status != http.StatusBadRequest {
		t.Errorf("an over-long address: %d", a.Status)
	}
}
