package email

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

// Name is the channel's name.
func (s *Service) Name() string { return Channel }

var _ channels.Channel = (*Service)(nil)

// errRelayOff is the failure recorded on a message when SMTP_RELAY is
// not set.
const errRelayOff = "outbound mail is off (SMTP_RELAY not set)"

// outMail is one message we send.
type outMail struct {
	// contactID: the conversation it is recorded in; uuid.Nil: not
	// recorded (the closed-queue answer, which has no contact).
	contactID   uuid.UUID
	sender      string
	agentID     *uuid.UUID
	from, to    string
	subject     string
	body        string
	inReplyTo   string
	references  []string
	attachments []channels.Attachment
	// auto is the Auto-Submitted value of a message no agent wrote.
	auto string
}

// Send delivers msg to the customer of an e-mail contact, threaded under
// the customer's last mail, and records it (queued, then sent or failed).
func (s *Service) Send(ctx context.Context, msg channels.Message) error {
	if strings.TrimSpace(msg.Body) == "" && len(msg.Attachments) == 0 {
		return cic.Codef(cic.EINVALID, "message_empty", "Write a message or attach a file.")
	}
	c, err := s.Contacts.GetByID(ctx, msg.TenantID, msg.ContactID)
	if err != nil {
		return err
	}
	if c.Channel != Channel {
		return cic.Codef(cic.EINVALID, "invalid_channel", "This contact is not an e-mail conversation.")
	}
	if msg.IsAnswer() {
		if err := s.Contacts.BeforeAnswer(ctx, msg.TenantID, c.ID); err != nil {
			return err
		}
	}
	th, err := s.thread(ctx, msg.TenantID, c)
	if err != nil {
		return err
	}
	o := outMail{contactID: c.ID, sender: conversation.SenderSystem, from: th.mailbox, to: th.customer, body: msg.Body,
		inReplyTo: th.inReplyTo, references: th.references, attachments: msg.Attachments}
	if msg.Kind == channels.KindReply && msg.AgentID != nil {
		o.sender, o.agentID = conversation.SenderAgent, msg.AgentID
	} else {
		o.auto = "auto-generated"
	}
	switch {
	case msg.Kind != channels.KindReply && msg.Subject != "":
		o.subject = msg.Subject
	case th.first:
		o.subject = firstNonEmpty(msg.Subject, c.Subject)
	default:
		o.subject = reSubject(firstNonEmpty(c.Subject, th.subject))
	}
	return s.post(ctx, msg.TenantID, o)
}

// Start opens an outbound e-mail contact handled by the agent and sends
// its first mail from the tenant's first mailbox. When the mail cannot
// be sent, the contact exists (its id is returned) with the message
// recorded as failed, and the error says why.
func (s *Service) Start(ctx context.Context, out channels.Outbound) (uuid.UUID, error) {
	to, err := customer.Normalize(customer.KindEmail, out.To)
	if err != nil {
		return uuid.Nil, err
	}
	if strings.TrimSpace(out.Body) == "" {
		return uuid.Nil, cic.Codef(cic.EINVALID, "message_empty", "Write the first message.")
	}
	mailbox, err := s.Directory.FirstAddress(ctx, out.TenantID, Channel)
	if err != nil {
		return uuid.Nil, err
	}
	var customerID uuid.UUID
	if err := s.DB.Tx(ctx, out.TenantID, func(tx pgx.Tx) error {
		customerID, err = customer.ResolveTx(ctx, tx, out.TenantID, customer.KindEmail, to, "")
		return err
	}); err != nil {
		return uuid.Nil, err
	}
	p := tenant.Principal{Actor: tenant.Actor{TenantID: out.TenantID, UserID: out.AgentID, Role: cic.RoleAgent}}
	c, err := s.Contacts.OpenOutbound(ctx, p, contacts.OpenInput{QueueID: out.QueueID, Channel: Channel, CustomerID: &customerID,
		Subject: out.Subject, Campaign: out.Campaign, CustomerRef: truncate(to, 200)})
	if err != nil {
		return uuid.Nil, err
	}
	agent := out.AgentID
	err = s.post(ctx, out.TenantID, outMail{contactID: c.ID, sender: conversation.SenderAgent, agentID: &agent,
		from: mailbox.Address, to: to, subject: out.Subject, body: out.Body})
	return c.ID, err
}

// thread is what a new message on a contact answers.
type thread struct {
	mailbox, customer string
	subject           string
	inReplyTo         string
	references        []string
	first             bool // nothing was written on the contact yet
}

// thread reads the conversation: we write from the mailbox the customer
// wrote to, to the customer's address, under their last mail (or our
// last one, on an outbound contact they have not answered).
func (s *Service) thread(ctx context.Context, tenantID uuid.UUID, c contacts.Contact) (thread, error) {
	msgs, err := s.Conversations.List(ctx, tenantID, c.ID)
	if err != nil {
		return thread{}, err
	}
	th := thread{first: len(msgs) == 0, customer: c.CustomerRef}
	var lastIn, lastAny *conversation.Message
	for i := range msgs {
		m := &msgs[i]
		if m.Direction == "inbound" {
			if th.mailbox == "" {
				th.mailbox = m.To
			}
			lastIn = m
		} else if th.mailbox == "" && m.From != "" {
			th.mailbox = m.From
		}
		if th.subject == "" {
			th.subject = m.Subject
		}
		if m.ExternalID != nil {
			lastAny = m
		}
	}
	if lastIn != nil {
		th.customer = lastIn.From
	} else {
		for _, m := range msgs {
			if m.Direction == "outbound" && m.To != "" {
				th.customer = m.To
				break
			}
		}
	}
	if th.customer == "" {
		return thread{}, cic.Codef(cic.ECONFLICT, "no_recipient", "This contact has no customer e-mail address to answer.")
	}
	if th.mailbox == "" {
		a, err := s.Directory.FirstAddress(ctx, tenantID, Channel)
		if err != nil {
			return thread{}, err
		}
		th.mailbox = a.Address
	}
	parent := lastIn
	if parent == nil {
		parent = lastAny
	}
	if parent != nil && parent.ExternalID != nil {
		th.inReplyTo = *parent.ExternalID
		th.references = append(metaIDs(parent.Meta["references"]), th.inReplyTo)
		if len(th.references) > maxRefs {
			th.references = append(th.references[:1], th.references[len(th.references)-maxRefs+1:]...)
		}
	}
	return th, nil
}

// metaIDs reads a list of ids from a message's meta (JSON).
func metaIDs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list)+1)
	for _, x := range list {
		if s, ok := x.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func reSubject(s string) string {
	if strings.HasPrefix(strings.ToLower(s), "re:") {
		return s
	}
	if s == "" {
		return "Re: your message"
	}
	return "Re: " + s
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// post records o in its conversation (queued), hands it to the relay and
// records how that went.
func (s *Service) post(ctx context.Context, tenantID uuid.UUID, o outMail) error {
	id := uuid.NewString() + "@" + s.Domain
	var stored conversation.Message
	if o.contactID != uuid.Nil {
		m := map[string]any{"message_id": id}
		if o.inReplyTo != "" {
			m["in_reply_to"] = []string{o.inReplyTo}
		}
		if len(o.references) > 0 {
			m["references"] = o.references
		}
		var err error
		stored, _, err = s.Conversations.Append(ctx, tenantID, conversation.New{ContactID: o.contactID, Channel: Channel,
			Direction: "outbound", Sender: o.sender, AgentID: o.agentID, From: o.from, To: o.to, Subject: o.subject,
			Body: o.body, ExternalID: id, Meta: m, Status: conversation.StatusQueued, Attachments: o.attachments})
		if err != nil {
			return err
		}
	}
	sendErr := s.relay(ctx, id, o)
	if o.contactID == uuid.Nil {
		return sendErr
	}
	status, text := conversation.StatusSent, ""
	if sendErr != nil {
		status, text = conversation.StatusFailed, sendErr.Error()
	}
	// The outcome is recorded even when the caller gave up waiting.
	if err := s.Conversations.SetStatus(context.WithoutCancel(ctx), tenantID, stored.ID, status, text, ""); err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	if sendErr == nil {
		return nil
	}
	if s.Relay == nil {
		return cic.Codef(cic.EUNAVAILABLE, "email_off", "Outbound e-mail is off on this server (SMTP_RELAY is not set); the message is saved as not sent.")
	}
	s.log().WarnContext(ctx, "email: relay refused a message", "tenant", tenantID, "contact", o.contactID, "err", sendErr)
	return cic.Codef(cic.EUNAVAILABLE, "email_not_sent", "The mail server did not take the message; it is saved as not sent.")
}

func (s *Service) relay(ctx context.Context, id string, o outMail) error {
	if s.Relay == nil {
		return fmt.Errorf("%s", errRelayOff)
	}
	data, err := render(id, o, time.Now())
	if err != nil {
		return err
	}
	envelope := o.from
	if o.auto == "auto-replied" {
		// RFC 3834: an automatic answer has the null sender, so a bounce
		// of it goes nowhere.
		envelope = ""
	}
	return s.Relay.SendRaw(ctx, envelope, []string{o.to}, data)
}

// render builds the RFC 5322 message: multipart/mixed with the text and
// the attachments (a single text part without them); go-message encodes
// the headers, so no name or subject can inject one.
func render(id string, o outMail, now time.Time) ([]byte, error) {
	var h gomail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*gomail.Address{{Address: o.from}})
	h.SetAddressList("To", []*gomail.Address{{Address: o.to}})
	h.SetSubject(clean(o.subject, 500))
	h.SetMessageID(id)
	if o.inReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{o.inReplyTo})
	}
	if len(o.references) > 0 {
		h.SetMsgIDList("References", o.references)
	}
	if o.auto != "" {
		h.Set("Auto-Submitted", o.auto)
	}
	h.Set("MIME-Version", "1.0")
	body := strings.ReplaceAll(o.body, "\r\n", "\n")
	var buf bytes.Buffer
	if len(o.attachments) == 0 {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := gomail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, fmt.Errorf("render mail: %w", err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	mw, err := gomail.CreateWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("render mail: %w", err)
	}
	var th gomail.InlineHeader
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(tw, body); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	for _, a := range o.attachments {
		var ah gomail.AttachmentHeader
		ct, params, err := mime.ParseMediaType(a.ContentType)
		if err != nil {
			ct, params = "application/octet-stream", nil
		}
		ah.SetContentType(ct, params)
		ah.SetFilename(clean(a.Filename, 255))
		ah.Set("Content-Transfer-Encoding", "base64")
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return nil, err
		}
		if _, err := aw.Write(a.Data); err != nil {
			return nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// autoReply answers a mail in the background (after the sender got its
// 250): the service-unavailable or queue-closed notice. Robots and
// bounces get none.
func (s *Service) autoReply(tenantID, contactID uuid.UUID, mailbox string, m *Mail, envelopeFrom, text string) {
	if m.Automatic || envelopeFrom == "" {
		return
	}
	o := outMail{contactID: contactID, sender: conversation.SenderSystem, from: mailbox, to: m.From.Address,
		subject: reSubject(m.Subject), body: text, inReplyTo: m.MessageID,
		references: append(append([]string{}, m.References...), m.MessageID), auto: "auto-replied"}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := s.post(ctx, tenantID, o); err != nil {
			s.log().WarnContext(ctx, "email: automatic reply not sent", "tenant", tenantID, "to", o.to, "err", err)
		}
	}()
}
