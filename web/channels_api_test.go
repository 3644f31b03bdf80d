package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/infra/secretbox"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/web"
)

// Channel addresses and provider accounts: managers set them, others
// may not, and one company never sees or changes another's.
func TestChannelAddressesAndProviders(t *testing.T) {
	ts := newServer(t, func(c *web.Config) { c.InboundDomain = "mail.cic.test" })
	a := ts.signup(t, "acme")
	b := ts.signup(t, "globex")
	queue := ts.call(t, "POST", "/api/v1/queues", a.Token, map[string]any{"name": "Mail", "channels": []string{"email", "sms"}}).
		mustStatus(t, http.StatusCreated).str("id")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")

	addr := ts.call(t, "POST", "/api/v1/channel-addresses", a.Token, map[string]any{"channel": "sms", "address": "+49 30 555-0100", "queue_id": queue}).
		mustStatus(t, http.StatusCreated)
	if addr.str("address") != "+49305550100" {
		t.Fatalf("address not normalised: %s", addr.Body)
	}
	for _, tc := range []struct {
		who    company
		body   map[string]any
		status int
		code   string
	}{
		{a, map[string]any{"channel": "sms", "address": "+49305550100", "queue_id": queue}, http.StatusConflict, "address_taken"},
		{b, map[string]any{"channel": "sms", "address": "+49 30 5550100", "queue_id": queue}, http.StatusBadRequest, "invalid_queue"},
		{a, map[string]any{"channel": "sms", "address": "030 555", "queue_id": queue}, http.StatusBadRequest, "invalid_phone"},
		{a, map[string]any{"channel": "pigeon", "address": "x", "queue_id": queue}, http.StatusBadRequest, "invalid_channel"},
		{a, map[string]any{"channel": "email", "address": "support@acme.example"}, http.StatusBadRequest, "invalid_target"},
		{agent, map[string]any{"channel": "email", "address": "sales@acme.example", "queue_id": queue}, http.StatusForbidden, "forbidden"},
		{a, map[string]any{"channel": "email", "address": "support@globex.mail.cic.test", "queue_id": queue}, http.StatusBadRequest, "foreign_mail_domain"},
		{a, map[string]any{"channel": "email", "address": "support@acme.mail.cic.test", "queue_id": queue}, http.StatusCreated, ""},
	} {
		if got := ts.call(t, "POST", "/api/v1/channel-addresses", tc.who.Token, tc.body).mustStatus(t, tc.status); got.errCode() != tc.code {
			t.Errorf("%v: %s; want %s", tc.body, got.Body, tc.code)
		}
	}
	// B's address list is empty, and B cannot remove A's address.
	if l := ts.call(t, "GET", "/api/v1/channel-addresses", b.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["addresses"].([]any)) != 0 {
		t.Fatalf("B lists A's addresses: %s", l.Body)
	}
	ts.call(t, "DELETE", "/api/v1/channel-addresses/"+addr.str("id"), b.Token, nil).mustStatus(t, http.StatusNotFound)
	if l := ts.call(t, "GET", "/api/v1/channel-addresses", a.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["addresses"].([]any)) != 2 {
		t.Fatalf("A's addresses after B's delete: %s", l.Body)
	}

	// Providers: the secret is stored, never shown; webhooks name the tenant.
	p := ts.call(t, "PUT", "/api/v1/channel-providers/twilio", a.Token, map[string]any{"account_id": "AC123", "secret": "tok-secret-123",
		"api_base": "https://93.184.216.34"}).mustStatus(t, http.StatusOK)
	if strings.Contains(string(p.Body), "tok-secret-123") || !strings.Contains(p.str("webhooks", "sms"), "/webhooks/twilio/"+a.TenantID.String()+"/sms") {
		t.Fatalf("provider answer: %s", p.Body)
	}
	ts.call(t, "PUT", "/api/v1/channel-providers/twilio", a.Token, map[string]any{"secret": "short"}).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "PUT", "/api/v1/channel-providers/telegraph", a.Token, map[string]any{"secret": "long-enough"}).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "PUT", "/api/v1/channel-providers/twilio", agent.Token, map[string]any{"secret": "long-enough"}).mustStatus(t, http.StatusForbidden)
	list := ts.call(t, "GET", "/api/v1/channel-providers", a.Token, nil).mustStatus(t, http.StatusOK)
	if strings.Contains(string(list.Body), "tok-secret-123") || len(list.JSON["providers"].([]any)) != 1 {
		t.Fatalf("A's providers: %s", list.Body)
	}
	if l := ts.call(t, "GET", "/api/v1/channel-providers", b.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["providers"].([]any)) != 0 {
		t.Fatalf("B sees A's providers: %s", l.Body)
	}
	// Keeping the saved secret: an update without one.
	ts.call(t, "PUT", "/api/v1/channel-providers/twilio", a.Token, map[string]any{"account_id": "AC999"}).mustStatus(t, http.StatusOK)
	// The secret is kept (sealed: the database never holds it in plain text).
	var sealed []byte
	if err := ts.DB.Owner.QueryRow(testenv.Context(t), `SELECT secret FROM channel_providers WHERE tenant_id = $1`, a.TenantID).Scan(&sealed); err != nil ||
		len(sealed) == 0 || strings.Contains(string(sealed), "tok-secret-123") {
		t.Fatalf("secret after an update without one: %q, %v", sealed, err)
	}
	box, err := secretbox.New(ts.Tenants.Keys.DeriveRing("secrets-at-rest")...)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := (&directory.Directory{DB: ts.Tenants.DB, Secrets: box}).Provider(testenv.Context(t), a.TenantID, "twilio"); err != nil || p.Secret != "tok-secret-123" {
		t.Fatalf("secret after an update without one: %q, %v", p.Secret, err)
	}
}

// Customers: agents see and change them, finance does not, and another
// company gets 404 for every one of them.
func TestCustomersAPI(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "globex")
	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	fin := ts.createUser(t, a, "fin@acme.example", "finance")
	ctx := testenv.Context(t)
	cs := &customer.Service{DB: ts.Tenants.DB}
	jane, err := cs.Resolve(ctx, a.TenantID, customer.KindEmail, "Jane Doe <jane@example.com>", "Jane Doe")
	if err != nil {
		t.Fatal(err)
	}
	caller, err := cs.Resolve(ctx, a.TenantID, customer.KindPhone, "+4930123456", "")
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/customers/" + jane.String()

	got := ts.call(t, "GET", path, agent.Token, nil).mustStatus(t, http.StatusOK)
	if got.str("display_name") != "Jane Doe" {
		t.Fatalf("customer: %s", got.Body)
	}
	ts.call(t, "GET", path, fin.Token, nil).mustStatus(t, http.StatusForbidden)
	ts.call(t, "GET", path, b.Token, nil).mustStatus(t, http.StatusNotFound)
	ts.call(t, "GET", "/api/v1/customers/not-an-id", agent.Token, nil).mustStatus(t, http.StatusNotFound)

	upd := ts.call(t, "PATCH", path, agent.Token, map[string]any{"preferred_channel": "email", "opt_outs": []string{"no_sales_phone"}}).
		mustStatus(t, http.StatusOK)
	if upd.str("preferred_channel") != "email" {
		t.Fatalf("preferences: %s", upd.Body)
	}
	ts.call(t, "PATCH", path, agent.Token, map[string]any{"preferred_channel": "pigeon"}).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "PATCH", path, agent.Token, map[string]any{"shoe_size": 42}).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "PATCH", path, b.Token, map[string]any{"preferred_channel": "sms"}).mustStatus(t, http.StatusNotFound)

	// The phone belongs to another record: linking is refused, merging works.
	ts.call(t, "POST", path+"/identities", agent.Token, map[string]any{"kind": "phone", "value": "+49 30 123456"}).mustStatus(t, http.StatusConflict)
	ts.call(t, "POST", path+"/merge", b.Token, map[string]any{"from": caller.String()}).mustStatus(t, http.StatusNotFound)
	m := ts.call(t, "POST", path+"/merge", agent.Token, map[string]any{"from": caller.String()}).mustStatus(t, http.StatusOK)
	if ids, _ := m.JSON["identities"].([]any); len(ids) != 2 {
		t.Fatalf("merged customer: %s", m.Body)
	}
	ts.call(t, "POST", path+"/merge", agent.Token, map[string]any{"from": "nope"}).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "POST", path+"/identities", agent.Token, map[string]any{"kind": "handle", "value": "facebook:jane"}).mustStatus(t, http.StatusOK)

	s := ts.call(t, "GET", "/api/v1/customers?q=jane", agent.Token, nil).mustStatus(t, http.StatusOK)
	if l, _ := s.JSON["customers"].([]any); len(l) != 1 {
		t.Fatalf("search: %s", s.Body)
	}
	if l, _ := ts.call(t, "GET", "/api/v1/customers?q=jane", b.Token, nil).mustStatus(t, http.StatusOK).JSON["customers"].([]any); len(l) != 0 {
		t.Fatal("B finds A's customer")
	}
	ts.call(t, "GET", "/api/v1/customers?q=j", agent.Token, nil).mustStatus(t, http.StatusBadRequest)

	// A sales call to a customer who said no sales offers by phone is
	// refused before anything is opened.
	queue := ts.call(t, "POST", "/api/v1/queues", a.Token, map[string]any{"name": "Sales", "channels": []string{"voice"}}).
		mustStatus(t, http.StatusCreated).str("id")
	o := ts.call(t, "POST", "/api/v1/outbound", agent.Token, map[string]any{"channel": "voice", "queue_id": queue, "to": "+4930123456",
		"campaign": "spring-sale"}).mustStatus(t, http.StatusConflict)
	if o.errCode() != "customer_opted_out" {
		t.Fatalf("sales call: %s", o.Body)
	}
	ts.call(t, "POST", "/api/v1/outbound", agent.Token, map[string]any{"channel": "fax", "queue_id": queue, "to": "+4930123456"}).
		mustStatus(t, http.StatusBadRequest)
	ts.call(t, "POST", "/api/v1/outbound", agent.Token, map[string]any{"channel": "sms", "queue_id": queue, "to": "not a number", "body": "hi"}).
		mustStatus(t, http.StatusBadRequest)
	ts.call(t, "POST", "/api/v1/outbound", fin.Token, map[string]any{"channel": "sms", "queue_id": queue, "to": "+4930123456", "body": "hi"}).
		mustStatus(t, http.StatusForbidden)
}

// The channels page shows the company's addresses and its webhook
// addresses; an address is added from it, and a bad one gets a readable
// message on the page.
func TestChannelsPage(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	queue := ts.call(t, "POST", "/api/v1/queues", a.Token, map[string]any{"name": "Mail", "channels": []string{"email"}}).
		mustStatus(t, http.StatusCreated).str("id")
	ts.createUser(t, a, "admin@acme.example", "admin")
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "admin@acme.example", goodPassword)
	_, page, token := b.get("/channels")
	for _, want := range []string{`href="/channels"`, "/webhooks/twilio/" + a.TenantID.String() + "/voice", "/webhooks/social/" + a.TenantID.String()} {
		if !strings.Contains(page, want) {
			t.Errorf("/channels lacks %q", want)
		}
	}
	resp, body := b.post("/channels/addresses", url.Values{"_csrf": {token}, "channel": {"email"}, "address": {"help@acme.example"}, "queue_id": {queue}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add address: %d %s", resp.StatusCode, body)
	}
	_, page, token = b.get("/channels?done=address")
	if !strings.Contains(page, "<code>help@acme.example</code>") || !strings.Contains(page, "The address was added") {
		t.Fatalf("the new address is not listed: %s", page)
	}
	resp, body = b.post("/channels/addresses", url.Values{"_csrf": {token}, "channel": {"sms"}, "address": {"0301234"}, "queue_id": {queue}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "country code") || !strings.Contains(body, `value="0301234"`) {
		t.Fatalf("bad number: %d, want 400 with the message and the typed value kept", resp.StatusCode)
	}
}

// Another company's contact: its conversation, attachments, customer and
// reply box are all 404; bad replies are 4xx.
func TestConversationAPI_OtherTenantAndBadInput(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	b := ms.signup(t, "globex")
	ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, smsForm("SMiso1", customerPhone, acmeNumber, "Hello")).mustStatus(t, http.StatusOK)
	var id, att string
	ctx := testenv.Context(t)
	if err := ms.DB.Owner.QueryRow(ctx, `SELECT id FROM contacts WHERE tenant_id = $1`, a.TenantID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/contacts/" + id
	ms.call(t, "POST", base+"/accept", a.Agent.Token, nil).mustStatus(t, http.StatusOK)
	if m := ms.call(t, "GET", base+"/messages", a.Agent.Token, nil).mustStatus(t, http.StatusOK); len(m.JSON["messages"].([]any)) != 1 {
		t.Fatalf("A's conversation: %s", m.Body)
	}
	att = "00000000-0000-0000-0000-000000000001"
	for _, r := range []struct{ method, path string }{
		{"GET", base + "/messages"}, {"POST", base + "/messages"}, {"GET", base + "/customer"}, {"GET", base + "/attachments/" + att},
	} {
		ms.call(t, r.method, r.path, b.Token, map[string]any{"body": "hijack"}).mustStatus(t, http.StatusNotFound)
	}
	ms.call(t, "POST", base+"/messages", a.Agent.Token, map[string]any{}).mustStatus(t, http.StatusBadRequest)
	ms.call(t, "POST", base+"/messages", a.Agent.Token, map[string]any{"body": "x", "attachments": []map[string]any{{"filename": "a", "data": "%%%"}}}).
		mustStatus(t, http.StatusBadRequest)
	ms.call(t, "GET", base+"/attachments/nope", a.Agent.Token, nil).mustStatus(t, http.StatusNotFound)
	if n := ms.counts(t, a.TenantID); n.Messages != 1 {
		t.Fatalf("messages after B's and bad tries: %+v", n)
	}
}
