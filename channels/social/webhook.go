package social

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/messaging"
)

// Webhook is a connector's request as the web edge received it.
type Webhook struct {
	Timestamp string // X-CIC-Timestamp
	Signature string // X-CIC-Signature
	Body      []byte
}

// Event is the webhook's body: one message a customer sent to a page.
// Fields beyond these are ignored, so a connector may send more.
type Event struct {
	ID          string       `json:"id"`
	Platform    string       `json:"platform"`
	Page        string       `json:"page"`
	Sender      Sender       `json:"sender"`
	Text        string       `json:"text"`
	Attachments []Attachment `json:"attachments"`
}

// Sender is the customer on the platform.
type Sender struct {
	Handle string `json:"handle"`
	Name   string `json:"name"`
}

// Attachment is a file of the message, its bytes in base64.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Data        []byte `json:"data"`
}

// Limits of an event.
const (
	MaxAttachments = 10
	maxField       = 200
)

// Result is the webhook's answer.
type Result struct {
	// Status is received, survey_answered, unavailable (the tenant's
	// policy blocks new contacts: the message is kept, Reply was sent
	// back) or closed (outside business hours: Reply was sent back,
	// nothing kept).
	Status    string     `json:"status"`
	ContactID *uuid.UUID `json:"contact_id,omitempty"`
	Reply     string     `json:"reply,omitempty"`
}

func bad(code, format string, args ...any) error {
	return cic.Codef(cic.EINVALID, code, format, args...)
}

// plain reports whether v is 1 to max printable characters.
func plain(v string, max int) bool {
	if v == "" || len(v) > max || !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// ParseEvent reads and checks a webhook body.
func ParseEvent(body []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&e); err != nil {
		return Event{}, bad("invalid_json", "The body is not a message event: %s.", problem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Event{}, bad("invalid_json", "The body must hold a single JSON object.")
	}
	e.Platform = strings.ToLower(strings.TrimSpace(e.Platform))
	e.Sender.Handle = strings.TrimPrefix(strings.TrimSpace(e.Sender.Handle), "@")
	e.Sender.Name = strings.TrimSpace(e.Sender.Name)
	e.Text = messaging.Text(e.Text)
	switch {
	case !plain(e.ID, maxField):
		return Event{}, bad("invalid_id", "id is 1 to %d printable characters.", maxField)
	case !platformName(e.Platform):
		return Event{}, bad("invalid_platform", "platform is 1 to 40 letters, digits, '-', '_' or '.'.")
	case !plain(e.Page, maxField) || strings.Contains(e.Page, ":"):
		return Event{}, bad("invalid_page", "page is 1 to %d printable characters without ':'.", maxField)
	case !plain(e.Sender.Handle, maxField):
		return Event{}, bad("invalid_sender", "sender.handle is 1 to %d printable characters.", maxField)
	case e.Sender.Name != "" && !plain(e.Sender.Name, maxField):
		return Event{}, bad("invalid_sender", "sender.name is at most %d printable characters.", maxField)
	case len(e.Text) > MaxText || !utf8.ValidString(e.Text):
		return Event{}, bad("invalid_text", "text is at most %d characters of UTF-8.", MaxText)
	case len(e.Attachments) > MaxAttachments:
		return Event{}, bad("too_many_attachments", "A message has at most %d attachments.", MaxAttachments)
	case strings.TrimSpace(e.Text) == "" && len(e.Attachments) == 0:
		return Event{}, bad("empty_message", "The message has neither text nor attachments.")
	}
	for i, a := range e.Attachments {
		switch {
		case len(a.Data) == 0 || len(a.Data) > conversation.MaxAttachment:
			return Event{}, bad("invalid_attachment", "attachments[%d].data is 1 byte to %d MB in base64.", i, conversation.MaxAttachment>>20)
		case a.Filename != "" && (!plain(a.Filename, 255) || strings.ContainsAny(a.Filename, `/\`)):
			return Event{}, bad("invalid_attachment", "attachments[%d].filename is a file name of at most 255 characters.", i)
		case a.ContentType != "" && !plain(a.ContentType, 255):
			return Event{}, bad("invalid_attachment", "attachments[%d].content_type is a media type.", i)
		}
	}
	return e, nil
}

func platformName(v string) bool {
	if v == "" || len(v) > 40 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// problem says what is wrong with the JSON without echoing it.
func problem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type.String())
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "it is empty or ends too early"
	case strings.Contains(err.Error(), "base64"):
		return "an attachment's data is not base64"
	}
	return "it cannot be read"
}

// Inbound takes a connector's webhook for tenantID. The signature is
// checked first, with the tenant's social secret: an unknown tenant, a
// missing, wrong or stale signature are all 403 and nothing is read.
func (s *Service) Inbound(ctx context.Context, tenantID uuid.UUID, wh Webhook) (Result, error) {
	p, err := s.Flow.Directory.Provider(ctx, tenantID, directory.Social)
	if e, ok := cic.AsError(err); ok && e.Kind == cic.ENOTFOUND {
		return Result{}, cic.Codef(cic.EFORBIDDEN, "invalid_signature", "The request's signature is missing or wrong.")
	}
	if err != nil {
		return Result{}, fmt.Errorf("social webhook: provider: %w", err)
	}
	if err := messaging.Verify(p.Secret, wh.Timestamp, wh.Signature, wh.Body, s.now()); err != nil {
		return Result{}, err
	}
	e, err := ParseEvent(wh.Body)
	if err != nil {
		return Result{}, err
	}
	page := e.Platform + ":" + e.Page
	addr, err := s.Flow.Directory.AddressOf(ctx, tenantID, Channel, page)
	if err != nil {
		return Result{}, err
	}
	if addr.QueueID == nil {
		return Result{}, cic.Codef(cic.ECONFLICT, "address_without_queue", "The page %s leads to no queue.", page)
	}
	handle, err := customer.Normalize(customer.KindHandle, e.Platform+":"+e.Sender.Handle)
	if err != nil {
		return Result{}, bad("invalid_sender", "sender.handle is not a handle.")
	}
	var atts []channels.Attachment
	for i, a := range e.Attachments {
		name := a.Filename
		if name == "" {
			name = fmt.Sprintf("attachment-%d", i+1)
		}
		atts = append(atts, channels.Attachment{Filename: name, ContentType: a.ContentType, Data: a.Data})
	}
	subject := e.Sender.Name
	if subject == "" {
		subject = handle
	}
	out, err := s.Flow.Receive(ctx, messaging.Inbound{TenantID: tenantID, Channel: Channel, QueueID: *addr.QueueID,
		IdentityKind: customer.KindHandle, Identity: handle, DisplayName: e.Sender.Name,
		// Event ids are the platform's: two platforms may use the same.
		ExternalID: e.Platform + ":" + e.ID, From: handle, To: addr.Address, Subject: subject, Body: e.Text,
		Meta: map[string]any{"platform": e.Platform, "page": e.Page, "sender_name": e.Sender.Name}, Attachments: atts,
		Surveyed: true, Continues: true})
	if err != nil {
		return Result{}, err
	}
	r := Result{Status: "received", Reply: out.Reply}
	if out.ContactID != uuid.Nil {
		r.ContactID = &out.ContactID
	}
	switch {
	case out.Survey:
		r.Status = "survey_answered"
	case out.Unavailable:
		r.Status = "unavailable"
	case out.Closed:
		r.Status = "closed"
	}
	if out.Reply != "" && !out.Replay {
		s.answer(ctx, tenantID, p, out, handle, addr.Address)
	}
	return r, nil
}

// answer sends an automatic reply back through the reply API: on the
// rejected contact (recorded there) or, outside business hours, without
// a contact. The message is kept whether or not this works.
func (s *Service) answer(ctx context.Context, tenantID uuid.UUID, p directory.Provider, out messaging.Outcome, handle, page string) {
	var err error
	if out.ContactID != uuid.Nil {
		err = s.send(ctx, channels.Message{TenantID: tenantID, ContactID: out.ContactID, Kind: channels.KindNotice, Body: out.Reply}, handle, page)
	} else {
		platform, recipient, _ := strings.Cut(handle, ":")
		_, pg, _ := strings.Cut(page, ":")
		_, err = s.post(ctx, p, Reply{Platform: platform, Page: pg, Recipient: recipient, Text: out.Reply})
	}
	if err != nil {
		s.Flow.Logger().Warn("social: automatic reply not sent", "tenant", tenantID, "err", err)
	}
}
