package web_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/fax"
	"github.com/cic-platform/cic/channels/messaging"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/contacts"
)

func faxPath(tenantID uuid.UUID) string { return "/webhooks/fax/" + tenantID.String() }

func (ms *msgServer) postFax(t testing.TB, tenantID uuid.UUID, secret string, at time.Time, body []byte, ct string) answer {
	t.Helper()
	return ms.signed(t, faxPath(tenantID), ct, secret, at, body)
}

func TestFaxWebhook_SignatureDecides(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	b := ms.company(t, "other", otherNumber, otherFax, otherPage)
	body, ct := faxBody(t, "FX1", customerPhone, acmeFax, "2", faxPDF)
	now := time.Now()
	for _, tc := range []struct {
		name, path, timestamp, signature string
	}{
		{"missing", faxPath(a.TenantID), "", ""},
		{"wrong", faxPath(a.TenantID), itoa(now.Unix()), "v1=" + strings.Repeat("00", 32)},
		{"another tenant's secret", faxPath(a.TenantID), itoa(now.Unix()), messaging.Sign(b.FaxSecret, now.Unix(), body)},
		{"the social secret", faxPath(a.TenantID), itoa(now.Unix()), messaging.Sign(a.SocialSecret, now.Unix(), body)},
		{"stale", faxPath(a.TenantID), itoa(now.Add(-10 * time.Minute).Unix()), messaging.Sign(a.FaxSecret, now.Add(-10*time.Minute).Unix(), body)},
		{"future", faxPath(a.TenantID), itoa(now.Add(10 * time.Minute).Unix()), messaging.Sign(a.FaxSecret, now.Add(10*time.Minute).Unix(), body)},
		{"unknown tenant", faxPath(uuid.New()), itoa(now.Unix()), messaging.Sign(a.FaxSecret, now.Unix(), body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest("POST", tc.path, bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
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
		t.Fatalf("refused faxes stored %+v", n)
	}
	first := ms.postFax(t, a.TenantID, a.FaxSecret, now, body, ct).mustStatus(t, http.StatusOK)
	for range 2 {
		again := ms.postFax(t, a.TenantID, a.FaxSecret, now, body, ct).mustStatus(t, http.StatusOK)
		if again.str("contact_id") != first.str("contact_id") {
			t.Fatalf("replay %s, first %s", again.Body, first.Body)
		}
	}
	if n := ms.counts(t, a.TenantID); n != (counts{Contacts: 1, Messages: 1, Customers: 1}) {
		t.Fatalf("after replays %+v", n)
	}
	var atts int
	if err := ms.DB.Owner.QueryRow(testenv.Context(t), `SELECT count(*) FROM contact_attachments WHERE tenant_id = $1`, a.TenantID).Scan(&atts); err != nil || atts != 1 {
		t.Fatalf("attachments %d %v", atts, err)
	}
}

func TestFax_DocumentIsKeptOnTheContact(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ctx := testenv.Context(t)
	body, ct := faxBody(t, "FX-42", "+49 89 1234567", acmeFax, "3", faxPDF)
	ans := ms.postFax(t, a.TenantID, a.FaxSecret, time.Now(), body, ct).mustStatus(t, http.StatusOK)
	if ans.str("status") != "received" {
		t.Fatalf("answer %s", ans.Body)
	}
	id := uuid.MustParse(ans.str("contact_id"))
	if id != conversation.ContactID(a.TenantID, "fax", "FX-42") {
		t.Fatalf("contact id %s not derived from the fax id", id)
	}
	c, err := ms.Contacts.GetByID(ctx, a.TenantID, id)
	if err != nil || c.Channel != "fax" || *c.QueueID != a.QueueID || c.CustomerRef != "+49891234567" || c.CustomerID == nil {
		t.Fatalf("contact %+v %v", c, err)
	}
	msgs := ms.messages(t, a.TenantID, id)
	if len(msgs) != 1 || msgs[0].Body != "Fax from +49891234567, 3 pages" || len(msgs[0].Attachments) != 1 {
		t.Fatalf("messages %+v", msgs)
	}
	att, data, err := ms.Conv.AttachmentData(ctx, a.TenantID, id, msgs[0].Attachments[0].ID)
	if err != nil || !bytes.Equal(data, faxPDF) || att.ContentType != "application/pdf" || att.Filename != "fax-FX-42.pdf" {
		t.Fatalf("document %+v %q %v", att, data, err)
	}
	// A second fax from the same number is a contact of its own.
	body, ct = faxBody(t, "FX-43", "+49891234567", acmeFax, "1", faxPDF)
	ms.postFax(t, a.TenantID, a.FaxSecret, time.Now(), body, ct).mustStatus(t, http.StatusOK)
	if n := ms.counts(t, a.TenantID); n.Contacts != 2 || n.Customers != 1 {
		t.Fatalf("second fax %+v", n)
	}
	// Faxes are not answered by fax; the survey after close is skipped.
	if err := ms.Registry.Send(ctx, "fax", channels.Message{TenantID: a.TenantID, ContactID: id, Kind: channels.KindSurvey, Body: "?"}); err != nil {
		t.Fatalf("survey by fax: %v", err)
	}
	if err := ms.Registry.Send(ctx, "fax", channels.Message{TenantID: a.TenantID, ContactID: id, Kind: channels.KindReply, Body: "hi"}); testenv.Code(err) != "fax_reply_unsupported" {
		t.Fatalf("reply by fax: %v", err)
	}
	if _, err := ms.Fax.Start(ctx, channels.Outbound{TenantID: a.TenantID, To: "+49891234567", Body: "x"}); testenv.Code(err) != "fax_outbound_unsupported" {
		t.Fatalf("outbound fax: %v", err)
	}
	if n := ms.counts(t, a.TenantID); n.Messages != 2 {
		t.Fatalf("refused sends stored messages: %+v", n)
	}
}

func TestFax_BlockPolicyKeepsTheDocument(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ms.block(t, a.TenantID)
	body, ct := faxBody(t, "FX-blocked", customerPhone, acmeFax, "1", faxPDF)
	ans := ms.postFax(t, a.TenantID, a.FaxSecret, time.Now(), body, ct).mustStatus(t, http.StatusOK)
	if ans.str("status") != "unavailable" {
		t.Fatalf("answer %s", ans.Body)
	}
	id := uuid.MustParse(ans.str("contact_id"))
	c, err := ms.Contacts.GetByID(testenv.Context(t), a.TenantID, id)
	if err != nil || c.State != contacts.StateNoCredit {
		t.Fatalf("contact %+v %v", c, err)
	}
	msgs := ms.messages(t, a.TenantID, id)
	if len(msgs) != 1 || len(msgs[0].Attachments) != 1 || msgs[0].Attachments[0].Size != len(faxPDF) {
		t.Fatalf("kept %+v", msgs)
	}
}

func TestFaxWebhook_BadDocumentsAndForms(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	b := ms.company(t, "other", otherNumber, otherFax, otherPage)
	type give struct {
		id, from, to, pages string
		doc                 []byte
	}
	for name, tc := range map[string]struct {
		give give
		code string
	}{
		"not a pdf":      {give{"F1", customerPhone, acmeFax, "1", []byte("GIF89a...")}, "invalid_document"},
		"no document":    {give{"F2", customerPhone, acmeFax, "1", nil}, "invalid_document"},
		"no id":          {give{"", customerPhone, acmeFax, "1", faxPDF}, "invalid_id"},
		"bad from":       {give{"F3", "anonymous", acmeFax, "1", faxPDF}, "invalid_from"},
		"bad pages":      {give{"F4", customerPhone, acmeFax, "many", faxPDF}, "invalid_pages"},
		"unknown number": {give{"F5", customerPhone, "+4930999999", "1", faxPDF}, "unknown_address"},
		// B's number on A's webhook: A does not receive it.
		"another tenant's number": {give{"F6", customerPhone, otherFax, "1", faxPDF}, "unknown_address"},
	} {
		body, ct := faxBody(t, tc.give.id, tc.give.from, tc.give.to, tc.give.pages, tc.give.doc)
		ans := ms.postFax(t, a.TenantID, a.FaxSecret, time.Now(), body, ct)
		if ans.Status < 400 || ans.Status >= 500 || ans.errCode() != tc.code {
			t.Errorf("%s: %d %s, want %s", name, ans.Status, ans.Body, tc.code)
		}
	}
	ans := ms.postFax(t, a.TenantID, a.FaxSecret, time.Now(), []byte(`{"id":"F7"}`), "application/json")
	if ans.Status != http.StatusBadRequest || ans.errCode() != "unsupported_media_type" {
		t.Errorf("json body: %d %s", ans.Status, ans.Body)
	}
	// 20 MB is the limit: one byte more is 413 with the error body.
	big := append(append([]byte{}, faxPDF...), bytes.Repeat([]byte{'0'}, fax.MaxDocument+1-len(faxPDF))...)
	body, ct := faxBody(t, "F-big", customerPhone, acmeFax, "900", big)
	ms.postFax(t, a.TenantID, a.FaxSecret, time.Now(), body, ct).mustStatus(t, http.StatusRequestEntityTooLarge)
	// Exactly 20 MB is taken.
	body, ct = faxBody(t, "F-max", customerPhone, acmeFax, "900", big[:fax.MaxDocument])
	ms.postFax(t, a.TenantID, a.FaxSecret, time.Now(), body, ct).mustStatus(t, http.StatusOK)
	if na, nb := ms.counts(t, a.TenantID), ms.counts(t, b.TenantID); na.Messages != 1 || nb != (counts{}) {
		t.Fatalf("A %+v B %+v", na, nb)
	}
}
