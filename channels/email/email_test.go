package email_test

import (
	"bytes"
	"encoding/base64"

	"io"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
)

// customerMail is a mail with an attachment, as a mail program writes it.
func customerMail(to, id, subject, body string, extra ...string) string {
	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 invoice 4711"))
	return "From: Carla Kunde <carla@customer.example>\n" +
		"To: " + to + "\n" +
		"Subject: " + subject + "\n" +
		"Date: Mon, 02 Mar 2026 10:00:00 +0100\n" +
		"Message-ID: <" + id + ">\n" + strings.Join(extra, "") +
		"MIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\n\n" +
		"--b1\nContent-Type: text/plain; charset=utf-8\n\n" + body + "\n" +
		"--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"invoice.pdf\"\nContent-Transfer-Encoding: base64\n\n" + pdf + "\n" +
		"--b1--\n"
}

func plainMail(from, to, id, subject, body string, extra ...string) string {
	h := "From: " + from + "\nTo: " + to + "\nSubject: " + subject + "\n"
	if id != "" {
		h += "Message-ID: <" + id + ">\n"
	}
	return h + strings.Join(extra, "") + "\n" + body + "\n"
}

// readMail parses a captured message: its headers and text.
func readMail(t *testing.T, raw []byte) (gomail.Header, string, []string) {
	t.Helper()
	mr, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("relayed mail does not parse: %v\n%s", err, raw)
	}
	var text string
	var files []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *gomail.InlineHeader:
			text += string(b)
		case *gomail.AttachmentHeader:
			name, _ := h.Filename()
			files = append(files, name+"="+string(b))
		}
	}
	return mr.Header, text, files
}

func ids(t *testing.T, h gomail.Header, key string) []string {
	t.Helper()
	l, err := h.MsgIDList(key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return l
}

// TestEmail_ConversationRoundTrip: a customer's mail over SMTP becomes a
// routed contact with its attachment, the agent's reply leaves through
// the relay with the right threading headers, and the customer's answer
// to it joins the same contact.
func TestEmail_ConversationRoundTrip(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	tid := co.owner.TenantID

	w.mustSend(t, "carla@customer.example", co.box, customerMail(co.box, "m1@customer.example", "Broken order", "My order 4711 arrived broken.\nPlease help."))
	id := conversation.ContactID(tid, "email", "m1@customer.example")
	ct, err := w.contacts.GetByID(c, tid, id)
	if err != nil || ct.State != contacts.StateOffered || ct.Channel != "email" || ct.Subject != "Broken order" || ct.CustomerID == nil {
		t.Fatalf("contact %+v %v, want an e-mail contact offered to the agent", ct, err)
	}
	if _, err := w.contacts.Accept(c, co.agents[0], id); err != nil {
		t.Fatal(err)
	}
	ms := w.messages(t, tid, id)
	if len(ms) != 1 || ms[0].Body != "My order 4711 arrived broken.\nPlease help." || ms[0].From != "carla@customer.example" ||
		ms[0].To != co.box || ms[0].Direction != "inbound" || len(ms[0].Attachments) != 1 {
		t.Fatalf("stored %+v", ms)
	}
	a, data, err := w.convs.AttachmentData(c, tid, id, ms[0].Attachments[0].ID)
	if err != nil || a.Filename != "invoice.pdf" || a.ContentType != "application/pdf" || string(data) != "%PDF-1.4 invoice 4711" {
		t.Fatalf("attachment %+v %q %v", a, data, err)
	}
	cust, err := (&customer.Service{DB: w.tenants.DB}).Get(c, tid, *ct.CustomerID)
	if err != nil || cust.DisplayName != "Carla Kunde" {
		t.Fatalf("customer %+v %v", cust, err)
	}

	// The agent answers from the desk, with a file.
	agent := co.agents[0].UserID
	if err := w.registry.Send(c, "email", channels.Message{TenantID: tid, ContactID: id, AgentID: &agent, Kind: channels.KindReply,
		Body: "Sorry about that, Carla.\nA new one is on its way.", Attachments: []channels.Attachment{{Filename: "label.txt", ContentType: "text/plain", Data: []byte("RETURN-123")}}}); err != nil {
		t.Fatal(err)
	}
	got := w.outbox.Next(t)
	h, text, files := readMail(t, got.Data)
	from, _ := h.AddressList("From")
	to, _ := h.AddressList("To")
	subject, _ := h.Subject()
	ourID, _ := h.MessageID()
	if len(from) != 1 || from[0].Address != co.box || len(to) != 1 || to[0].Address != "carla@customer.example" ||
		subject != "Re: Broken order" || !strings.HasSuffix(ourID, "@"+domain) {
		t.Fatalf("reply headers: from %v to %v subject %q id %q\n%s", from, to, subject, ourID, got.Data)
	}
	if irt := ids(t, h, "In-Reply-To"); len(irt) != 1 || irt[0] != "m1@customer.example" {
		t.Errorf("In-Reply-To %v", irt)
	}
	if refs := ids(t, h, "References"); len(refs) != 1 || refs[0] != "m1@customer.example" {
		t.Errorf("References %v", refs)
	}
	if got.From != co.box || len(got.To) != 1 || got.To[0] != "carla@customer.example" {
		t.Errorf("envelope %s -> %v", got.From, got.To)
	}
	if !strings.Contains(text, "A new one is on its way.") || len(files) != 1 || files[0] != "label.txt=RETURN-123" {
		t.Errorf("reply body %q files %v", text, files)
	}
	ms = w.messages(t, tid, id)
	if len(ms) != 2 || ms[1].Sender != "agent" || ms[1].Status != "sent" || ms[1].ExternalID == nil || *ms[1].ExternalID != ourID {
		t.Fatalf("recorded reply %+v", ms[1:])
	}

	// The customer answers our reply: the same contact.
	w.mustSend(t, "carla@customer.example", co.box, plainMail("carla@customer.example", co.box, "m2@customer.example",
		"Re: Re: Broken order", "Thanks, got the label.\n\n> A new one is on its way.",
		"In-Reply-To: <"+ourID+">\n", "References: <m1@customer.example> <"+ourID+">\n"))
	ms = w.messages(t, tid, id)
	if len(ms) != 3 || ms[2].Direction != "inbound" || !strings.HasPrefix(ms[2].Body, "Thanks, got the label.") {
		t.Fatalf("the answer did not join the contact: %+v", ms)
	}
	if n := w.count(t, `SELECT count(*) FROM contacts WHERE tenant_id = $1`, tid); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}
	if n := w.count(t, `SELECT count(*) FROM contact_events WHERE tenant_id = $1 AND kind = 'customer_wrote'`, tid); n != 1 {
		t.Errorf("%d customer_wrote events on the timeline, want 1", n)
	}

	// The second reply threads under the customer's newest mail.
	if err := w.email.Send(c, channels.Message{TenantID: tid, ContactID: id, AgentID: &agent, Kind: channels.KindReply, Body: "Great!"}); err != nil {
		t.Fatal(err)
	}
	h, _, _ = readMail(t, w.outbox.Next(t).Data)
	if irt := ids(t, h, "In-Reply-To"); len(irt) != 1 || irt[0] != "m2@customer.example" {
		t.Errorf("second reply In-Reply-To %v", irt)
	}
	if refs := ids(t, h, "References"); strings.Join(refs, " ") != "m1@customer.example "+ourID+" m2@customer.example" {
		t.Errorf("second reply References %v", refs)
	}
}

// TestEmail_SMTPErrors: unknown recipients, oversize and malformed mail
// get their SMTP codes, and the listener serves the next mail.
func TestEmail_SMTPErrors(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	ok := plainMail("carla@customer.example", co.box, "ok@customer.example", "Hello", "Hi")
	for _, rcpt := range []string{"nobody@acme." + domain, "support@nosuchco." + domain, "support@" + domain,
		"support@x.acme." + domain, "someone@elsewhere.example", "SUPPORT@ACME.mail.test.evil.example"} {
		if err := w.send(t, "carla@customer.example", rcpt, ok); smtpCode(err) != 550 || !strings.Contains(err.Error(), "5.1.1") {
			t.Errorf("RCPT %s: %v, want 550 5.1.1", rcpt, err)
		}
	}
	big := plainMail("carla@customer.example", co.box, "big@customer.example", "Big", strings.Repeat("0123456789abcdef\n", 20000))
	if err := w.send(t, "carla@customer.example", co.box, big); smtpCode(err) != 552 {
		t.Errorf("oversize: %v, want 552", err)
	}
	for name, raw := range map[string]string{
		"no from":       "To: " + co.box + "\nSubject: x\n\nbody\n",
		"bad from":      "From: <<<>>>\nTo: " + co.box + "\n\nbody\n",
		"empty":         "From: carla@customer.example\nTo: " + co.box + "\nSubject: nothing\n\n\n",
		"broken header": "From carla\n\x00\x01\x02\n",
		"bad multipart": "From: carla@customer.example\nContent-Type: multipart/mixed; boundary=\"\"\n\n--\n",
	} {
		if err := w.send(t, "carla@customer.example", co.box, raw); smtpCode(err) != 554 || !strings.Contains(err.Error(), "5.6.0") {
			t.Errorf("%s: %v, want 554 5.6.0", name, err)
		}
	}
	w.mustSend(t, "carla@customer.example", co.box, ok)
	if n := w.count(t, `SELECT count(*) FROM contact_messages WHERE tenant_id = $1`, co.owner.TenantID); n != 1 {
		t.Errorf("%d messages stored, want only the good one", n)
	}
}

// TestEmail_RedeliveryStoresOnce: the same mail delivered twice (a
// sender that did not see our 250) is one contact with one message,
// with or without a Message-ID.
func TestEmail_RedeliveryStoresOnce(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	tid := co.owner.TenantID
	withID := customerMail(co.box, "dup@customer.example", "Twice", "Same mail")
	noID := plainMail("dora@customer.example", co.box, "", "No id", "Mail without a Message-ID")
	for range 3 {
		w.mustSend(t, "carla@customer.example", co.box, withID)
		w.mustSend(t, "dora@customer.example", co.box, noID)
	}
	if n := w.count(t, `SELECT count(*) FROM contacts WHERE tenant_id = $1`, tid); n != 2 {
		t.Errorf("%d contacts, want 2", n)
	}
	if n := w.count(t, `SELECT count(*) FROM contact_messages WHERE tenant_id = $1`, tid); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
	if n := w.count(t, `SELECT count(*) FROM contact_attachments WHERE tenant_id = $1`, tid); n != 1 {
		t.Errorf("%d attachments, want 1", n)
	}
}

// TestEmail_BlockPolicyKeepsMailAndAnswers: a tenant whose policy blocks
// and whose contacts ran out keeps the mail on a rejected contact, and
// the customer gets the automatic "unavailable" answer, once.
func TestEmail_BlockPolicyKeepsMailAndAnswers(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	tid := co.owner.TenantID
	if _, err := w.db.Owner.Exec(c, `UPDATE bundles SET remaining = 0 WHERE tenant_id = $1`, tid); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Owner.Exec(c, `INSERT INTO metering_settings (tenant_id, policy) VALUES ($1, 'block')
		ON CONFLICT (tenant_id) DO UPDATE SET policy = 'block'`, tid); err != nil {
		t.Fatal(err)
	}
	raw := customerMail(co.box, "blocked@customer.example", "Help", "Is anyone there?")
	w.mustSend(t, "carla@customer.example", co.box, raw)
	w.mustSend(t, "carla@customer.example", co.box, raw) // a redelivery: no second answer
	id := conversation.ContactID(tid, "email", "blocked@customer.example")
	ct, err := w.contacts.GetByID(c, tid, id)
	if err != nil || ct.State != contacts.StateNoCredit {
		t.Fatalf("contact %+v %v, want rejected_no_credit", ct, err)
	}
	got := w.outbox.Next(t)
	h, text, _ := readMail(t, got.Data)
	if got.From != "" || got.To[0] != "carla@customer.example" || h.Get("Auto-Submitted") != "auto-replied" ||
		!strings.Contains(text, "unavailable") {
		t.Fatalf("automatic answer: envelope %q -> %v, Auto-Submitted %q\n%s", got.From, got.To, h.Get("Auto-Submitted"), got.Data)
	}
	if irt := ids(t, h, "In-Reply-To"); len(irt) != 1 || irt[0] != "blocked@customer.example" {
		t.Errorf("In-Reply-To %v", irt)
	}
	w.outbox.None(t)
	w.email.Wait()
	ms := w.messages(t, tid, id)
	if len(ms) != 2 || ms[0].Body != "Is anyone there?" || len(ms[0].Attachments) != 1 || ms[1].Sender != "system" || ms[1].Status != "sent" {
		t.Fatalf("kept %+v", ms)
	}
	// An automatic mail (another robot's answer) gets no answer back.
	w.mustSend(t, "robot@customer.example", co.box, plainMail("robot@customer.example", co.box, "auto@customer.example", "Out of office", "I am away.", "Auto-Submitted: auto-replied\n"))
	w.outbox.None(t)
}

// TestEmail_ClosedQueueHoldsMail: mail outside business hours is kept
// and answered with the queue's closed message; when the queue opens it
// becomes a contact.
func TestEmail_ClosedQueueHoldsMail(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	tid := co.owner.TenantID
	msg := "We read mail on Mondays."
	if _, err := w.setup.UpdateQueue(c, co.owner.Actor, co.queue.ID, setup.QueueInput{ClosedMsg: &msg,
		Hours: &setup.BusinessHours{Timezone: "UTC", Days: map[string][2]string{"mon": {"00:00", "23:59"}}}}); err != nil {
		t.Fatal(err)
	}
	w.contacts.Now = func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) } // a Tuesday
	raw := customerMail(co.box, "late@customer.example", "After hours", "Hello?")
	w.mustSend(t, "carla@customer.example", co.box, raw)
	w.mustSend(t, "carla@customer.example", co.box, raw)
	_, text, _ := readMail(t, w.outbox.Next(t).Data)
	if !strings.Contains(text, msg) {
		t.Fatalf("closed answer %q", text)
	}
	w.outbox.None(t)
	if n := w.count(t, `SELECT count(*) FROM email_held WHERE tenant_id = $1`, tid); n != 1 {
		t.Fatalf("%d held, want 1", n)
	}
	if n, err := w.email.Release(c, tid); err != nil || n != 0 {
		t.Fatalf("release while closed: %d %v", n, err)
	}
	w.contacts.Now = func() time.Time { return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) } // Monday
	if n, err := w.email.Release(c, tid); err != nil || n != 1 {
		t.Fatalf("release when open: %d %v", n, err)
	}
	id := conversation.ContactID(tid, "email", "late@customer.example")
	if ct, err := w.contacts.GetByID(c, tid, id); err != nil || ct.State != contacts.StateOffered {
		t.Fatalf("released contact %+v %v", ct, err)
	}
	if ms := w.messages(t, tid, id); len(ms) != 1 || ms[0].Body != "Hello?" || len(ms[0].Attachments) != 1 {
		t.Fatalf("released mail %+v", ms)
	}
	if n := w.count(t, `SELECT count(*) FROM email_held WHERE tenant_id = $1`, tid); n != 0 {
		t.Errorf("%d still held", n)
	}
	w.outbox.None(t)
}

// TestEmail_TenantIsolation: a mailbox under a tenant's sub-domain
// reaches only that tenant, and a thread of one tenant never takes
// another tenant's mail.
func TestEmail_TenantIsolation(t *testing.T) {
	w := newWorld(t)
	acme := w.company(t, "acme", 1)
	globex := w.company(t, "globex", 1)
	c := testenv.Context(t)
	// Globex registers an address under acme's domain: it must not get
	// mail, and acme has no such mailbox.
	w.mailbox(t, globex, "sales@acme."+domain)
	if err := w.send(t, "carla@customer.example", "sales@acme."+domain, plainMail("carla@customer.example", "sales@acme."+domain, "s1@x", "Hi", "Hi")); smtpCode(err) != 550 {
		t.Errorf("globex's entry under acme's domain: %v, want 550", err)
	}
	w.mustSend(t, "carla@customer.example", acme.box, customerMail(acme.box, "a1@customer.example", "For acme", "acme only"))
	// A mail to globex that names acme's thread opens globex's own contact.
	w.mustSend(t, "carla@customer.example", globex.box, plainMail("carla@customer.example", globex.box, "g1@customer.example",
		"Re: For acme", "for globex", "In-Reply-To: <a1@customer.example>\n"))
	aid := conversation.ContactID(acme.owner.TenantID, "email", "a1@customer.example")
	if ms := w.messages(t, acme.owner.TenantID, aid); len(ms) != 1 {
		t.Errorf("acme's contact has %d messages, want 1", len(ms))
	}
	gid := conversation.ContactID(globex.owner.TenantID, "email", "g1@customer.example")
	if ms := w.messages(t, globex.owner.TenantID, gid); len(ms) != 1 || ms[0].Body != "for globex" {
		t.Errorf("globex's contact %+v", ms)
	}
	// Globex cannot reply on acme's contact.
	agent := globex.agents[0].UserID
	if err := w.email.Send(c, channels.Message{TenantID: globex.owner.TenantID, ContactID: aid, AgentID: &agent, Kind: channels.KindReply, Body: "x"}); testenv.Code(err) != "not_found" {
		t.Errorf("globex replying on acme's contact: %v", err)
	}
	for _, co := range []company{acme, globex} {
		if n := w.count(t, `SELECT count(*) FROM contacts WHERE tenant_id = $1`, co.owner.TenantID); n != 1 {
			t.Errorf("%s has %d contacts, want 1", co.box, n)
		}
	}
	// A forwarded mailbox (not under the inbound domain) reaches its tenant.
	w.mailbox(t, globex, "help@globex.example")
	w.mustSend(t, "carla@customer.example", "help@globex.example", plainMail("carla@customer.example", "help@globex.example", "f1@customer.example", "Fwd", "forwarded"))
	if n := w.count(t, `SELECT count(*) FROM contacts WHERE tenant_id = $1`, globex.owner.TenantID); n != 2 {
		t.Errorf("forwarded mailbox: globex has %d contacts, want 2", n)
	}
}

// TestEmail_SurveyAnswer: after the contact closes the survey goes out by
// e-mail; the customer's "4" is its answer, not a new contact.
func TestEmail_SurveyAnswer(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	tid := co.owner.TenantID
	w.mustSend(t, "carla@customer.example", co.box, customerMail(co.box, "s1@customer.example", "Question", "How do I return it?"))
	id := conversation.ContactID(tid, "email", "s1@customer.example")
	if _, err := w.contacts.Accept(c, co.agents[0], id); err != nil {
		t.Fatal(err)
	}
	if err := w.contacts.Close(c, co.agents[0], id); err != nil {
		t.Fatal(err)
	}
	surveys := &customer.Surveys{DB: w.tenants.DB, Channels: w.registry}
	if err := surveys.ContactClosed(c, tid, id, "email"); err != nil {
		t.Fatal(err)
	}
	h, text, _ := readMail(t, w.outbox.Next(t).Data)
	subject, _ := h.Subject()
	surveyID, _ := h.MessageID()
	if subject != "How did we do?" || !strings.Contains(text, "1 (not at all) to 5") {
		t.Fatalf("survey %q %q", subject, text)
	}
	answer := plainMail("carla@customer.example", co.box, "s2@customer.example", "Re: How did we do?", "4\n\n> How satisfied are you",
		"In-Reply-To: <"+surveyID+">\n")
	w.mustSend(t, "carla@customer.example", co.box, answer)
	w.mustSend(t, "carla@customer.example", co.box, answer) // redelivered: counted once, still no contact
	var score int
	if err := w.db.Owner.QueryRow(c, `SELECT score FROM csat_surveys WHERE tenant_id = $1 AND contact_id = $2`, tid, id).Scan(&score); err != nil || score != 4 {
		t.Fatalf("score %d %v, want 4", score, err)
	}
	if n := w.count(t, `SELECT count(*) FROM contacts WHERE tenant_id = $1`, tid); n != 1 {
		t.Errorf("%d contacts, want 1 (the answer opens none)", n)
	}
	// A later "5" with no open survey is an ordinary new mail.
	w.mustSend(t, "carla@customer.example", co.box, plainMail("carla@customer.example", co.box, "s3@customer.example", "again", "5"))
	if n := w.count(t, `SELECT count(*) FROM contacts WHERE tenant_id = $1`, tid); n != 2 {
		t.Errorf("%d contacts, want 2", n)
	}
}

// TestEmail_Outbound: an agent starts an e-mail to a customer; it is an
// accepted contact whose first mail leaves from the tenant's mailbox, and
// the customer's answer threads back into it.
func TestEmail_Outbound(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 1)
	c := testenv.Context(t)
	tid := co.owner.TenantID
	agent := co.agents[0]
	id, err := w.email.Start(c, channels.Outbound{TenantID: tid, AgentID: agent.UserID, QueueID: co.queue.ID,
		To: "Dora <DORA@customer.example>", Subject: "Your renewal", Body: "Your contract ends soon.", Campaign: "renewals"})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := w.contacts.GetByID(c, tid, id)
	if err != nil || ct.State != contacts.StateAccepted || ct.Direction != "outbound" || ct.Campaign != "renewals" || ct.MeteredAt == nil {
		t.Fatalf("outbound contact %+v %v", ct, err)
	}
	got := w.outbox.Next(t)
	h, text, _ := readMail(t, got.Data)
	subject, _ := h.Subject()
	ourID, _ := h.MessageID()
	to, _ := h.AddressList("To")
	if subject != "Your renewal" || to[0].Address != "dora@customer.example" || got.From != co.box || !strings.Contains(text, "contract ends") {
		t.Fatalf("first mail: %q to %v from %s\n%s", subject, to, got.From, got.Data)
	}
	w.mustSend(t, "dora@customer.example", co.box, plainMail("dora@customer.example", co.box, "d1@customer.example", "Re: Your renewal", "Yes please renew.",
		"In-Reply-To: <"+ourID+">\n"))
	ms := w.messages(t, tid, id)
	if len(ms) != 2 || ms[0].Status != "sent" || ms[1].Body != "Yes please renew." {
		t.Fatalf("conversation %+v", ms)
	}
	if _, err := w.email.Start(c, channels.Outbound{TenantID: tid, AgentID: agent.UserID, QueueID: co.queue.ID, To: "not an address", Body: "x"}); testenv.Code(err) != "invalid_email" {
		t.Errorf("bad address: %v", err)
	}

	// Without a relay the message is kept, marked failed, and the agent told.
	w.email.Relay = nil
	err = w.email.Send(c, channels.Message{TenantID: tid, ContactID: id, AgentID: &agent.UserID, Kind: channels.KindReply, Body: "Done."})
	if testenv.Code(err) != "email_off" {
		t.Fatalf("no relay: %v", err)
	}
	ms = w.messages(t, tid, id)
	if last := ms[len(ms)-1]; last.Status != "failed" || last.Error != "outbound mail is off (SMTP_RELAY not set)" || last.Subject != "Re: Your renewal" {
		t.Errorf("failed message %+v", last)
	}

}
