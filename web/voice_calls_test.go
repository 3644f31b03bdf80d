package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/voice"
	"github.com/cic-platform/cic/infra/testenv"
)

// queuedCall is a caller put through to agents[0] on the Payments number.
func (vs *voiceServer) answeredCall(t *testing.T, co callCenter, sid string) (*caller, uuid.UUID) {
	t.Helper()
	q := uuid.MustParse(co.Payments)
	if vs.count(t, co.TenantID, `SELECT count(*) FROM channel_addresses`) == 0 {
		vs.number(t, co, nil, &q)
	}
	c := vs.dial(t, co, sid, "+4917699999999")
	id := conversation.ContactID(co.TenantID, "voice", sid)
	vs.call(t, "POST", "/api/v1/contacts/"+id.String()+"/accept", co.Agents[0].Token, nil).mustStatus(t, http.StatusOK)
	if x := c.silence(t); x.Dial == nil || x.Dial.Client != voice.AgentClient(co.Agents[0].UserID) {
		t.Fatalf("not put through: %+v", x)
	}
	return c, id
}

// events lists the kinds on a contact's timeline.
func (vs *voiceServer) events(t *testing.T, co callCenter, id uuid.UUID) []string {
	t.Helper()
	d := vs.call(t, "GET", "/api/v1/contacts/"+id.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	var out []string
	for _, e := range d.JSON["events"].([]any) {
		out = append(out, e.(map[string]any)["kind"].(string))
	}
	return out
}

func has(list []string, v string) int {
	n := 0
	for _, x := range list {
		if x == v {
			n++
		}
	}
	return n
}

// lastRedirect is the URL of the provider's last redirect of sid.
func (vs *voiceServer) lastRedirect(t *testing.T, sid string) string {
	t.Helper()
	reqs := vs.Stub.requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if strings.HasSuffix(reqs[i].Path, "/Calls/"+sid+".json") {
			if u := reqs[i].Form.Get("Url"); u != "" {
				return u
			}
			return "status=" + reqs[i].Form.Get("Status")
		}
	}
	t.Fatalf("the provider was never asked about %s: %+v", sid, reqs)
	return ""
}

func TestCalls_HoldResumeHangUpGoThroughTheProviderAndTheTimeline(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	sid := "CA60000000000000000000000000000001"
	c, id := vs.answeredCall(t, co, sid)
	agent := co.Agents[0]
	path := "/api/v1/calls/" + id.String()

	call := vs.call(t, "GET", path, agent.Token, nil).mustStatus(t, http.StatusOK)
	if call.str("call_sid") != sid || call.str("from") != "+4917699999999" || call.JSON["held"] != false {
		t.Fatalf("the call: %s", call.Body)
	}
	vs.call(t, "POST", path+"/hold", agent.Token, nil).mustStatus(t, http.StatusOK)
	if u := vs.lastRedirect(t, sid); !strings.HasPrefix(u, publicBase+"/webhooks/twilio/"+co.TenantID.String()+"/voice/hold?contact="+id.String()) {
		t.Fatalf("hold redirects to %s", u)
	}
	if a := vs.call(t, "POST", path+"/hold", agent.Token, nil).mustStatus(t, http.StatusConflict); a.errCode() != "already_held" {
		t.Fatalf("hold twice: %s", a.Body)
	}
	// The provider fetches the hold music: a loop that keeps the caller.
	h := parseTwiML(t, vs.hook(t, co.TenantID, vs.lastRedirect(t, sid), c.form(nil), co.Secret))
	if !strings.Contains(h.Redirect, "/voice/hold?contact=") || h.Dial != nil {
		t.Fatalf("hold music: %+v", h)
	}
	vs.call(t, "POST", path+"/resume", agent.Token, nil).mustStatus(t, http.StatusOK)
	u := vs.lastRedirect(t, sid)
	if !strings.Contains(u, "/voice/wait?contact="+id.String()) {
		t.Fatalf("resume redirects to %s", u)
	}
	if x := parseTwiML(t, vs.hook(t, co.TenantID, u, c.form(nil), co.Secret)); x.Dial == nil || x.Dial.Client != voice.AgentClient(agent.UserID) {
		t.Fatalf("resumed call is not put back through to the agent: %+v", x)
	}
	if a := vs.call(t, "POST", path+"/resume", agent.Token, nil).mustStatus(t, http.StatusConflict); a.errCode() != "not_held" {
		t.Fatalf("resume twice: %s", a.Body)
	}

	// The agent hangs up: the caller is taken to the survey, answers 4.
	vs.call(t, "POST", path+"/hangup", agent.Token, nil).mustStatus(t, http.StatusOK)
	u = vs.lastRedirect(t, sid)
	if !strings.Contains(u, "/voice/survey?contact="+id.String()) {
		t.Fatalf("agent's hang-up redirects to %s", u)
	}
	c.last = parseTwiML(t, vs.hook(t, co.TenantID, u, c.form(nil), co.Secret))
	if c.last.Gather == nil || !strings.Contains(c.last.Gather.Say, "Press 1") {
		t.Fatalf("survey question: %+v", c.last)
	}
	if x := c.press(t, "9"); x.Gather == nil {
		t.Fatalf("a key that is no score: %+v", x)
	}
	if x := c.press(t, "4"); x.Hangup == nil || !strings.Contains(x.Says[0], "Thank you") {
		t.Fatalf("survey answer: %+v", x)
	}
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM csat_surveys WHERE contact_id = $1 AND score = 4 AND channel = 'voice'`, id); n != 1 {
		t.Fatalf("the score was not recorded")
	}
	// The caller's line ends: one hang-up by the caller, however often
	// the provider reports it.
	c.status(t, "completed")
	c.status(t, "completed")
	ev := vs.events(t, co, id)
	if has(ev, "hold") != 1 || has(ev, "resumed") != 1 || has(ev, "hangup") != 2 {
		t.Fatalf("timeline: %v", ev)
	}
	if a := vs.call(t, "POST", path+"/hold", agent.Token, nil).mustStatus(t, http.StatusConflict); a.errCode() != "call_ended" {
		t.Fatalf("hold after the end: %s", a.Body)
	}
}

func TestCalls_CallerHangingUpWhileQueuedAbandonsOnceAndIsNotMetered(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 0)
	q := uuid.MustParse(co.Payments)
	vs.number(t, co, nil, &q)
	start := num(vs.balance(t, co.company), "total_remaining")
	c := vs.dial(t, co, "CA70000000000000000000000000000001", "+4917600000071")
	id := conversation.ContactID(co.TenantID, "voice", c.sid)
	x := parseTwiML(t, c.status(t, "completed"))
	if len(x.Says) != 0 || x.Gather != nil {
		t.Fatalf("a status callback is answered with an empty response: %+v", x)
	}
	parseTwiML(t, c.status(t, "completed")) // replayed
	ev := vs.events(t, co, id)
	if has(ev, "abandoned") != 1 || has(ev, "customer_left") != 0 {
		t.Fatalf("timeline after a replayed hang-up: %v", ev)
	}
	if n := vs.meterRecords(t, co, id); n != 0 {
		t.Fatalf("an abandoned call was metered")
	}
	if got := num(vs.balance(t, co.company), "total_remaining"); got != start {
		t.Fatalf("balance %v -> %v", start, got)
	}
}

func TestCalls_TransferPutsTheCallerBackOnHoldUntilTheNextAgent(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 2)
	sid := "CA80000000000000000000000000000001"
	c, id := vs.answeredCall(t, co, sid)
	vs.call(t, "POST", "/api/v1/contacts/"+id.String()+"/transfer", co.Agents[0].Token, map[string]any{"queue_id": co.Deliveries}).
		mustStatus(t, http.StatusNoContent)
	deadline := time.Now().Add(5 * time.Second)
	var u string
	for time.Now().Before(deadline) {
		for _, r := range vs.Stub.requests() {
			if strings.HasSuffix(r.Path, "/Calls/"+sid+".json") {
				u = r.Form.Get("Url")
			}
		}
		if u != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(u, "/voice/wait?contact="+id.String()) {
		t.Fatalf("transfer did not redirect the caller to the hold loop: %q", u)
	}
	// Offered to the deliveries agent: hold loop; accepted: their phone.
	if x := parseTwiML(t, vs.hook(t, co.TenantID, u, c.form(nil), co.Secret)); !strings.Contains(x.Redirect, "/voice/wait") {
		t.Fatalf("after transfer: %+v", x)
	}
	vs.call(t, "POST", "/api/v1/contacts/"+id.String()+"/accept", co.Agents[1].Token, nil).mustStatus(t, http.StatusOK)
	if x := parseTwiML(t, vs.hook(t, co.TenantID, u, c.form(nil), co.Secret)); x.Dial == nil || x.Dial.Client != voice.AgentClient(co.Agents[1].UserID) {
		t.Fatalf("after the next agent accepted: %+v", x)
	}
}

func TestCalls_OutboundCallIsPlacedFromTheCompanysNumberAndPutThroughToTheAgent(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	q := uuid.MustParse(co.Payments)
	vs.number(t, co, nil, &q)
	ch := voice.Channel{S: vs.Voice}
	ctx := testenv.Context(t)
	agent := co.Agents[0]
	id, err := ch.Start(ctx, channels.Outbound{TenantID: co.TenantID, AgentID: agent.UserID, QueueID: q, To: "+44 20 7946 0000", Campaign: "renewals"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := vs.Stub.requests()
	last := reqs[len(reqs)-1]
	if !strings.HasSuffix(last.Path, "/Accounts/ACacme/Calls.json") || last.Form.Get("From") != co.Number || last.Form.Get("To") != "+442079460000" ||
		last.Form.Get("Url") != publicBase+"/webhooks/twilio/"+co.TenantID.String()+"/voice/outbound?contact="+id.String() ||
		last.Form.Get("StatusCallback") != publicBase+"/webhooks/twilio/"+co.TenantID.String()+"/voice/status" {
		t.Fatalf("create call: %+v", last)
	}
	d := vs.call(t, "GET", "/api/v1/contacts/"+id.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	if d.str("direction") != "outbound" || d.str("state") != "accepted" || d.str("agent_id") != agent.UserID.String() || d.str("customer_id") == "" {
		t.Fatalf("outbound contact: %s", d.Body)
	}
	// The customer answers: the provider asks what to do, we dial the agent.
	form := url.Values{"CallSid": {"CAoutbound0001"}, "From": {co.Number}, "To": {"+442079460000"}, "CallStatus": {"in-progress"}}
	x := parseTwiML(t, vs.hook(t, co.TenantID, last.Form.Get("Url"), form, co.Secret))
	if x.Dial == nil || x.Dial.Client != voice.AgentClient(agent.UserID) {
		t.Fatalf("answered outbound call: %+v", x)
	}
	// A reply on a call is refused; the survey of a call that ended is a no-op.
	if err := ch.Send(ctx, channels.Message{TenantID: co.TenantID, ContactID: id, Kind: channels.KindReply, Body: "hi"}); testenv.Code(err) != "calls_are_live" {
		t.Fatalf("reply on a call: %v", err)
	}
	form.Set("CallStatus", "completed")
	parseTwiML(t, vs.hook(t, co.TenantID, "/status", form, co.Secret))
	n := len(vs.Stub.requests())
	if err := ch.Send(ctx, channels.Message{TenantID: co.TenantID, ContactID: id, Kind: channels.KindSurvey, Body: "?"}); err != nil {
		t.Fatalf("survey of an ended call: %v", err)
	}
	if len(vs.Stub.requests()) != n {
		t.Fatal("the provider was asked to survey a call that ended")
	}
}

func TestCalls_SurveyAfterCloseRedirectsALiveCall(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	sid := "CA90000000000000000000000000000001"
	_, id := vs.answeredCall(t, co, sid)
	ch := voice.Channel{S: vs.Voice}
	if err := ch.Send(testenv.Context(t), channels.Message{TenantID: co.TenantID, ContactID: id, Kind: channels.KindSurvey, Body: "How did we do?"}); err != nil {
		t.Fatal(err)
	}
	if u := vs.lastRedirect(t, sid); !strings.Contains(u, "/voice/survey?contact="+id.String()) {
		t.Fatalf("survey redirect: %s", u)
	}
}
