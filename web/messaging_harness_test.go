package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/fax"
	"github.com/cic-platform/cic/channels/messaging"
	"github.com/cic-platform/cic/channels/sms"
	"github.com/cic-platform/cic/channels/social"
	"github.com/cic-platform/cic/channels/twilio"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/web"
)

// msgServer is the test server with the SMS, social and fax channels
// wired as cmd/cic's startMessaging wires them, and the stub of the
// outside providers' APIs their replies go to.
type msgServer struct {
	*testServer
	SMS      *sms.Service
	Social   *social.Service
	Fax      *fax.Service
	Registry *channels.Registry
	Conv     *conversation.Store
	Dir      *directory.Directory
	API      *apiStub
}

func newMsgServer(t testing.TB) *msgServer {
	t.Helper()
	return newMsgServerWith(t)
}

// newMsgServerWith is newMsgServer with more channels: each extra
// function may change the configuration and register channels.
func newMsgServerWith(t testing.TB, extra ...func(*web.Config, *channels.Registry)) *msgServer {
	t.Helper()
	ms := &msgServer{API: newAPIStub(t), Registry: &channels.Registry{}}
	ms.testServer = newServer(t, func(cfg *web.Config) {
		db := cfg.Tenants.DB
		// The providers' stubs listen on loopback: ALLOW_PRIVATE_OUTBOUND.
		ms.Conv, ms.Dir = &conversation.Store{DB: db}, &directory.Directory{DB: db, Secrets: testSecrets(t), Outbound: allowPrivate}
		cfg.Customers, cfg.Conversations, cfg.Directory, cfg.Channels = &customer.Service{DB: db}, ms.Conv, ms.Dir, ms.Registry
		flow := &messaging.Flow{DB: db, Contacts: cfg.Contacts, Customers: cfg.Customers, Conversations: ms.Conv,
			Directory: ms.Dir, Log: cfg.Logger}
		hc := allowPrivate.Client(15 * time.Second)
		ms.SMS = &sms.Service{Flow: flow, PublicURL: cfg.PublicURL, HTTP: hc}
		ms.Social = &social.Service{Flow: flow, HTTP: hc}
		ms.Fax = &fax.Service{Flow: flow}
		cfg.SMS, cfg.Social, cfg.Fax = ms.SMS, ms.Social, ms.Fax
		ms.Registry.Register(ms.SMS)
		ms.Registry.Register(ms.Social)
		ms.Registry.Register(ms.Fax)
		for _, f := range extra {
			f(cfg, ms.Registry)
		}
	})
	return ms
}

// msgCompany is a tenant with one queue for sms, social and fax, an SMS
// number, a fax number and a social page leading to it, accounts at the
// three providers (whose APIs are the stub), and one available agent.
type msgCompany struct {
	company
	Owner   tenant.Actor
	Agent   company
	QueueID uuid.UUID
	// Number takes SMS, FaxNumber faxes, Page ("facebook:<id>") messages.
	Number, FaxNumber, Page string
	// Secrets of the tenant's twilio, social and fax accounts.
	TwilioToken, SocialSecret, FaxSecret string
	AccountSID                           string
}

func (ms *msgServer) company(t testing.TB, slug, number, faxNumber, page string) msgCompany {
	t.Helper()
	c := ms.signup(t, slug)
	mc := msgCompany{company: c, Owner: tenant.Actor{TenantID: c.TenantID, UserID: c.UserID, Role: cic.RoleOwner},
		Number: number, FaxNumber: faxNumber, Page: page,
		TwilioToken: "twilio-token-" + slug, SocialSecret: "social-secret-" + slug, FaxSecret: "fax-secret-" + slug,
		AccountSID: "AC" + strings.Repeat("0", 10) + slug}
	mc.QueueID = uuid.MustParse(ms.call(t, "POST", "/api/v1/queues", c.Token, map[string]any{"name": "Messages",
		"channels": []string{"sms", "social", "fax"}}).mustStatus(t, http.StatusCreated).str("id"))
	ctx := testenv.Context(t)
	for ch, addr := range map[string]string{"sms": number, "fax": faxNumber, "social": page} {
		if _, err := ms.Dir.AddAddress(ctx, mc.Owner, directory.Address{Channel: ch, Address: addr, QueueID: &mc.QueueID}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []directory.Provider{
		{Provider: directory.Twilio, AccountID: mc.AccountSID, Secret: mc.TwilioToken, APIBase: ms.API.URL + "/twilio"},
		{Provider: directory.Social, AccountID: slug, Secret: mc.SocialSecret, APIBase: ms.API.URL + "/social/" + slug},
		{Provider: directory.Fax, Secret: mc.FaxSecret},
	} {
		if err := ms.Dir.SetProvider(ctx, mc.Owner, p); err != nil {
			t.Fatal(err)
		}
	}
	mc.Agent = ms.createUser(t, c, "agent@"+slug+".example", "agent")
	ms.call(t, "PUT", "/api/v1/agents/"+mc.Agent.UserID.String()+"/routing", c.Token,
		map[string]any{"capacity": map[string]int{"sms": 2, "social": 2, "fax": 2}}).mustStatus(t, http.StatusOK)
	lease := ms.call(t, "POST", "/api/v1/seats/lease", mc.Agent.Token, map[string]any{"workstation": "desk"}).
		mustStatus(t, http.StatusCreated).str("lease_id")
	req := jsonRequest(t, "PUT", "/api/v1/agent/status", map[string]any{"status": "available"})
	req.Header.Set("Authorization", "Bearer "+mc.Agent.Token)
	req.Header.Set("X-Seat-Lease", lease)
	ms.do(t, req).mustStatus(t, http.StatusOK)
	return mc
}

// block sets the tenant's policy to block with no contacts left.
func (ms *msgServer) block(t testing.TB, tenantID uuid.UUID) {
	t.Helper()
	c := testenv.Context(t)
	if _, err := ms.DB.Owner.Exec(c, `UPDATE bundles SET remaining = 0 WHERE tenant_id = $1`, tenantID); err != nil {
		t.Fatal(err)
	}
	if _, err := ms.DB.Owner.Exec(c, `INSERT INTO metering_settings (tenant_id, policy) VALUES ($1, 'block')
		ON CONFLICT (tenant_id) DO UPDATE SET policy = 'block'`, tenantID); err != nil {
		t.Fatal(err)
	}
}

// counts are what a tenant has stored: contacts, messages, customers.
type counts struct{ Contacts, Messages, Customers int }

func (ms *msgServer) counts(t testing.TB, tenantID uuid.UUID) counts {
	t.Helper()
	var n counts
	err := ms.DB.Owner.QueryRow(testenv.Context(t), `SELECT
		(SELECT count(*) FROM contacts WHERE tenant_id = $1),
		(SELECT count(*) FROM contact_messages WHERE tenant_id = $1),
		(SELECT count(*) FROM customers WHERE tenant_id = $1)`, tenantID).Scan(&n.Contacts, &n.Messages, &n.Customers)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (ms *msgServer) messages(t testing.TB, tenantID, contactID uuid.UUID) []conversation.Message {
	t.Helper()
	msgs, err := ms.Conv.List(testenv.Context(t), tenantID, contactID)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// --- SMS ---

// smsForm is an inbound SMS as the provider posts it.
func smsForm(sid, from, to, body string) url.Values {
	return url.Values{"MessageSid": {sid}, "AccountSid": {"AC1"}, "From": {from}, "To": {to}, "Body": {body}, "NumMedia": {"0"}}
}

// postTwilio posts form to path signed with token (no signature when
// token is "") over the URL the server is published at.
func (ms *msgServer) postTwilio(t testing.TB, path, token string, form url.Values) answer {
	t.Helper()
	req := newRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set(twilio.SignatureHeader, twilio.Sign(token, "http://cic.test"+path, form))
	}
	return ms.do(t, req)
}

// --- signed JSON and fax ---

// signed posts body to path with the v1 signature of secret at ts (no
// headers when secret is "").
func (ms *msgServer) signed(t testing.TB, path, contentType, secret string, ts time.Time, body []byte) answer {
	t.Helper()
	req := newRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if secret != "" {
		req.Header.Set(messaging.TimestampHeader, strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set(messaging.SignatureHeader, messaging.Sign(secret, ts.Unix(), body))
	}
	return ms.do(t, req)
}

// socialEvent is a webhook body of the social connector.
func socialEvent(id, page, handle, text string) []byte {
	platform, pageID, _ := strings.Cut(page, ":")
	b, _ := json.Marshal(map[string]any{"id": id, "platform": platform, "page": pageID,
		"sender": map[string]any{"handle": handle, "name": "Sam Sender"}, "text": text})
	return b
}

// faxPDF is a small document that passes for a PDF.
var faxPDF = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// faxBody is a fax webhook's multipart body and its content type.
func faxBody(t testing.TB, id, from, to, pages string, doc []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range map[string]string{"id": id, "from": from, "to": to, "pages": pages} {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if doc != nil {
		fw, err := w.CreateFormFile("document", "fax.pdf")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(doc)
	}
	_ = w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// --- the outside providers' API stub ---

// apiStub stands in for the Twilio REST API (/twilio/2010-04-01/...)
// and the social connectors' reply APIs (/social/<slug>/messages). It
// records what it was sent; fail makes it refuse.
type apiStub struct {
	*httptest.Server
	mu   sync.Mutex
	got  []stubCall
	fail bool
	n    int
}

type stubCall struct {
	Path      string
	User      string // basic auth user (twilio)
	Password  string
	Form      url.Values // twilio
	Timestamp string     // social
	Signature string
	Body      []byte
}

func newAPIStub(t testing.TB) *apiStub {
	p := &apiStub{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		call := stubCall{Path: r.URL.Path, Body: raw, Timestamp: r.Header.Get(messaging.TimestampHeader),
			Signature: r.Header.Get(messaging.SignatureHeader)}
		call.User, call.Password, _ = r.BasicAuth()
		call.Form, _ = url.ParseQuery(string(raw))
		p.mu.Lock()
		p.got = append(p.got, call)
		p.n++
		n, fail := p.n, p.fail
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if fail {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"message":"The 'To' number is not a valid phone number.","error":"recipient unknown"}`))
			return
		}
		if strings.HasPrefix(r.URL.Path, "/twilio/") {
			_, _ = w.Write([]byte(`{"sid":"SMout` + strconv.Itoa(n) + `","status":"queued"}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"reply-` + strconv.Itoa(n) + `"}`))
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *apiStub) calls() []stubCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]stubCall(nil), p.got...)
}

func (p *apiStub) setFail(v bool) {
	p.mu.Lock()
	p.fail = v
	p.mu.Unlock()
}

func twilioSign(token, fullURL string, form url.Values) string {
	return twilio.Sign(token, fullURL, form)
}

// accept has the company's agent accept the contact (offered to them),
// as an answer needs (contacts.Service.BeforeAnswer).
func (ms *msgServer) accept(t testing.TB, mc msgCompany, contactID uuid.UUID) {
	t.Helper()
	p := tenant.Principal{Actor: tenant.Actor{TenantID: mc.TenantID, UserID: mc.Agent.UserID, Role: cic.RoleAgent}}
	if _, err := ms.Contacts.Accept(testenv.Context(t), p, contactID); err != nil {
		t.Fatal(err)
	}
}
