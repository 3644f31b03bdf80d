package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/contacts"
)

const (
	customerPhone = "+4915112345678"
	acmeNumber    = "+4930111111"
	acmeFax       = "+4930111119"
	acmePage      = "facebook:acmepage"
	otherNumber   = "+4940222222"
	otherFax      = "+4940222229"
	otherPage     = "facebook:otherpage"
)

func smsPath(tenantID uuid.UUID) string { return "/webhooks/twilio/" + tenantID.String() + "/sms" }

func TestSMSWebhook_SignatureDecides(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	b := ms.company(t, "other", otherNumber, otherFax, otherPage)
	form := smsForm("SM1", customerPhone, acmeNumber, "Where is my parcel?")
	for _, tc := range []struct {
		name, path, token, sig string
	}{
		{"missing signature", smsPath(a.TenantID), "", ""},
		{"wrong signature", smsPath(a.TenantID), "", "bm90IGEgc2lnbmF0dXJl"},
		{"another tenant's token", smsPath(a.TenantID), b.TwilioToken, ""},
		{"unknown tenant", smsPath(uuid.New()), a.TwilioToken, ""},
		{"malformed tenant", "/webhooks/twilio/acme/sms", a.TwilioToken, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest("POST", tc.path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.token != "" {
				req.Header.Set("X-Twilio-Signature", signTwilio(tc.token, tc.path, form))
			} else if tc.sig != "" {
				req.Header.Set("X-Twilio-Signature", tc.sig)
			}
			ms.do(t, req).mustStatus(t, http.StatusForbidden)
		})
	}
	// Signed for another URL (B's webhook) and posted to A's.
	req := newRequest("POST", smsPath(a.TenantID), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", signTwilio(a.TwilioToken, smsPath(b.TenantID), form))
	ms.do(t, req).mustStatus(t, http.StatusForbidden)
	// A tampered body no longer matches its signature.
	tampered := smsForm("SM1", customerPhone, acmeNumber, "Send it to my neighbour")
	req = newRequest("POST", smsPath(a.TenantID), strings.NewReader(tampered.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", signTwilio(a.TwilioToken, smsPath(a.TenantID), form))
	ms.do(t, req).mustStatus(t, http.StatusForbidden)
	if n := ms.counts(t, a.TenantID); n != (counts{}) {
		t.Fatalf("refused webhooks stored %+v", n)
	}

	first := ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, form).mustStatus(t, http.StatusOK)
	if !strings.Contains(string(first.Body), "<Response/>") || !strings.HasPrefix(first.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("answer %s %q", first.Header.Get("Content-Type"), first.Body)
	}
	// The provider retries (or someone replays the signed request).
	for range 3 {
		ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, form).mustStatus(t, http.StatusOK)
	}
	if n := ms.counts(t, a.TenantID); n != (counts{Contacts: 1, Messages: 1, Customers: 1}) {
		t.Fatalf("after replays %+v, want one contact, message, customer", n)
	}
}

func signTwilio(token, path string, form url.Values) string {
	return twilioSign(token, "http://cic.test"+path, form)
}

func TestSMS_InboundRoutesJoinsRepliesAndTracksStatus(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ctx := testenv.Context(t)

	ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, smsForm("SMin1", "0049 151 1234-5678", "+49 30 111111", "Where is my parcel?")).
		mustStatus(t, http.StatusOK)
	var contactID uuid.UUID
	if err := ms.DB.Owner.QueryRow(ctx, `SELECT id FROM contacts WHERE tenant_id = $1`, a.TenantID).Scan(&contactID); err != nil {
		t.Fatal(err)
	}
	if contactID != conversation.ContactID(a.TenantID, "sms", "SMin1") {
		t.Fatalf("contact id %s is not derived from the sid", contactID)
	}
	c, err := ms.Contacts.GetByID(ctx, a.TenantID, contactID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Channel != "sms" || c.QueueID == nil || *c.QueueID != a.QueueID || c.CustomerRef != customerPhone || c.CustomerID == nil {
		t.Fatalf("contact %+v", c)
	}
	if c.State != contacts.StateOffered && c.State != contacts.StateQueued {
		t.Fatalf("contact is %s, want routed", c.State)
	}
	byPhone, err := (&customer.Service{DB: ms.Tenants.DB}).Resolve(ctx, a.TenantID, customer.KindPhone, customerPhone, "")
	if err != nil || byPhone != *c.CustomerID {
		t.Fatalf("customer by phone %s, contact's %s (%v)", byPhone, *c.CustomerID, err)
	}

	// The customer writes again: the same conversation.
	ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, smsForm("SMin2", customerPhone, acmeNumber, "It was due Monday.")).
		mustStatus(t, http.StatusOK)
	if n := ms.counts(t, a.TenantID); n.Contacts != 1 || n.Messages != 2 {
		t.Fatalf("second SMS: %+v, want it on the open contact", n)
	}
	var wrote int
	if err := ms.DB.Owner.QueryRow(testenv.Context(t), `SELECT count(*) FROM contact_events WHERE tenant_id = $1 AND kind = 'customer_wrote'`,
		a.TenantID).Scan(&wrote); err != nil || wrote != 1 {
		t.Fatalf("customer_wrote events: %d, %v; want 1", wrote, err)
	}

	// The agent answers: the provider gets it from our number, to theirs.
	agent := a.Agent.UserID
	ms.accept(t, a, contactID) // answered once accepted (and metered)
	if err := ms.Registry.Send(ctx, "sms", channels.Message{TenantID: a.TenantID, ContactID: contactID, AgentID: &agent,
		Kind: channels.KindReply, Body: "It leaves the depot today."}); err != nil {
		t.Fatal(err)
	}
	calls := ms.API.calls()
	if len(calls) != 1 {
		t.Fatalf("provider calls %+v", calls)
	}
	got := calls[0]
	if got.Path != "/twilio/2010-04-01/Accounts/"+a.AccountSID+"/Messages.json" || got.User != a.AccountSID || got.Password != a.TwilioToken {
		t.Fatalf("provider call %s as %s:%s", got.Path, got.User, got.Password)
	}
	if got.Form.Get("From") != acmeNumber || got.Form.Get("To") != customerPhone || got.Form.Get("Body") != "It leaves the depot today." ||
		got.Form.Get("StatusCallback") != "http://cic.test"+smsPath(a.TenantID)+"/status" {
		t.Fatalf("provider form %v", got.Form)
	}
	msgs := ms.messages(t, a.TenantID, contactID)
	reply := msgs[len(msgs)-1]
	if reply.Direction != "outbound" || reply.Sender != "agent" || reply.Status != "sent" || reply.ExternalID == nil || *reply.ExternalID != "SMout1" {
		t.Fatalf("recorded reply %+v", reply)
	}

	// Delivery reports: delivered keeps it sent; replays change nothing;
	// undelivered marks it failed with the reason, a late "sent" does
	// not undo that.
	status := func(st string) {
		ms.postTwilio(t, smsPath(a.TenantID)+"/status", a.TwilioToken, url.Values{"MessageSid": {"SMout1"}, "MessageStatus": {st},
			"ErrorCode": {"30003"}}).mustStatus(t, http.StatusNoContent)
	}
	status("delivered")
	status("delivered")
	if m, _ := ms.Conv.Get(ctx, a.TenantID, reply.ID); m.Status != "sent" {
		t.Fatalf("after delivered: %s", m.Status)
	}
	status("undelivered")
	status("sent")
	if m, _ := ms.Conv.Get(ctx, a.TenantID, reply.ID); m.Status != "failed" || !strings.Contains(m.Error, "30003") {
		t.Fatalf("after undelivered: %s %q", m.Status, m.Error)
	}
	// Unsigned status callbacks are refused.
	ms.postTwilio(t, smsPath(a.TenantID)+"/status", "", url.Values{"MessageSid": {"SMout1"}, "MessageStatus": {"delivered"}}).
		mustStatus(t, http.StatusForbidden)

	// A provider that refuses: the reply is recorded as failed and the
	// agent gets a neutral reason (the provider's own text is logged only).
	ms.API.setFail(true)
	err = ms.Registry.Send(ctx, "sms", channels.Message{TenantID: a.TenantID, ContactID: contactID, AgentID: &agent,
		Kind: channels.KindReply, Body: "Hello?"})
	if testenv.Code(err) != "provider_refused" {
		t.Fatalf("refused send: %v", err)
	}
	msgs = ms.messages(t, a.TenantID, contactID)
	if last := msgs[len(msgs)-1]; last.Status != "failed" || !strings.Contains(last.Error, "HTTP 400") || strings.Contains(last.Error, "not a valid phone number") {
		t.Fatalf("failed reply recorded as %+v", last)
	}
	ms.API.setFail(false)
	if err := ms.Registry.Send(ctx, "sms", channels.Message{TenantID: a.TenantID, ContactID: contactID, Kind: channels.KindReply,
		Body: "file", Attachments: []channels.Attachment{{Filename: "a.txt", Data: []byte("x")}}}); testenv.Code(err) != "attachments_unsupported" {
		t.Fatalf("attachment on SMS: %v", err)
	}
}

func TestSMS_SurveyAnswerOpensNoContact(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ctx := testenv.Context(t)
	// An outbound SMS contact, handled by the agent, then surveyed.
	id, err := ms.SMS.Start(ctx, channels.Outbound{TenantID: a.TenantID, AgentID: a.Agent.UserID, QueueID: a.QueueID,
		To: customerPhone, Body: "Your parcel is ready."})
	if err != nil {
		t.Fatal(err)
	}
	surveys := &customer.Surveys{DB: ms.Tenants.DB, Channels: ms.Registry}
	if ok, err := surveys.StartSurvey(ctx, a.TenantID, id, "sms"); err != nil || !ok {
		t.Fatalf("survey: %v %v", ok, err)
	}
	before := ms.counts(t, a.TenantID)
	for range 2 { // the answer and its replay
		ans := ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, smsForm("SMscore", customerPhone, acmeNumber, " 4 ")).mustStatus(t, http.StatusOK)
		if !strings.Contains(string(ans.Body), "<Response/>") {
			t.Fatalf("survey answer answered %s", ans.Body)
		}
	}
	if after := ms.counts(t, a.TenantID); after != before {
		t.Fatalf("survey answer stored %+v -> %+v", before, after)
	}
	var score int
	if err := ms.DB.Owner.QueryRow(ctx, `SELECT score FROM csat_surveys WHERE tenant_id = $1 AND contact_id = $2`, a.TenantID, id).Scan(&score); err != nil || score != 4 {
		t.Fatalf("score %d %v", score, err)
	}
	// With no survey open a digit is just a message (on the open contact).
	ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, smsForm("SMdigit", customerPhone, acmeNumber, "2")).mustStatus(t, http.StatusOK)
	if after := ms.counts(t, a.TenantID); after.Messages != before.Messages+1 || after.Contacts != before.Contacts {
		t.Fatalf("digit without survey: %+v -> %+v", before, after)
	}
}

func TestSMS_BlockPolicyAnswersByTextAndKeepsTheMessage(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ms.block(t, a.TenantID)
	for range 2 { // and the retry answers the same
		ans := ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, smsForm("SMblocked", customerPhone, acmeNumber, "Anyone there?")).
			mustStatus(t, http.StatusOK)
		if !strings.Contains(string(ans.Body), "<Message>") || !strings.Contains(string(ans.Body), "service is unavailable") {
			t.Fatalf("blocked answer %s", ans.Body)
		}
	}
	id := conversation.ContactID(a.TenantID, "sms", "SMblocked")
	c, err := ms.Contacts.GetByID(testenv.Context(t), a.TenantID, id)
	if err != nil || c.State != contacts.StateNoCredit {
		t.Fatalf("blocked contact %+v %v", c, err)
	}
	msgs := ms.messages(t, a.TenantID, id)
	if len(msgs) != 1 || msgs[0].Body != "Anyone there?" {
		t.Fatalf("kept messages %+v", msgs)
	}
}

func TestSMS_ClosedQueueAnswersItsMessage(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ms.call(t, "PATCH", "/api/v1/queues/"+a.QueueID.String(), a.Token, map[string]any{"closed_message": "Back on Monday & fresh.",
		"business_hours": map[string]any{"timezone": "UTC", "days": map[string]any{"mon": []string{"00:00", "00:01"}}}}).mustStatus(t, http.StatusOK)
	ans := ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, smsForm("SMclosed", customerPhone, acmeNumber, "Hello")).mustStatus(t, http.StatusOK)
	if !strings.Contains(string(ans.Body), "<Message>Back on Monday &amp; fresh.</Message>") {
		t.Fatalf("closed answer %s", ans.Body)
	}
	// Nothing received is lost: the message waits on a routed contact
	// (here an agent is still on, so it is offered at once).
	var state, body string
	err := ms.DB.Owner.QueryRow(testenv.Context(t), `SELECT c.state, m.body FROM contacts c JOIN contact_messages m
		ON m.tenant_id = c.tenant_id AND m.contact_id = c.id WHERE c.tenant_id = $1 AND c.channel = 'sms'`, a.TenantID).Scan(&state, &body)
	if err != nil || (state != "queued" && state != "offered") || body != "Hello" {
		t.Fatalf("after hours: contact %q with %q, %v; want the message routed", state, body, err)
	}
}

func TestSMS_OutboundStartIsMeteredOnce(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ctx := testenv.Context(t)
	cid, err := ms.SMS.Start(ctx, channels.Outbound{TenantID: a.TenantID, AgentID: a.Agent.UserID, QueueID: a.QueueID,
		To: "+49 151 9999 0000", Body: "Your appointment is confirmed.", Campaign: "spring"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ms.Contacts.GetByID(ctx, a.TenantID, cid)
	if err != nil || c.Direction != "outbound" || c.State != contacts.StateAccepted || c.AgentID == nil || *c.AgentID != a.Agent.UserID ||
		c.Campaign != "spring" || c.CustomerID == nil {
		t.Fatalf("outbound contact %+v %v", c, err)
	}
	var metered int
	if err := ms.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM meter_records WHERE tenant_id = $1 AND contact_id = $2`,
		a.TenantID, cid.String()).Scan(&metered); err != nil || metered != 1 {
		t.Fatalf("meter records %d %v", metered, err)
	}
	calls := ms.API.calls()
	if len(calls) != 1 || calls[0].Form.Get("From") != acmeNumber || calls[0].Form.Get("To") != "+4915199990000" {
		t.Fatalf("provider calls %+v", calls)
	}
	// Bad input opens nothing.
	before := ms.counts(t, a.TenantID)
	for _, out := range []channels.Outbound{
		{TenantID: a.TenantID, AgentID: a.Agent.UserID, QueueID: a.QueueID, To: "not a number", Body: "x"},
		{TenantID: a.TenantID, AgentID: a.Agent.UserID, QueueID: a.QueueID, To: customerPhone, Body: "  "},
	} {
		if _, err := ms.SMS.Start(ctx, out); testenv.Code(err) == "" {
			t.Fatalf("start %+v: %v", out, err)
		}
	}
	if after := ms.counts(t, a.TenantID); after.Contacts != before.Contacts {
		t.Fatalf("bad starts opened contacts: %+v -> %+v", before, after)
	}
}

func TestSMS_TenantIsolation(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	b := ms.company(t, "other", otherNumber, otherFax, otherPage)
	// B's own webhook, correctly signed by B, naming A's number: not B's,
	// so nothing is delivered anywhere.
	ms.postTwilio(t, smsPath(b.TenantID), b.TwilioToken, smsForm("SMx", customerPhone, acmeNumber, "hi")).mustStatus(t, http.StatusNotFound)
	// A's webhook signed with B's token.
	ms.postTwilio(t, smsPath(a.TenantID), b.TwilioToken, smsForm("SMy", customerPhone, acmeNumber, "hi")).mustStatus(t, http.StatusForbidden)
	if na, nb := ms.counts(t, a.TenantID), ms.counts(t, b.TenantID); na != (counts{}) || nb != (counts{}) {
		t.Fatalf("stored A %+v B %+v", na, nb)
	}
	// A's reply's status cannot be changed through B's callback.
	ms.postTwilio(t, smsPath(a.TenantID), a.TwilioToken, smsForm("SMa", customerPhone, acmeNumber, "hi")).mustStatus(t, http.StatusOK)
	ctx := testenv.Context(t)
	contactID := conversation.ContactID(a.TenantID, "sms", "SMa")
	ms.accept(t, a, contactID)
	if err := ms.SMS.Send(ctx, channels.Message{TenantID: a.TenantID, ContactID: contactID, Kind: channels.KindReply, Body: "hello"}); err != nil {
		t.Fatal(err)
	}
	ms.postTwilio(t, smsPath(b.TenantID)+"/status", b.TwilioToken, url.Values{"MessageSid": {"SMout1"}, "MessageStatus": {"failed"}}).
		mustStatus(t, http.StatusNoContent)
	msgs := ms.messages(t, a.TenantID, contactID)
	if last := msgs[len(msgs)-1]; last.Status != "sent" {
		t.Fatalf("B's callback changed A's reply: %+v", last)
	}
	// B cannot answer on A's contact.
	if err := ms.SMS.Send(ctx, channels.Message{TenantID: b.TenantID, ContactID: contactID, Kind: channels.KindReply, Body: "x"}); testenv.Code(err) != "not_found" {
		t.Fatalf("B sending on A's contact: %v", err)
	}
}
