package sms

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/messaging"
	"github.com/cic-platform/cic/channels/twilio"
)

// Webhook is a provider's request as the web edge received it.
type Webhook struct {
	// URL is the full URL the provider called: the public URL, path and
	// query. The signature covers it.
	URL       string
	Signature string // X-Twilio-Signature
	Body      []byte // application/x-www-form-urlencoded
}

// MaxMedia is how many media items of one MMS are kept.
const MaxMedia = 10

var errSignature = cic.Codef(cic.EFORBIDDEN, "invalid_signature", "The request's signature is missing or wrong.")

// Message is an inbound SMS as the provider describes it.
type Message struct {
	SID   string
	From  string // E.164
	To    string // E.164: one of the tenant's numbers
	Body  string
	Media []Media
}

// Media is one picture (or other file) of an MMS, kept as its URL at the
// provider.
type Media struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
}

// verify authenticates a webhook of tenantID and returns its parameters.
// A tenant without an SMS provider account, a body that is not a form and
// a wrong signature are all the same 403: the caller learns nothing.
func (s *Service) verify(ctx context.Context, tenantID uuid.UUID, wh Webhook) (url.Values, error) {
	p, err := s.Flow.Directory.Provider(ctx, tenantID, directory.Twilio)
	if e, ok := cic.AsError(err); ok && e.Kind == cic.ENOTFOUND {
		return nil, errSignature
	}
	if err != nil {
		return nil, fmt.Errorf("sms webhook: provider: %w", err)
	}
	params, err := url.ParseQuery(string(wh.Body))
	if err != nil || !twilio.Valid(p.Secret, wh.URL, params, wh.Signature) {
		return nil, errSignature
	}
	return params, nil
}

// sid reads a provider id: letters and digits, at most 64.
func sid(v string) (string, bool) {
	if v == "" || len(v) > 64 {
		return "", false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "", false
		}
	}
	return v, true
}

func bad(code, format string, args ...any) error {
	return cic.Codef(cic.EINVALID, code, format, args...)
}

// ParseMessage reads an inbound SMS from the webhook's parameters.
func ParseMessage(params url.Values) (Message, error) {
	var m Message
	var ok bool
	if m.SID, ok = sid(params.Get("MessageSid")); !ok {
		return Message{}, bad("invalid_message_sid", "MessageSid is 1 to 64 letters and digits.")
	}
	var err error
	if m.From, err = customer.NormalizePhone(params.Get("From")); err != nil {
		return Message{}, bad("invalid_from", "From is not a phone number with its country code.")
	}
	if m.To, err = customer.NormalizePhone(params.Get("To")); err != nil {
		return Message{}, bad("invalid_to", "To is not a phone number with its country code.")
	}
	m.Body = messaging.Text(params.Get("Body"))
	if len(m.Body) > 4*MaxBody {
		return Message{}, bad("message_too_long", "The message is too long for an SMS.")
	}
	n := 0
	if raw := params.Get("NumMedia"); raw != "" {
		if n, err = strconv.Atoi(raw); err != nil || n < 0 || n > 100 {
			return Message{}, bad("invalid_num_media", "NumMedia is a number from 0 to 100.")
		}
	}
	for i := range min(n, MaxMedia) {
		raw := params.Get("MediaUrl" + strconv.Itoa(i))
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(raw) > 1000 {
			return Message{}, bad("invalid_media_url", "MediaUrl%d is not an http(s) URL.", i)
		}
		ct := messaging.Text(params.Get("MediaContentType" + strconv.Itoa(i)))
		if len(ct) > 255 {
			ct = ""
		}
		m.Media = append(m.Media, Media{URL: raw, ContentType: ct})
	}
	return m, nil
}

// Inbound takes the provider's webhook of an inbound SMS for tenantID
// and returns the TwiML to answer it with.
func (s *Service) Inbound(ctx context.Context, tenantID uuid.UUID, wh Webhook) ([]byte, error) {
	params, err := s.verify(ctx, tenantID, wh)
	if err != nil {
		return nil, err
	}
	m, err := ParseMessage(params)
	if err != nil {
		return nil, err
	}
	addr, err := s.Flow.Directory.AddressOf(ctx, tenantID, Channel, m.To)
	if err != nil {
		return nil, err
	}
	if addr.QueueID == nil {
		return nil, cic.Codef(cic.ECONFLICT, "address_without_queue", "The number %s leads to no queue.", m.To)
	}
	meta := map[string]any{}
	if len(m.Media) > 0 {
		// The media stay at the provider (behind its authentication);
		// the desk links to them.
		meta["media"] = m.Media
	}
	out, err := s.Flow.Receive(ctx, messaging.Inbound{TenantID: tenantID, Channel: Channel, QueueID: *addr.QueueID,
		IdentityKind: customer.KindPhone, Identity: m.From, ExternalID: m.SID, From: m.From, To: m.To, Subject: m.From,
		Body: m.Body, Meta: meta, Surveyed: true, Continues: true})
	if err != nil {
		return nil, err
	}
	return TwiML(out.Reply), nil
}

// TwiML is the answer to an inbound SMS: nothing, or reply as an SMS.
func TwiML(reply string) []byte {
	if reply == "" {
		return []byte(xml.Header + "<Response/>")
	}
	var b strings.Builder
	b.WriteString(xml.Header + "<Response><Message>")
	_ = xml.EscapeText(&b, []byte(reply))
	b.WriteString("</Message></Response>")
	return []byte(b.String())
}

// Status takes the provider's delivery status of one of our SMS. Only a
// change that says more is recorded: a late "sent" does not undo
// "failed". An SMS we do not know (another server's, or not yet
// recorded) is ignored.
func (s *Service) Status(ctx context.Context, tenantID uuid.UUID, wh Webhook) error {
	params, err := s.verify(ctx, tenantID, wh)
	if err != nil {
		return err
	}
	id, ok := sid(params.Get("MessageSid"))
	if !ok {
		return bad("invalid_message_sid", "MessageSid is 1 to 64 letters and digits.")
	}
	var status, errText string
	switch st := params.Get("MessageStatus"); st {
	case "accepted", "scheduled", "queued", "sending", "receiving", "received":
		return nil
	case "sent", "delivered", "read":
		status = conversation.StatusSent
	case "failed", "undelivered", "canceled":
		status, errText = conversation.StatusFailed, "The provider reports the SMS "+st
		if code := params.Get("ErrorCode"); code != "" && len(code) <= 10 {
			errText += " (error " + code + ")"
		}
		errText += "."
	default:
		return bad("invalid_status", "MessageStatus is not a message status.")
	}
	m, found, err := s.outbound(ctx, tenantID, id)
	if err != nil || !found {
		return err
	}
	if m.Status == status || m.Status == conversation.StatusFailed {
		return nil
	}
	return s.Flow.Conversations.SetStatus(ctx, tenantID, m.ID, status, errText, "")
}

// outbound finds our SMS with the provider's sid.
func (s *Service) outbound(ctx context.Context, tenantID uuid.UUID, providerID string) (conversation.Message, bool, error) {
	var contactID uuid.UUID
	var found bool
	err := s.Flow.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		contactID, found, err = conversation.ContactOfExternal(ctx, tx, tenantID, Channel, []string{providerID})
		return err
	})
	if err != nil || !found {
		return conversation.Message{}, false, err
	}
	msgs, err := s.Flow.Conversations.List(ctx, tenantID, contactID)
	if err != nil {
		return conversation.Message{}, false, err
	}
	for _, m := range msgs {
		if m.Direction == "outbound" && m.ExternalID != nil && *m.ExternalID == providerID {
			return m, true, nil
		}
	}
	return conversation.Message{}, false, nil
}
