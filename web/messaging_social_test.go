package web_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"

	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/messaging"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

func socialPath(tenantID uuid.UUID) string { return "/webhooks/social/" + tenantID.String() }

func (ms *msgServer) postSocial(t testing.TB, tenantID uuid.UUID, secret string, at time.Time, body []byte) answer {
	t.Helper()
	return ms.signed(t, socialPath(tenantID), "application/json", secret, at, body)
}

func TestSocialWebhook_SignatureDecides(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	b := ms.company(t, "other", otherNumber, otherFax, otherPage)
	body := socialEvent("ev1", acmePage, "sam", "Hi, my order is late")
	now := time.Now()
	ts := func(at time.Time) string { return itoa(at.Unix()) }
	for _, tc := range []struct {
		name, path, timestamp, signature string
	}{
		{"missing headers", socialPath(a.TenantID), "", ""},
		{"missing signature", socialPath(a.TenantID), ts(now), ""},
		{"missing timestamp", socialPath(a.TenantID), "", messaging.Sign(a.SocialSecret, now.Unix(), body)},
		{"wrong signature", socialPath(a.TenantID), ts(now), "v1=" + strings.Repeat("ab", 32)},
		{"not hex", socialPath(a.TenantID), ts(now), "v1=zz"},
		{"unversioned", socialPath(a.TenantID), ts(now), strings.TrimPrefix(messaging.Sign(a.SocialSecret, now.Unix(), body), "v1=")},
		{"another tenant's secret", socialPath(a.TenantID), ts(now), messaging.Sign(b.SocialSecret, now.Unix(), body)},
		{"signed for another time", socialPath(a.TenantID), ts(now), messaging.Sign(a.SocialSecret, now.Unix()-1, body)},
		{"stale", socialPath(a.TenantID), ts(now.Add(-6 * time.Minute)), messaging.Sign(a.SocialSecret, now.Add(-6*time.Minute).Unix(), body)},
		{"future", socialPath(a.TenantID), ts(now.Add(6 * time.Minute)), messaging.Sign(a.SocialSecret, now.Add(6*time.Minute).Unix(), body)},
		{"unknown tenant", socialPath(uuid.New()), ts(now), messaging.Sign(a.SocialSecret, now.Unix(), body)},
		{"malformed tenant", "/webhooks/social/acme", ts(now), messaging.Sign(a.SocialSecret, now.Unix(), body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := jsonRequest(t, "POST", tc.path, string(body))
			if tc.timestamp != "" {
				req.Header.Set(messaging.TimestampHeader, tc.timestamp)
			}
			if tc.signature != "" {
				req.Header.Set(messaging.SignatureHeader, tc.signature)
			}
			ms.do(t, req).mustStatus(t, http.StatusForbidden)
		})
	}
	if n := ms.counts(t, a.TenantID); n != (counts{}) {
		t.Fatalf("refused webhooks stored %+v", n)
	}
	first := ms.postSocial(t, a.TenantID, a.SocialSecret, now, body).mustStatus(t, http.StatusOK)
	if first.str("status") != "received" || first.str("contact_id") == "" {
		t.Fatalf("answer %s", first.Body)
	}
	// The same signed request again, and re-signed later in the window.
	for _, at := range []time.Time{now, now.Add(time.Minute)} {
		again := ms.postSocial(t, a.TenantID, a.SocialSecret, at, body).mustStatus(t, http.StatusOK)
		if again.str("contact_id") != first.str("contact_id") {
			t.Fatalf("replay answered %s, first %s", again.Body, first.Body)
		}
	}
	if n := ms.counts(t, a.TenantID); n != (counts{Contacts: 1, Messages: 1, Customers: 1}) {
		t.Fatalf("after replays %+v", n)
	}
}

func TestSocial_InboundRoutesJoinsAndRepliesSigned(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ctx := testenv.Context(t)
	photo := []byte("\x89PNG\r\n\x1a\nnot really a picture")
	raw, _ := json.Marshal(map[string]any{"id": "m-1", "platform": "Facebook", "page": "acmepage",
		"sender": map[string]any{"handle": "@Sam.Sender", "name": "Sam Sender"}, "text": "Broken on arrival, see photo",
		"attachments": []map[string]any{{"filename": "photo.png", "content_type": "image/png", "data": base64.StdEncoding.EncodeToString(photo)}},
		"extra":       "ignored"})
	first := ms.postSocial(t, a.TenantID, a.SocialSecret, time.Now(), raw).mustStatus(t, http.StatusOK)
	contactID := uuid.MustParse(first.str("contact_id"))
	c, err := ms.Contacts.GetByID(ctx, a.TenantID, contactID)
	if err != nil || c.Channel != "social" || *c.QueueID != a.QueueID || c.CustomerRef != "facebook:sam.sender" || c.Subject != "Sam Sender" {
		t.Fatalf("contact %+v %v", c, err)
	}
	byHandle, err := (&customer.Service{DB: ms.Tenants.DB}).Resolve(ctx, a.TenantID, customer.KindHandle, "facebook:sam.sender", "")
	if err != nil || c.CustomerID == nil || byHandle != *c.CustomerID {
		t.Fatalf("customer by handle %s vs %v (%v)", byHandle, c.CustomerID, err)
	}
	msgs := ms.messages(t, a.TenantID, contactID)
	if len(msgs) != 1 || len(msgs[0].Attachments) != 1 {
		t.Fatalf("messages %+v", msgs)
	}
	_, data, err := ms.Conv.AttachmentData(ctx, a.TenantID, contactID, msgs[0].Attachments[0].ID)
	if err != nil || string(data) != string(photo) {
		t.Fatalf("attachment %q %v", data, err)
	}
	// Next message from the same person joins the conversation.
	ms.postSocial(t, a.TenantID, a.SocialSecret, time.Now(), socialEvent("m-2", acmePage, "sam.sender", "Hello?")).mustStatus(t, http.StatusOK)
	if n := ms.counts(t, a.TenantID); n.Contacts != 1 || n.Messages != 2 {
		t.Fatalf("second message %+v", n)
	}

	agent := a.Agent.UserID
	// Answered once accepted (and metered): issue #15, item 3.
	if _, err := ms.Contacts.Accept(ctx, tenant.Principal{Actor: tenant.Actor{TenantID: a.TenantID, UserID: agent, Role: cic.RoleAgent}}, contactID); err != nil {
		t.Fatal(err)
	}
	if err := ms.Registry.Send(ctx, "social", channels.Message{TenantID: a.TenantID, ContactID: contactID, AgentID: &agent,
		Kind: channels.KindReply, Body: "Sorry! A new one is on its way."}); err != nil {
		t.Fatal(err)
	}
	calls := ms.API.calls()
	if len(calls) != 1 || calls[0].Path != "/social/acme/messages" {
		t.Fatalf("reply API calls %+v", calls)
	}
	got := calls[0]
	if err := messaging.Verify(a.SocialSecret, got.Timestamp, got.Signature, got.Body, time.Now()); err != nil {
		t.Fatalf("reply not signed with the tenant's secret: %v", err)
	}
	var reply map[string]string
	if err := json.Unmarshal(got.Body, &reply); err != nil {
		t.Fatal(err)
	}
	if reply["platform"] != "facebook" || reply["page"] != "acmepage" || reply["recipient"] != "sam.sender" || reply["text"] != "Sorry! A new one is on its way." {
		t.Fatalf("reply body %v", reply)
	}
	msgs = ms.messages(t, a.TenantID, contactID)
	if last := msgs[len(msgs)-1]; last.Status != "sent" || last.ExternalID == nil || *last.ExternalID != "reply-1" || last.Sender != "agent" {
		t.Fatalf("recorded reply %+v", last)
	}
	ms.API.setFail(true)
	if err := ms.Registry.Send(ctx, "social", channels.Message{TenantID: a.TenantID, ContactID: contactID, Kind: channels.KindReply, Body: "again"}); testenv.Code(err) != "provider_refused" {
		t.Fatalf("refused reply: %v", err)
	}
	msgs = ms.messages(t, a.TenantID, contactID)
	if last := msgs[len(msgs)-1]; last.Status != "failed" || !strings.Contains(last.Error, "HTTP 400") || strings.Contains(last.Error, "recipient unknown") {
		t.Fatalf("failed reply %+v", last)
	}
	ms.API.setFail(false)

	// An outbound social contact to a handle.
	out, err := ms.Social.Start(ctx, channels.Outbound{TenantID: a.TenantID, AgentID: a.Agent.UserID, QueueID: a.QueueID,
		To: "facebook:kim", Body: "Your voucher is ready."})
	if err != nil {
		t.Fatal(err)
	}
	oc, err := ms.Contacts.GetByID(ctx, a.TenantID, out)
	if err != nil || oc.Direction != "outbound" || oc.State != contacts.StateAccepted || oc.CustomerRef != "facebook:kim" {
		t.Fatalf("outbound %+v %v", oc, err)
	}
	calls = ms.API.calls()
	if err := json.Unmarshal(calls[len(calls)-1].Body, &reply); err != nil || reply["recipient"] != "kim" || reply["page"] != "acmepage" {
		t.Fatalf("outbound reply %v %v", reply, err)
	}
	if _, err := ms.Social.Start(ctx, channels.Outbound{TenantID: a.TenantID, AgentID: a.Agent.UserID, QueueID: a.QueueID,
		To: "instagram:kim", Body: "Hi"}); testenv.Code(err) != "no_address" {
		t.Fatalf("start on a platform without a page: %v", err)
	}
}

func TestSocial_SurveyAnswerAndBlockPolicy(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ctx := testenv.Context(t)
	id, err := ms.Social.Start(ctx, channels.Outbound{TenantID: a.TenantID, AgentID: a.Agent.UserID, QueueID: a.QueueID,
		To: "facebook:sam", Body: "How was it?"})
	if err != nil {
		t.Fatal(err)
	}
	surveys := &customer.Surveys{DB: ms.Tenants.DB, Channels: ms.Registry}
	if ok, err := surveys.StartSurvey(ctx, a.TenantID, id, "social"); err != nil || !ok {
		t.Fatalf("survey %v %v", ok, err)
	}
	before := ms.counts(t, a.TenantID)
	for range 2 {
		ans := ms.postSocial(t, a.TenantID, a.SocialSecret, time.Now(), socialEvent("score-1", acmePage, "sam", "5")).mustStatus(t, http.StatusOK)
		if ans.str("status") != "survey_answered" {
			t.Fatalf("survey answer: %s", ans.Body)
		}
	}
	if after := ms.counts(t, a.TenantID); after != before {
		t.Fatalf("survey answer stored %+v -> %+v", before, after)
	}
	var score int
	if err := ms.DB.Owner.QueryRow(ctx, `SELECT score FROM csat_surveys WHERE tenant_id = $1 AND contact_id = $2`, a.TenantID, id).Scan(&score); err != nil || score != 5 {
		t.Fatalf("score %d %v", score, err)
	}

	ms.block(t, a.TenantID)
	sent := len(ms.API.calls())
	for range 2 { // the replay neither stores nor answers twice
		ans := ms.postSocial(t, a.TenantID, a.SocialSecret, time.Now(), socialEvent("blocked-1", acmePage, "lee", "Hello?")).mustStatus(t, http.StatusOK)
		if ans.str("status") != "unavailable" || !strings.Contains(ans.str("reply"), "unavailable") {
			t.Fatalf("blocked: %s", ans.Body)
		}
	}
	cid := conversation.ContactID(a.TenantID, "social", "facebook:blocked-1")
	c, err := ms.Contacts.GetByID(ctx, a.TenantID, cid)
	if err != nil || c.State != contacts.StateNoCredit {
		t.Fatalf("blocked contact %+v %v", c, err)
	}
	msgs := ms.messages(t, a.TenantID, cid)
	if len(msgs) != 2 || msgs[0].Body != "Hello?" || msgs[1].Sender != "system" || msgs[1].Status != "sent" {
		t.Fatalf("blocked conversation %+v", msgs)
	}
	calls := ms.API.calls()
	if len(calls) != sent+1 || !strings.Contains(string(calls[sent].Body), `"recipient":"lee"`) {
		t.Fatalf("unavailable reply through the API: %d calls, %s", len(calls)-sent, calls[len(calls)-1].Body)
	}
}

func TestSocialWebhook_BadBodiesAre4xx(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	for body, code := range map[string]string{
		``:           "invalid_json",
		`[]`:         "invalid_json",
		`{"id":1}`:   "invalid_json",
		`{} {}`:      "invalid_json",
		`{"id":"x"}`: "invalid_platform",
		`{"id":"x","platform":"facebook","page":"acmepage","sender":{"handle":"s"}}`:                                             "empty_message",
		`{"id":"x","platform":"face book","page":"acmepage","sender":{"handle":"s"},"text":"hi"}`:                                "invalid_platform",
		`{"id":"x","platform":"facebook","page":"a:b","sender":{"handle":"s"},"text":"hi"}`:                                      "invalid_page",
		`{"id":"x","platform":"facebook","page":"acmepage","sender":{"handle":""},"text":"hi"}`:                                  "invalid_sender",
		`{"id":"x","platform":"facebook","page":"acmepage","sender":{"handle":"s"},"attachments":[{"data":"!!"}]}`:               "invalid_json",
		`{"id":"x","platform":"facebook","page":"acmepage","sender":{"handle":"s"},"attachments":[{"data":""}]}`:                 "invalid_attachment",
		`{"id":"x","platform":"facebook","page":"unknown","sender":{"handle":"s"},"text":"hi"}`:                                  "unknown_address",
		`{"id":"x","platform":"facebook","page":"acmepage","sender":{"handle":"s"},"text":"` + strings.Repeat("a", 20001) + `"}`: "invalid_text",
	} {
		ans := ms.postSocial(t, a.TenantID, a.SocialSecret, time.Now(), []byte(body))
		if ans.Status < 400 || ans.Status >= 500 || ans.errCode() != code {
			t.Errorf("%.60s: %d %s, want %s", body, ans.Status, ans.Body, code)
		}
	}
	if n := ms.counts(t, a.TenantID); n != (counts{}) {
		t.Fatalf("bad bodies stored %+v", n)
	}
}

func TestSocial_TenantIsolation(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	b := ms.company(t, "other", otherNumber, otherFax, otherPage)
	// B signs correctly but names A's page: not B's to receive.
	ms.postSocial(t, b.TenantID, b.SocialSecret, time.Now(), socialEvent("iso-1", acmePage, "sam", "hi")).mustStatus(t, http.StatusNotFound)
	ms.postSocial(t, a.TenantID, b.SocialSecret, time.Now(), socialEvent("iso-2", acmePage, "sam", "hi")).mustStatus(t, http.StatusForbidden)
	if na, nb := ms.counts(t, a.TenantID), ms.counts(t, b.TenantID); na != (counts{}) || nb != (counts{}) {
		t.Fatalf("stored A %+v B %+v", na, nb)
	}
	// The same event id at both tenants is two messages, one each.
	ms.postSocial(t, a.TenantID, a.SocialSecret, time.Now(), socialEvent("same", acmePage, "sam", "hi A")).mustStatus(t, http.StatusOK)
	ms.postSocial(t, b.TenantID, b.SocialSecret, time.Now(), socialEvent("same", otherPage, "sam", "hi B")).mustStatus(t, http.StatusOK)
	if na, nb := ms.counts(t, a.TenantID), ms.counts(t, b.TenantID); na.Messages != 1 || nb.Messages != 1 {
		t.Fatalf("A %+v B %+v", na, nb)
	}
}
