package web_test

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/twilio"
	"github.com/cic-platform/cic/channels/voice"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/web"
)

// telStub is the telephony provider's REST API (the one outside
// party a test may stand in for): it records every call our side makes.
type telStub struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []telRequest
	// NewSID, when set, names each call the stub creates (by default
	// every call is CAoutbound0001).
	NewSID func() string
}

type telRequest struct {
	Path string
	Form url.Values
}

func newTelStub(t testing.TB) *telStub {
	p := &telStub{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		if user, pass, ok := r.BasicAuth(); !ok || user == "" || pass == "" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"no credentials"}`))
			return
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, telRequest{Path: r.URL.Path, Form: form})
		newSID := p.NewSID
		p.mu.Unlock()
		sid := "CAoutbound0001"
		if newSID != nil {
			sid = newSID()
		}
		if i := strings.Index(r.URL.Path, "/Calls/"); i >= 0 {
			sid = strings.TrimSuffix(r.URL.Path[i+len("/Calls/"):], ".json")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"sid": sid, "status": "queued"})
	}))
	t.Cleanup(p.Close)
	return p
}

// requests returns what the provider received so far.
func (p *telStub) requests() []telRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]telRequest(nil), p.reqs...)
}

// voiceServer is the test server with the call channel wired as
// startVoice wires it, and a provider stub.
type voiceServer struct {
	*testServer
	Voice *voice.Service
	Dir   *directory.Directory
	Stub  *telStub
}

func newVoiceServer(t testing.TB) *voiceServer {
	t.Helper()
	stub := newTelStub(t)
	var v *voice.Service
	var dir *directory.Directory
	ts := newServer(t, func(cfg *web.Config) {
		// The provider's stub listens on loopback: ALLOW_PRIVATE_OUTBOUND.
		dir = &directory.Directory{DB: cfg.Tenants.DB, Secrets: testSecrets(t), Outbound: allowPrivate}
		v = voice.New(cfg.Tenants.DB, cfg.Contacts, dir, cfg.PublicURL,
			slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		v.HoldSeconds = 1
		v.HTTP = allowPrivate.Client(15 * time.Second)
		cfg.Voice, cfg.Directory = v, dir
		notify := cfg.Contacts.Notify
		cfg.Contacts.Notify = func(tenantID uuid.UUID, kind string, contactID uuid.UUID, agentID *uuid.UUID) {
			if notify != nil {
				notify(tenantID, kind, contactID, agentID)
			}
			v.ContactChanged(tenantID, kind, contactID, agentID)
		}
	})
	return &voiceServer{testServer: ts, Voice: v, Dir: dir, Stub: stub}
}

// callCenter is a company with two voice queues (Payments, Deliveries),
// its provider account at the stub, a number, and agents available for
// calls: agents[0] serves Payments, agents[1] Deliveries (by skill).
type callCenter struct {
	company
	Secret     string // the provider's auth token (signs webhooks)
	Number     string
	Payments   string
	Deliveries string
	Agents     []company
}

func (vs *voiceServer) callCenter(t testing.TB, slug string, agents int) callCenter {
	t.Helper()
	co := callCenter{company: vs.signup(t, slug), Secret: "token-of-" + slug, Number: "+4930" + fmtDigits(len(slug)*1111111)}
	ts := vs.testServer
	pay := ts.call(t, "POST", "/api/v1/skills", co.company.Token, map[string]any{"name": "payments"}).mustStatus(t, http.StatusCreated).str("id")
	del := ts.call(t, "POST", "/api/v1/skills", co.company.Token, map[string]any{"name": "deliveries"}).mustStatus(t, http.StatusCreated).str("id")
	co.Payments = ts.call(t, "POST", "/api/v1/queues", co.company.Token, map[string]any{"name": "Payments", "channels": []string{"voice"},
		"skills": []map[string]any{{"skill_id": pay, "min_level": 1}}}).mustStatus(t, http.StatusCreated).str("id")
	co.Deliveries = ts.call(t, "POST", "/api/v1/queues", co.company.Token, map[string]any{"name": "Deliveries", "channels": []string{"voice"},
		"skills": []map[string]any{{"skill_id": del, "min_level": 1}}}).mustStatus(t, http.StatusCreated).str("id")
	ts.call(t, "PUT", "/api/v1/dispositions/solved", co.company.Token, map[string]any{"label": "Solved"}).mustStatus(t, http.StatusOK)
	for i := range agents {
		a := ts.createUser(t, co.company, string(rune('a'+i))+"@"+slug+".example", "agent")
		skill := pay
		if i%2 == 1 {
			skill = del
		}
		ts.call(t, "PUT", "/api/v1/agents/"+a.UserID.String()+"/routing", co.company.Token, map[string]any{
			"capacity": map[string]int{"voice": 1}, "skills": []map[string]any{{"skill_id": skill, "level": 5}}}).mustStatus(t, http.StatusOK)
		lease := ts.call(t, "POST", "/api/v1/seats/lease", a.Token, map[string]any{"workstation": "desk"}).mustStatus(t, http.StatusCreated).str("lease_id")
		req := jsonRequest(t, "PUT", "/api/v1/agent/status", map[string]any{"status": "available"})
		req.Header.Set("Authorization", "Bearer "+a.Token)
		req.Header.Set("X-Seat-Lease", lease)
		ts.do(t, req).mustStatus(t, http.StatusOK)
		co.Agents = append(co.Agents, a)
	}
	owner := tenant.Actor{TenantID: co.TenantID, UserID: co.UserID, Role: cic.RoleOwner}
	if err := vs.Dir.SetProvider(testenv.Context(t), owner, directory.Provider{Provider: directory.Twilio, AccountID: "AC" + slug,
		Secret: co.Secret, APIBase: vs.Stub.URL}); err != nil {
		t.Fatal(err)
	}
	return co
}

func fmtDigits(n int) string {
	s := strings.Repeat("0", 7) + itoa(int64(n))
	return s[len(s)-7:]
}

// number points the company's number at a menu (or a queue).
func (vs *voiceServer) number(t testing.TB, co callCenter, menu, queue *uuid.UUID) {
	t.Helper()
	owner := tenant.Actor{TenantID: co.TenantID, UserID: co.UserID, Role: cic.RoleOwner}
	if _, err := vs.Dir.AddAddress(testenv.Context(t), owner, directory.Address{Channel: voice.Name, Address: co.Number,
		IVRMenuID: menu, QueueID: queue}); err != nil {
		t.Fatal(err)
	}
}

// publicBase is the test server's PublicURL, which webhook URLs (and
// their signatures) start with.
const publicBase = "http://cic.test"

// hook posts a webhook as the provider would: to path (below
// /webhooks/twilio/{tenant}/voice, or a full URL we handed out), signed
// with token over the public URL. An empty token sends no signature.
func (vs *voiceServer) hook(t testing.TB, tenantID uuid.UUID, path string, form url.Values, token string) answer {
	t.Helper()
	p := strings.TrimPrefix(path, publicBase)
	if !strings.HasPrefix(p, "/webhooks/") {
		p = voice.WebhookPath(tenantID.String(), "") + p
	}
	req := httptest.NewRequest("POST", p, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set(twilio.SignatureHeader, twilio.Sign(token, publicBase+p, form))
	}
	return vs.do(t, req)
}

// twiml is a parsed TwiML answer.
type twiml struct {
	XMLName xml.Name `xml:"Response"`
	Says    []string `xml:"Say"`
	Gather  *struct {
		Action    string `xml:"action,attr"`
		Timeout   string `xml:"timeout,attr"`
		NumDigits string `xml:"numDigits,attr"`
		Say       string `xml:"Say"`
	} `xml:"Gather"`
	Redirect string `xml:"Redirect"`
	Dial     *struct {
		Action string `xml:"action,attr"`
		Client string `xml:"Client"`
	} `xml:"Dial"`
	Hangup *struct{} `xml:"Hangup"`
	Reject *struct{} `xml:"Reject"`
}

// parseTwiML fails unless a is 200 well-formed TwiML.
func parseTwiML(t testing.TB, a answer) twiml {
	t.Helper()
	if a.Status != http.StatusOK || !strings.HasPrefix(a.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("answer %d %s: %s", a.Status, a.Header.Get("Content-Type"), a.Body)
	}
	var x twiml
	if err := xml.Unmarshal(a.Body, &x); err != nil {
		t.Fatalf("not TwiML: %v: %s", err, a.Body)
	}
	return x
}

// call is one caller's webhooks.
type caller struct {
	vs     *voiceServer
	co     callCenter
	sid    string
	from   string
	last   twiml
	tenant uuid.UUID
}

func (vs *voiceServer) dial(t testing.TB, co callCenter, sid, from string) *caller {
	t.Helper()
	c := &caller{vs: vs, co: co, sid: sid, from: from, tenant: co.TenantID}
	c.last = parseTwiML(t, vs.hook(t, co.TenantID, "", c.form(nil), co.Secret))
	return c
}

func (c *caller) form(extra map[string]string) url.Values {
	f := url.Values{"CallSid": {c.sid}, "From": {c.from}, "To": {c.co.Number}, "CallStatus": {"in-progress"}, "AccountSid": {"AC" + c.co.Slug}}
	for k, v := range extra {
		f.Set(k, v)
	}
	return f
}

// press presses key at the current menu (the Gather's action).
func (c *caller) press(t testing.TB, key string) twiml {
	t.Helper()
	if c.last.Gather == nil {
		t.Fatalf("no menu to press %s in: %+v", key, c.last)
	}
	c.last = parseTwiML(t, c.vs.hook(t, c.tenant, c.last.Gather.Action, c.form(map[string]string{"Digits": key}), c.co.Secret))
	return c.last
}

// silence lets the menu time out (the provider follows the Redirect).
func (c *caller) silence(t testing.TB) twiml {
	t.Helper()
	if c.last.Redirect == "" {
		t.Fatalf("no redirect to follow: %+v", c.last)
	}
	c.last = parseTwiML(t, c.vs.hook(t, c.tenant, c.last.Redirect, c.form(nil), c.co.Secret))
	return c.last
}

// status posts a status callback.
func (c *caller) status(t testing.TB, st string) answer {
	t.Helper()
	return c.vs.hook(t, c.tenant, "/status", c.form(map[string]string{"CallStatus": st}), c.co.Secret)
}

// inTenant runs f in a transaction of the tenant (row-level security on).
func (vs *voiceServer) inTenant(t testing.TB, tenantID uuid.UUID, f func(tx pgx.Tx) error) {
	t.Helper()
	if err := vs.Tenants.DB.Tx(testenv.Context(t), tenantID, f); err != nil {
		t.Fatal(err)
	}
}

func (vs *voiceServer) count(t testing.TB, tenantID uuid.UUID, sql string, args ...any) int {
	t.Helper()
	var n int
	vs.inTenant(t, tenantID, func(tx pgx.Tx) error { return tx.QueryRow(testenv.Context(t), sql, args...).Scan(&n) })
	return n
}

// menu creates a menu through the API and returns its id.
func (vs *voiceServer) menu(t testing.TB, co callCenter, name string, tree any) uuid.UUID {
	t.Helper()
	a := vs.call(t, "POST", "/api/v1/ivr-menus", co.company.Token, map[string]any{"name": name, "tree": tree}).mustStatus(t, http.StatusCreated)
	return uuid.MustParse(a.str("id"))
}
