package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/voice"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

// callbackCenter is a call center whose provider account and calls have
// ids of the provider's own form (AC/CA and 32 hex digits), so that every
// request the stub receives can be checked against the API description,
// and whose Payments number is set up (the callbacks' caller id).
func (vs *voiceServer) callbackCenter(t *testing.T, slug string, agents int) callCenter {
	t.Helper()
	co := vs.callCenter(t, slug, agents)
	var n atomic.Int64
	vs.Stub.mu.Lock()
	vs.Stub.NewSID = func() string { return fmt.Sprintf("CA%032x", n.Add(1)) }
	vs.Stub.mu.Unlock()
	owner := tenant.Actor{TenantID: co.TenantID, UserID: co.UserID, Role: cic.RoleOwner}
	acct := "AC" + strings.ReplaceAll(co.TenantID.String(), "-", "")
	if err := vs.Dir.SetProvider(testenv.Context(t), owner, directory.Provider{Provider: directory.Twilio, AccountID: acct,
		Secret: co.Secret, APIBase: vs.Stub.URL}); err != nil {
		t.Fatal(err)
	}
	q := uuid.MustParse(co.Payments)
	vs.number(t, co, nil, &q)
	return co
}

// createdCalls are the stub's create-call requests so far.
func (vs *voiceServer) createdCalls() []telRequest {
	var out []telRequest
	for _, r := range vs.Stub.requests() {
		if strings.HasSuffix(r.Path, "/Calls.json") {
			out = append(out, r)
		}
	}
	return out
}

// waitCreatedCalls waits until the stub has n create-call requests.
func (vs *voiceServer) waitCreatedCalls(t *testing.T, n int) []telRequest {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := vs.createdCalls()
		if len(c) >= n {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider got %d calls to create, want %d: %+v", len(c), n, vs.Stub.requests())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// providerStatus posts the provider's status callback of call sid.
func (vs *voiceServer) providerStatus(t *testing.T, co callCenter, sid, to, status string) {
	t.Helper()
	form := url.Values{"CallSid": {sid}, "From": {co.Number}, "To": {to}, "CallStatus": {status}}
	parseTwiML(t, vs.hook(t, co.TenantID, "/status", form, co.Secret))
}

// setAvailable seats an agent and makes them available.
func (vs *voiceServer) setAvailable(t *testing.T, a company) {
	t.Helper()
	lease := vs.call(t, "POST", "/api/v1/seats/lease", a.Token, map[string]any{"workstation": "desk"}).mustStatus(t, http.StatusCreated).str("lease_id")
	req := jsonRequest(t, "PUT", "/api/v1/agent/status", map[string]any{"status": "available"})
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("X-Seat-Lease", lease)
	vs.do(t, req).mustStatus(t, http.StatusOK)
}

// waitDialed waits until the callback's current attempt is call sid (the
// call is placed in the background after the accept).
func (vs *voiceServer) waitDialed(t *testing.T, co callCenter, id, sid string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for vs.callbackOf(t, co, id).str("callback", "call_sid") != sid {
		if time.Now().After(deadline) {
			t.Fatalf("callback %s never dialed %s", id, sid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (vs *voiceServer) callbackOf(t *testing.T, co callCenter, id string) answer {
	t.Helper()
	return vs.call(t, "GET", "/api/v1/callbacks/"+id, co.Token, nil).mustStatus(t, http.StatusOK)
}

func TestCallbacksAPI_CreateByAPIKeyOrUserShapeAndRoles(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callbackCenter(t, "acme", 0)
	key, _ := vs.apiKey(t, co.company, "CRM")
	start := num(vs.balance(t, co.company), "total_remaining")

	a := vs.call(t, "POST", "/api/v1/callbacks", key, map[string]any{"queue_id": co.Payments, "to": "+4930123456", "name": "Ada Lovelace"}).
		mustStatus(t, http.StatusCreated)
	id := a.str("id")
	if a.str("channel") != "voice" || a.str("direction") != "outbound" || a.str("kind") != "callback" || a.str("state") != "queued" ||
		a.str("queue_id") != co.Payments || a.str("customer_ref") != "+4930123456" || a.str("customer_id") == "" || a.JSON["queued_at"] == nil {
		t.Fatalf("callback contact: %s", a.Body)
	}
	cb, _ := a.JSON["callback"].(map[string]any)
	if cb["to"] != "+4930123456" || cb["name"] != "Ada Lovelace" || cb["status"] != "waiting" || cb["attempts"] != float64(0) ||
		cb["max_attempts"] != float64(3) || cb["retry_delay_seconds"] != float64(120) {
		t.Fatalf("callback defaults: %s", a.Body)
	}
	if a.Header.Get("Location") != "/api/v1/callbacks/"+id {
		t.Fatalf("Location %q", a.Header.Get("Location"))
	}
	// The contact is the routing's like any other: listed queued, and not
	// metered before an agent accepts it.
	d := vs.call(t, "GET", "/api/v1/contacts/"+id, co.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("kind") != "callback" || d.str("state") != "queued" {
		t.Fatalf("contact: %s", d.Body)
	}
	if got := num(vs.balance(t, co.company), "total_remaining"); got != start {
		t.Fatalf("a queued callback was metered: %v -> %v", start, got)
	}
	if vs.callbackOf(t, co, id).str("callback", "to") != "+4930123456" {
		t.Fatal("GET callback")
	}
	if vs.call(t, "GET", "/api/v1/callbacks/"+id, key, nil).mustStatus(t, http.StatusOK).str("id") != id {
		t.Fatal("GET callback with the API key")
	}

	// Users: those who handle or manage contacts may ask; finance may not.
	for _, role := range []string{"agent", "supervisor", "admin"} {
		u := vs.createUser(t, co.company, role+"-cb@acme.example", role)
		r := vs.call(t, "POST", "/api/v1/callbacks", u.Token, map[string]any{"queue_id": co.Payments, "to": "+4930123457"}).mustStatus(t, http.StatusCreated)
		if r.str("kind") != "callback" {
			t.Fatalf("%s: %s", role, r.Body)
		}
	}
	fin := vs.createUser(t, co.company, "fin-cb@acme.example", "finance")
	if r := vs.call(t, "POST", "/api/v1/callbacks", fin.Token, map[string]any{"queue_id": co.Payments, "to": "+4930123458"}).
		mustStatus(t, http.StatusForbidden); r.errCode() != "forbidden" {
		t.Fatalf("finance: %s", r.Body)
	}
	if vs.call(t, "GET", "/api/v1/callbacks/"+id, fin.Token, nil).mustStatus(t, http.StatusNotFound).errCode() != "not_found" {
		t.Fatal("finance reads a callback")
	}
	vs.call(t, "POST", "/api/v1/callbacks", "", map[string]any{"queue_id": co.Payments, "to": "+4930123458"}).mustStatus(t, http.StatusUnauthorized)
	vs.call(t, "POST", "/api/v1/callbacks", "cik_nonsense", map[string]any{"queue_id": co.Payments, "to": "+4930123458"}).mustStatus(t, http.StatusUnauthorized)
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts WHERE kind = 'callback'`); n != 4 {
		t.Fatalf("%d callbacks, want 4", n)
	}
}

func TestCallbacksAPI_BadInputAndOtherTenantsQueue(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callbackCenter(t, "acme", 0)
	other := vs.callCenter(t, "globex", 0)
	key, _ := vs.apiKey(t, co.company, "CRM")
	chatOnly := vs.call(t, "POST", "/api/v1/queues", co.Token, map[string]any{"name": "Chat", "channels": []string{"chat"}}).
		mustStatus(t, http.StatusCreated).str("id")
	cases := []struct {
		body   any
		status int
		code   string
	}{
		{map[string]any{"queue_id": co.Payments, "to": "030 123456"}, 400, "invalid_phone"},
		{map[string]any{"queue_id": co.Payments, "to": "+030123456"}, 400, "invalid_phone"},
		{map[string]any{"queue_id": co.Payments, "to": "+49 30 123456"}, 400, "invalid_phone"},
		{map[string]any{"queue_id": co.Payments, "to": "+4930123456789012"}, 400, "invalid_phone"},
		{map[string]any{"queue_id": co.Payments}, 400, "invalid_phone"},
		{map[string]any{"to": "+4930123456"}, 400, "invalid_queue_id"},
		{map[string]any{"queue_id": "nope", "to": "+4930123456"}, 400, ""},
		{map[string]any{"queue_id": uuid.NewString(), "to": "+4930123456"}, 404, "not_found"},
		{map[string]any{"queue_id": other.Payments, "to": "+4930123456"}, 404, "not_found"},
		{map[string]any{"queue_id": chatOnly, "to": "+4930123456"}, 400, "invalid_channel"},
		{map[string]any{"queue_id": co.Payments, "to": "+4930123456", "not_before": time.Now().Add(31 * 24 * time.Hour).Format(time.RFC3339)}, 400, "invalid_not_before"},
		{map[string]any{"queue_id": co.Payments, "to": "+4930123456", "not_before": "tomorrow"}, 400, ""},
		{map[string]any{"queue_id": co.Payments, "to": "+4930123456", "name": strings.Repeat("x", 101)}, 400, "invalid_name"},
		{map[string]any{"queue_id": co.Payments, "to": "+4930123456", "extra": 1}, 400, ""},
		{"[1,2]", 400, ""},
	}
	for i, c := range cases {
		a := vs.call(t, "POST", "/api/v1/callbacks", key, c.body).mustStatus(t, c.status)
		if c.code != "" && a.errCode() != c.code {
			t.Errorf("case %d: %s, want %s", i, a.Body, c.code)
		}
	}
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts`); n != 0 {
		t.Fatalf("refused requests made %d contacts", n)
	}
	if n := vs.count(t, other.TenantID, `SELECT count(*) FROM contacts`); n != 0 {
		t.Fatalf("another tenant's queue got %d contacts", n)
	}
	// Another tenant's callback is not found, with their key or user.
	okID := vs.call(t, "POST", "/api/v1/callbacks", key, map[string]any{"queue_id": co.Payments, "to": "+4930123456"}).mustStatus(t, http.StatusCreated).str("id")
	otherKey, _ := vs.apiKey(t, other.company, "CRM")
	vs.call(t, "GET", "/api/v1/callbacks/"+okID, otherKey, nil).mustStatus(t, http.StatusNotFound)
	vs.call(t, "GET", "/api/v1/callbacks/"+okID, other.Token, nil).mustStatus(t, http.StatusNotFound)
	vs.call(t, "GET", "/api/v1/callbacks/not-an-id", co.Token, nil).mustStatus(t, http.StatusNotFound)

	// Settings: owners and admins, sane bounds, their own queues only.
	agent := vs.createUser(t, co.company, "ag@acme.example", "agent")
	vs.call(t, "PUT", "/api/v1/callback-settings", agent.Token, map[string]any{"max_attempts": 2, "retry_delay_seconds": 60}).mustStatus(t, http.StatusForbidden)
	for _, body := range []map[string]any{{"max_attempts": 0, "retry_delay_seconds": 60}, {"max_attempts": 11, "retry_delay_seconds": 60},
		{"max_attempts": 2, "retry_delay_seconds": 0}, {"max_attempts": 2, "retry_delay_seconds": 86401}} {
		vs.call(t, "PUT", "/api/v1/callback-settings", co.Token, body).mustStatus(t, http.StatusBadRequest)
	}
	vs.call(t, "PUT", "/api/v1/callback-settings", co.Token, map[string]any{"queue_id": other.Payments, "max_attempts": 2, "retry_delay_seconds": 60}).
		mustStatus(t, http.StatusNotFound)
	vs.call(t, "GET", "/api/v1/callback-settings?queue_id="+other.Payments, co.Token, nil).mustStatus(t, http.StatusNotFound)
	vs.call(t, "GET", "/api/v1/callback-settings?queue_id=x", co.Token, nil).mustStatus(t, http.StatusBadRequest)
	// The tenant's setting applies where the queue has none; the queue's wins.
	vs.call(t, "PUT", "/api/v1/callback-settings", co.Token, map[string]any{"max_attempts": 5, "retry_delay_seconds": 300}).mustStatus(t, http.StatusOK)
	if s := vs.call(t, "GET", "/api/v1/callback-settings?queue_id="+co.Payments, co.Token, nil).mustStatus(t, http.StatusOK); num(s, "max_attempts") != 5 {
		t.Fatalf("tenant's setting: %s", s.Body)
	}
	vs.call(t, "PUT", "/api/v1/callback-settings", co.Token, map[string]any{"queue_id": co.Payments, "max_attempts": 2, "retry_delay_seconds": 30}).mustStatus(t, http.StatusOK)
	if s := vs.call(t, "GET", "/api/v1/callback-settings?queue_id="+co.Payments, co.Token, nil).mustStatus(t, http.StatusOK); num(s, "max_attempts") != 2 || num(s, "retry_delay_seconds") != 30 {
		t.Fatalf("queue's setting: %s", s.Body)
	}
	if s := vs.call(t, "GET", "/api/v1/callback-settings?queue_id="+co.Deliveries, co.Token, nil).mustStatus(t, http.StatusOK); num(s, "max_attempts") != 5 {
		t.Fatalf("another queue keeps the tenant's: %s", s.Body)
	}
	// Another tenant's settings are its own.
	if s := vs.call(t, "GET", "/api/v1/callback-settings?queue_id="+other.Payments, other.Token, nil).mustStatus(t, http.StatusOK); num(s, "max_attempts") != 3 {
		t.Fatalf("other tenant's defaults: %s", s.Body)
	}
	cb := vs.call(t, "POST", "/api/v1/callbacks", key, map[string]any{"queue_id": co.Payments, "to": "+4930123459"}).mustStatus(t, http.StatusCreated)
	if c, _ := cb.JSON["callback"].(map[string]any); c["max_attempts"] != float64(2) || c["retry_delay_seconds"] != float64(30) {
		t.Fatalf("a callback takes its queue's settings: %s", cb.Body)
	}
}

func TestCallbacks_NotBeforeIsNotOfferedBeforeItsTime(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callbackCenter(t, "acme", 1)
	key, _ := vs.apiKey(t, co.company, "CRM")
	at := time.Now().Add(1500 * time.Millisecond)
	a := vs.call(t, "POST", "/api/v1/callbacks", key, map[string]any{"queue_id": co.Payments, "to": "+4930123456",
		"not_before": at.Format(time.RFC3339Nano)}).mustStatus(t, http.StatusCreated)
	id := a.str("id")
	if a.str("state") != "new" || a.JSON["agent_id"] != nil {
		t.Fatalf("a callback for later is offered now: %s", a.Body)
	}
	ctx := testenv.Context(t)
	if n, err := vs.Contacts.SweepCallbacks(ctx, co.TenantID); err != nil || n != 0 {
		t.Fatalf("sweep before its time: %d %v", n, err)
	}
	if s := vs.callbackOf(t, co, id).str("state"); s != "new" {
		t.Fatalf("before its time: %s", s)
	}
	time.Sleep(time.Until(at) + 50*time.Millisecond)
	if n, err := vs.Contacts.SweepCallbacks(ctx, co.TenantID); err != nil || n != 1 {
		t.Fatalf("sweep at its time: %d %v", n, err)
	}
	if c := vs.callbackOf(t, co, id); c.str("state") != "offered" || c.str("agent_id") != co.Agents[0].UserID.String() {
		t.Fatalf("at its time: %s", c.Body)
	}
	if n, _ := vs.Contacts.SweepCallbacks(ctx, co.TenantID); n != 0 {
		t.Fatalf("queued twice")
	}
}

func TestCallbacks_HoldLoopKeyKeepsTheCallersPlaceAndIsNotMetered(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callbackCenter(t, "acme", 1)
	agent := co.Agents[0]
	vs.call(t, "PUT", "/api/v1/agent/status", agent.Token, map[string]any{"status": "away"}).mustStatus(t, http.StatusOK)
	start := num(vs.balance(t, co.company), "total_remaining")

	first := vs.dial(t, co, "CA"+strings.Repeat("a", 32), "+4917600000001")
	time.Sleep(20 * time.Millisecond)
	second := vs.dial(t, co, "CA"+strings.Repeat("b", 32), "+4917600000002")
	firstID := conversation.ContactID(co.TenantID, voice.Name, first.sid)
	secondID := conversation.ContactID(co.TenantID, voice.Name, second.sid)
	// The waiting caller hears the offer; another key keeps them waiting.
	if first.last.Gather == nil || !strings.Contains(first.last.Gather.Say, "press 1") || !strings.Contains(first.last.Gather.Action, "/voice/callback?contact=") {
		t.Fatalf("no callback offer in the hold loop: %+v", first.last)
	}
	if x := first.press(t, "5"); !strings.Contains(x.Redirect, "/voice/wait?contact="+firstID.String()) || x.Hangup != nil {
		t.Fatalf("another key: %+v", x)
	}
	x := first.silence(t) // the hold loop again
	if x.Gather == nil {
		t.Fatalf("the offer is not repeated: %+v", x)
	}
	before := vs.call(t, "GET", "/api/v1/contacts/"+firstID.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	action := x.Gather.Action
	if x := first.press(t, "1"); x.Hangup == nil || len(x.Says) == 0 || !strings.Contains(x.Says[0], "call you back") {
		t.Fatalf("callback booked: %+v", x)
	}
	// The caller hangs up (the provider reports it, twice).
	first.status(t, "completed")
	first.status(t, "completed")

	cbID := uuid.NewSHA1(firstID, []byte("callback"))
	in := vs.call(t, "GET", "/api/v1/contacts/"+firstID.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	if in.str("state") != "closed" {
		t.Fatalf("the waiting call's contact: %s", in.Body)
	}
	ev := vs.events(t, co, firstID)
	if has(ev, "callback_requested") != 1 || has(ev, "abandoned") != 0 {
		t.Fatalf("the waiting call's timeline: %v", ev)
	}
	cb := vs.callbackOf(t, co, cbID.String())
	if cb.str("kind") != "callback" || cb.str("state") != "queued" || cb.str("direction") != "outbound" || cb.str("channel") != "voice" ||
		cb.str("callback", "to") != "+4917600000001" || cb.str("callback", "from_contact_id") != firstID.String() || cb.str("customer_id") == "" {
		t.Fatalf("the callback: %s", cb.Body)
	}
	if cb.str("queued_at") != before.str("queued_at") {
		t.Fatalf("the callback does not keep the place: queued %s, the call %s", cb.str("queued_at"), before.str("queued_at"))
	}
	// Pressing again (a replayed key) books nothing more.
	if again := parseTwiML(t, vs.hook(t, co.TenantID, action, first.form(map[string]string{"Digits": "1"}), co.Secret)); again.Hangup == nil {
		t.Fatalf("a replayed key: %+v", again)
	}
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts WHERE kind = 'callback'`); n != 1 {
		t.Fatalf("%d callbacks", n)
	}

	// The agent comes back: the callback, ahead of the later call, is offered first.
	vs.setAvailable(t, agent)
	if c := vs.callbackOf(t, co, cbID.String()); c.str("state") != "offered" || c.str("agent_id") != agent.UserID.String() {
		t.Fatalf("the callback is not first in line: %s", c.Body)
	}
	if c := vs.call(t, "GET", "/api/v1/contacts/"+secondID.String(), co.Token, nil).mustStatus(t, http.StatusOK); c.str("state") != "queued" {
		t.Fatalf("the later call went ahead: %s", c.Body)
	}
	// Neither the closed call nor the offer is metered.
	if n := vs.meterRecords(t, co, firstID); n != 0 {
		t.Fatalf("the call that became a callback was metered")
	}
	if got := num(vs.balance(t, co.company), "total_remaining"); got != start {
		t.Fatalf("balance %v -> %v before any accept", start, got)
	}
}

func TestCallbacks_EndToEndRetriedUntilAnsweredAndMeteredOnce(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callbackCenter(t, "acme", 1)
	agent := co.Agents[0]
	key, _ := vs.apiKey(t, co.company, "CRM")
	vs.call(t, "PUT", "/api/v1/callback-settings", co.Token, map[string]any{"queue_id": co.Payments, "max_attempts": 3, "retry_delay_seconds": 1}).
		mustStatus(t, http.StatusOK)
	start := num(vs.balance(t, co.company), "total_remaining")
	to := "+4917612345678"
	a := vs.call(t, "POST", "/api/v1/callbacks", key, map[string]any{"queue_id": co.Payments, "to": to, "name": "Ada"}).mustStatus(t, http.StatusCreated)
	id := uuid.MustParse(a.str("id"))
	if a.str("state") != "offered" || a.str("agent_id") != agent.UserID.String() {
		t.Fatalf("not offered to the available agent: %s", a.Body)
	}
	if n := len(vs.createdCalls()); n != 0 {
		t.Fatalf("a call was placed before an agent accepted: %d", n)
	}
	accept := func() {
		t.Helper()
		vs.call(t, "POST", "/api/v1/contacts/"+id.String()+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	}
	checkCall := func(r telRequest) {
		t.Helper()
		checkTwilioRequest(t, r)
		if r.Form.Get("To") != to || r.Form.Get("From") != co.Number ||
			r.Form.Get("Url") != publicBase+"/webhooks/twilio/"+co.TenantID.String()+"/voice/outbound?contact="+id.String() ||
			r.Form.Get("StatusCallback") != publicBase+"/webhooks/twilio/"+co.TenantID.String()+"/voice/status" {
			t.Fatalf("create call: %+v", r)
		}
	}

	// Attempt 1: the agent accepts, the call is placed, nobody answers.
	accept()
	calls := vs.waitCreatedCalls(t, 1)
	checkCall(calls[0])
	sid1 := fmt.Sprintf("CA%032x", 1)
	vs.waitDialed(t, co, id.String(), sid1)
	if n := vs.meterRecords(t, co, id); n != 1 {
		t.Fatalf("%d meter records after the accept, want 1", n)
	}
	vs.providerStatus(t, co, sid1, to, "initiated")
	vs.providerStatus(t, co, sid1, to, "ringing")
	vs.providerStatus(t, co, sid1, to, "no-answer")
	vs.providerStatus(t, co, sid1, to, "no-answer") // replayed
	cb := vs.callbackOf(t, co, id.String())
	if cb.str("state") != "new" || cb.str("callback", "status") != "waiting" || num(answer{JSON: cb.JSON["callback"].(map[string]any)}, "attempts") != 1 ||
		cb.JSON["agent_id"] != nil || cb.JSON["callback"].(map[string]any)["next_attempt_at"] == nil {
		t.Fatalf("after an unanswered attempt: %s", cb.Body)
	}
	// The agent is free again (the retry is not theirs to wait for), and
	// nothing is offered before the retry is due.
	ctx := testenv.Context(t)
	if n, err := vs.Contacts.SweepCallbacks(ctx, co.TenantID); err != nil || n != 0 {
		t.Fatalf("retried before its delay: %d %v", n, err)
	}
	time.Sleep(1100 * time.Millisecond)
	if n, err := vs.Contacts.SweepCallbacks(ctx, co.TenantID); err != nil || n != 1 {
		t.Fatalf("retry due: %d %v", n, err)
	}
	if c := vs.callbackOf(t, co, id.String()); c.str("state") != "offered" || c.str("agent_id") != agent.UserID.String() {
		t.Fatalf("the retry is not offered to the free agent: %s", c.Body)
	}

	// Attempt 2: busy. Attempt 3: answered and put through to the agent.
	accept()
	calls = vs.waitCreatedCalls(t, 2)
	checkCall(calls[1])
	sid2 := fmt.Sprintf("CA%032x", 2)
	vs.waitDialed(t, co, id.String(), sid2)
	vs.providerStatus(t, co, sid2, to, "busy")
	time.Sleep(1100 * time.Millisecond)
	if n, err := vs.Contacts.SweepCallbacks(ctx, co.TenantID); err != nil || n != 1 {
		t.Fatalf("second retry: %d %v", n, err)
	}
	accept()
	calls = vs.waitCreatedCalls(t, 3)
	checkCall(calls[2])
	sid3 := fmt.Sprintf("CA%032x", 3)
	vs.waitDialed(t, co, id.String(), sid3)
	// A late status of an earlier attempt's call changes nothing.
	vs.providerStatus(t, co, sid1, to, "failed")
	form := url.Values{"CallSid": {sid3}, "From": {co.Number}, "To": {to}, "CallStatus": {"in-progress"}}
	x := parseTwiML(t, vs.hook(t, co.TenantID, calls[2].Form.Get("Url"), form, co.Secret))
	if x.Dial == nil || x.Dial.Client != voice.AgentClient(agent.UserID) {
		t.Fatalf("the answered callback is not put through to the agent: %+v", x)
	}
	vs.providerStatus(t, co, sid3, to, "in-progress")
	cb = vs.callbackOf(t, co, id.String())
	if cb.str("state") != "accepted" || cb.str("callback", "status") != "connected" || cb.str("callback", "call_sid") != sid3 {
		t.Fatalf("connected: %s", cb.Body)
	}
	// The agent's call controls work on the callback's call.
	if c := vs.call(t, "GET", "/api/v1/calls/"+id.String(), agent.Token, nil).mustStatus(t, http.StatusOK); c.str("call_sid") != sid3 {
		t.Fatalf("the callback's call: %s", c.Body)
	}
	vs.call(t, "POST", "/api/v1/contacts/"+id.String()+"/wrapup", agent.Token, map[string]any{"disposition": "solved"}).mustStatus(t, http.StatusNoContent)
	vs.providerStatus(t, co, sid3, to, "completed")

	ev := vs.events(t, co, id)
	if has(ev, "callback_dialing") != 3 || has(ev, "callback_attempt_failed") != 2 || has(ev, "callback_connected") != 1 ||
		has(ev, "accepted") != 3 || has(ev, "callback_unreachable") != 0 {
		t.Fatalf("timeline: %v", ev)
	}
	// Metered exactly once, when the agent first accepted.
	if n := vs.meterRecords(t, co, id); n != 1 {
		t.Fatalf("%d meter records, want 1", n)
	}
	if got := num(vs.balance(t, co.company), "total_remaining"); got != start-1 {
		t.Fatalf("balance %v -> %v, want one contact", start, got)
	}
	for _, r := range vs.Stub.requests() {
		checkTwilioRequest(t, r)
	}
}

func TestCallbacks_UnreachableAfterTheLastAttempt(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callbackCenter(t, "acme", 1)
	agent := co.Agents[0]
	vs.call(t, "PUT", "/api/v1/callback-settings", co.Token, map[string]any{"max_attempts": 1, "retry_delay_seconds": 1}).mustStatus(t, http.StatusOK)
	to := "+4917612345679"
	id := vs.call(t, "POST", "/api/v1/callbacks", agent.Token, map[string]any{"queue_id": co.Payments, "to": to}).mustStatus(t, http.StatusCreated).str("id")
	vs.call(t, "POST", "/api/v1/contacts/"+id+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	calls := vs.waitCreatedCalls(t, 1)
	checkTwilioRequest(t, calls[0])
	vs.waitDialed(t, co, id, fmt.Sprintf("CA%032x", 1))
	vs.providerStatus(t, co, fmt.Sprintf("CA%032x", 1), to, "failed")
	cb := vs.callbackOf(t, co, id)
	if cb.str("state") != "closed" || cb.str("callback", "status") != "unreachable" {
		t.Fatalf("after the last attempt: %s", cb.Body)
	}
	ev := vs.events(t, co, uuid.MustParse(id))
	if has(ev, "callback_unreachable") != 1 || has(ev, "callback_attempt_failed") != 1 {
		t.Fatalf("timeline: %v", ev)
	}
	time.Sleep(1100 * time.Millisecond)
	if n, _ := vs.Contacts.SweepCallbacks(testenv.Context(t), co.TenantID); n != 0 {
		t.Fatal("an unreachable callback was queued again")
	}
	if len(vs.createdCalls()) != 1 {
		t.Fatal("called again")
	}
	// Accepted once: metered once; the agent is free for the next call.
	if n := vs.meterRecords(t, co, uuid.MustParse(id)); n != 1 {
		t.Fatalf("%d meter records", n)
	}
	next := vs.call(t, "POST", "/api/v1/callbacks", agent.Token, map[string]any{"queue_id": co.Payments, "to": to}).mustStatus(t, http.StatusCreated)
	if next.str("state") != "offered" {
		t.Fatalf("the agent is still held by the unreachable callback: %s", next.Body)
	}
}

// chatCallback posts the widget's "call me back" (text/plain, as the
// widget sends it) from origin.
func (vs *voiceServer) chatCallback(t *testing.T, token, to, origin string) answer {
	t.Helper()
	req := newRequest("POST", "/chat/v1/callback", strings.NewReader(jsonString(map[string]any{"token": token, "to": to})))
	req.Header.Set("Content-Type", "text/plain")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return vs.do(t, req)
}

func TestCallbacks_ChatVisitorAsksForACallbackAndKeepsThePlace(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callbackCenter(t, "acme", 0)
	other := vs.callbackCenter(t, "globex", 0)
	both := vs.call(t, "POST", "/api/v1/queues", co.Token, map[string]any{"name": "Shop", "channels": []string{"chat", "voice"}}).
		mustStatus(t, http.StatusCreated).str("id")
	chatOnly := vs.call(t, "POST", "/api/v1/queues", co.Token, map[string]any{"name": "Secret queue", "channels": []string{"chat"}}).
		mustStatus(t, http.StatusCreated).str("id")
	widget := func(queue string) string {
		return vs.call(t, "POST", "/api/v1/chat/widgets", co.Token, map[string]any{"name": "W" + queue[:8], "queue_id": queue,
			"allowed_origins": []string{site}}).mustStatus(t, http.StatusCreated).str("key")
	}
	start := num(vs.balance(t, co.company), "total_remaining")
	s := vs.startChat(t, widget(both), site, map[string]any{"visitor_id": "v1"}).mustStatus(t, http.StatusCreated)
	token, chatID := s.str("token"), s.str("contact_id")
	before := vs.call(t, "GET", "/api/v1/contacts/"+chatID, co.Token, nil).mustStatus(t, http.StatusOK)

	// Bad numbers and tokens are refused and change nothing.
	if a := vs.chatCallback(t, token, "call me", site).mustStatus(t, http.StatusBadRequest); a.errCode() != "invalid_phone" {
		t.Fatalf("bad number: %s", a.Body)
	}
	vs.chatCallback(t, "cv1.nonsense", "+49 30 1234567", site).mustStatus(t, http.StatusUnauthorized)
	vs.chatCallback(t, token, "+49 30 1234567", "https://evil.example").mustStatus(t, http.StatusForbidden)
	if st := vs.call(t, "GET", "/api/v1/contacts/"+chatID, co.Token, nil).mustStatus(t, http.StatusOK).str("state"); st != "queued" {
		t.Fatalf("a refused callback changed the chat: %s", st)
	}

	a := vs.chatCallback(t, token, "+49 (30) 123-4567", site).mustStatus(t, http.StatusCreated)
	if a.str("to") != "+49301234567" || a.str("status") != "waiting" || a.Header.Get("Access-Control-Allow-Origin") != site {
		t.Fatalf("chat callback: %s %v", a.Body, a.Header)
	}
	cb := vs.callbackOf(t, co, a.str("contact_id"))
	if cb.str("kind") != "callback" || cb.str("channel") != "voice" || cb.str("queue_id") != both || cb.str("state") != "queued" ||
		cb.str("queued_at") != before.str("queued_at") || cb.str("callback", "from_contact_id") != chatID {
		t.Fatalf("the callback does not take the chat's place: %s (chat %s)", cb.Body, before.Body)
	}
	if c := vs.call(t, "GET", "/api/v1/contacts/"+chatID, co.Token, nil).mustStatus(t, http.StatusOK); c.str("state") != "closed" {
		t.Fatalf("the chat: %s", c.Body)
	}
	if n := vs.meterRecords(t, co, uuid.MustParse(chatID)); n != 0 {
		t.Fatal("the chat that became a callback was metered")
	}
	if got := num(vs.balance(t, co.company), "total_remaining"); got != start {
		t.Fatalf("balance %v -> %v", start, got)
	}
	// The chat is over for the visitor.
	if a := vs.chatCallback(t, token, "+49301234567", site); a.Status == http.StatusCreated && a.str("contact_id") != cb.str("id") {
		t.Fatalf("a second callback from the ended chat: %s", a.Body)
	}

	// A queue that takes no calls offers no callback (and names no queue).
	s2 := vs.startChat(t, widget(chatOnly), site, map[string]any{"visitor_id": "v2"}).mustStatus(t, http.StatusCreated)
	if a := vs.chatCallback(t, s2.str("token"), "+49301234567", site).mustStatus(t, http.StatusBadRequest); a.errCode() != "callback_unavailable" ||
		strings.Contains(string(a.Body), "Secret") {
		t.Fatalf("chat-only queue: %s", a.Body)
	}
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM contacts WHERE kind = 'callback'`); n != 1 {
		t.Fatalf("%d callbacks", n)
	}
	if n := vs.count(t, other.TenantID, `SELECT count(*) FROM contacts`); n != 0 {
		t.Fatalf("another tenant got %d contacts", n)
	}
}

func TestCallbacks_AttemptWithoutNewsFromTheProviderCountsAsUnanswered(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callbackCenter(t, "acme", 1)
	agent := co.Agents[0]
	vs.call(t, "PUT", "/api/v1/callback-settings", co.Token, map[string]any{"max_attempts": 2, "retry_delay_seconds": 60}).mustStatus(t, http.StatusOK)
	to := "+4917612345670"
	id := vs.call(t, "POST", "/api/v1/callbacks", agent.Token, map[string]any{"queue_id": co.Payments, "to": to}).mustStatus(t, http.StatusCreated).str("id")
	vs.call(t, "POST", "/api/v1/contacts/"+id+"/accept", agent.Token, nil).mustStatus(t, http.StatusOK)
	vs.waitCreatedCalls(t, 1)
	sid := fmt.Sprintf("CA%032x", 1)
	vs.waitDialed(t, co, id, sid)
	ctx := testenv.Context(t)
	// Ringing, but not yet for long: nothing happens.
	if _, err := vs.Contacts.SweepCallbacks(ctx, co.TenantID); err != nil {
		t.Fatal(err)
	}
	if s := vs.callbackOf(t, co, id).str("callback", "status"); s != "dialing" {
		t.Fatalf("a ringing attempt was given up: %s", s)
	}
	vs.inTenant(t, co.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE callbacks SET updated_at = now() - interval '16 minutes' WHERE contact_id = $1`, id)
		return err
	})
	if _, err := vs.Contacts.SweepCallbacks(ctx, co.TenantID); err != nil {
		t.Fatal(err)
	}
	cb := vs.callbackOf(t, co, id)
	if cb.str("state") != "new" || cb.str("callback", "status") != "waiting" {
		t.Fatalf("an attempt without news: %s", cb.Body)
	}
	// The provider's late word on that call changes nothing more.
	vs.providerStatus(t, co, sid, to, "no-answer")
	vs.providerStatus(t, co, sid, to, "completed")
	if cb := vs.callbackOf(t, co, id); cb.str("state") != "new" || cb.str("callback", "status") != "waiting" || num(answer{JSON: cb.JSON["callback"].(map[string]any)}, "attempts") != 1 {
		t.Fatalf("after a late status: %s", cb.Body)
	}
	ev := vs.events(t, co, uuid.MustParse(id))
	if has(ev, "callback_attempt_failed") != 1 || has(ev, "abandoned") != 0 {
		t.Fatalf("timeline: %v", ev)
	}
	// The agent is free: a new callback is offered to them at once.
	next := vs.call(t, "POST", "/api/v1/callbacks", agent.Token, map[string]any{"queue_id": co.Payments, "to": "+4917612345671"}).mustStatus(t, http.StatusCreated)
	if next.str("state") != "offered" {
		t.Fatalf("the agent is still held: %s", next.Body)
	}
}
