package chat_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/contacts"
)

// TestChatIdentity_OnlyASignedEmailLinksTheCustomer is the attack of
// issue #15, item 10: a visitor claims a customer's e-mail address in
// the start call and the agent then sees that customer's history. Only
// an address signed with the widget's identity secret links the chat;
// an unsigned or forged one is kept as unverified, links to no one and
// shows no history. Rotating the secret voids the old hashes; another
// tenant's secret signs nothing here.
func TestChatIdentity_OnlyASignedEmailLinksTheCustomer(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	other := w.company(t, "bravo", 0)
	c := testenv.Context(t)
	const jane = "jane@example.com"
	secret := co.widget.IdentitySecret
	if !strings.HasPrefix(secret, "cis1_") || len(secret) != 5+64 {
		t.Fatalf("identity secret %q on creation", secret)
	}
	if ws, err := w.chat.ListWidgets(c, co.owner.Actor); err != nil || len(ws) != 1 || ws[0].IdentitySecret != "" {
		t.Fatalf("the list shows the identity secret: %+v %v", ws, err)
	}

	start := func(co company, visitor, email, hash string) (uuid.UUID, contacts.Contact) {
		t.Helper()
		st, err := w.chat.Start(c, co.widget.Key, site, "192.0.2.1", chat.StartInput{VisitorID: visitor, Email: email, EmailHash: hash, Name: "Jane"})
		if err != nil {
			t.Fatal(err)
		}
		ct, err := w.contacts.GetByID(c, co.owner.TenantID, st.ContactID)
		if err != nil {
			t.Fatal(err)
		}
		return st.ContactID, ct
	}
	history := func(id uuid.UUID) []contacts.Contact {
		t.Helper()
		h, err := w.contacts.History(c, co.owner, id, 50)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	verified := func(tenantID, id uuid.UUID) (string, bool) {
		t.Helper()
		var email string
		var ok bool
		if err := w.db.Owner.QueryRow(c, `SELECT coalesce(email, ''), email_verified FROM chat_sessions WHERE tenant_id = $1 AND contact_id = $2`,
			tenantID, id).Scan(&email, &ok); err != nil {
			t.Fatal(err)
		}
		return email, ok
	}

	// Jane's own, signed chat links to her.
	janeID, janeChat := start(co, "janes-browser", jane, chat.EmailHash(secret, jane))
	if janeChat.CustomerID == nil || janeChat.CustomerRef != jane {
		t.Fatalf("a signed address is not linked: %+v", janeChat)
	}
	if e, ok := verified(co.owner.TenantID, janeID); e != jane || !ok {
		t.Fatalf("session e-mail %q verified %v", e, ok)
	}
	janeCustomer := *janeChat.CustomerID

	// The attacks: no hash, a hash of another address, a hash with a
	// made-up secret, garbage, another tenant's secret.
	for name, hash := range map[string]string{
		"unsigned":              "",
		"another address":       chat.EmailHash(secret, "mallory@example.com"),
		"made-up secret":        chat.EmailHash("cis1_guess", jane),
		"garbage":               "zz" + strings.Repeat("0", 62),
		"short":                 "abcd",
		"other tenant's secret": chat.EmailHash(other.widget.IdentitySecret, jane),
		"case changed":          chat.EmailHash(secret, "Jane@Example.com"),
	} {
		id, ct := start(co, "mallory", jane, hash)
		if ct.CustomerID != nil && *ct.CustomerID == janeCustomer {
			t.Errorf("%s: the claim linked the chat to Jane", name)
		}
		if ct.CustomerRef == jane {
			t.Errorf("%s: the chat's customer ref is Jane's address", name)
		}
		for _, h := range history(id) {
			if h.ID == janeID || (h.CustomerID != nil && *h.CustomerID == janeCustomer) {
				t.Errorf("%s: the agent sees Jane's contact %s in the history", name, h.ID)
			}
		}
		if e, ok := verified(co.owner.TenantID, id); e != jane || ok {
			t.Errorf("%s: session e-mail %q verified %v, want kept unverified", name, e, ok)
		}
	}
	// The other tenant's widget takes none of acme's signatures either.
	if _, ct := start(other, "janes-browser", jane, chat.EmailHash(secret, jane)); ct.CustomerRef == jane {
		t.Error("bravo's widget took a hash made with acme's secret")
	}

	// Rotation: the old hash no longer counts, the new secret's does.
	if _, err := w.chat.RotateIdentitySecret(c, co.agents[0].Actor, co.widget.ID); testenv.Code(err) != "forbidden" {
		t.Errorf("an agent rotates: %v", err)
	}
	if _, err := w.chat.RotateIdentitySecret(c, other.owner.Actor, co.widget.ID); testenv.Code(err) != "not_found" {
		t.Errorf("another tenant rotates acme's widget: %v", err)
	}
	rw, err := w.chat.RotateIdentitySecret(c, co.owner.Actor, co.widget.ID)
	if err != nil || rw.IdentitySecret == "" || rw.IdentitySecret == secret {
		t.Fatalf("rotate: %+v %v", rw, err)
	}
	if _, ct := start(co, "janes-browser", jane, chat.EmailHash(secret, jane)); ct.CustomerRef == jane ||
		(ct.CustomerID != nil && *ct.CustomerID == janeCustomer && ct.CustomerRef == jane) {
		t.Errorf("a hash made with the rotated-out secret still links: %+v", ct)
	}
	if _, ct := start(co, "janes-browser", jane, chat.EmailHash(rw.IdentitySecret, jane)); ct.CustomerID == nil || *ct.CustomerID != janeCustomer {
		t.Errorf("the new secret's hash does not link: %+v", ct)
	}
	var audited int
	if err := w.db.Owner.QueryRow(c, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'chat_widget.identity_rotate'`,
		co.owner.TenantID).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("%d rotations audited (%v), want 1", audited, err)
	}
	// Bad input is a 400.
	for _, in := range []chat.StartInput{
		{Email: strings.Repeat("a", 321)},
		{Email: "bad\x00@example.com"},
		{Email: jane, EmailHash: strings.Repeat("0", 129)},
	} {
		if _, err := w.chat.Start(c, co.widget.Key, site, "192.0.2.1", in); testenv.Code(err) != "invalid_email" && testenv.Code(err) != "invalid_email_hash" {
			t.Errorf("start %.20q: %v", in.Email, err)
		}
	}
}
