package chat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/routing/contacts"
)

// Leaving a message: outside the queue's business hours, or once the
// visitor has waited past the queue's max_wait_seconds, the widget offers
// a form (name, e-mail, message) instead of the chat. The message becomes
// an e-mail contact on the widget's queue (which must also take e-mail),
// queued even while the queue is closed, so it waits for the opening and
// is answered like any mail: the agent's reply goes to the address given,
// from the tenant's first mailbox (channels/email). A visitor who was
// waiting in a chat leaves it (the chat is abandoned) for the message.

// MessageInput is a message a visitor leaves.
type MessageInput struct {
	// Token, when the visitor was waiting in a chat: that chat ends.
	Token string `json:"token"`
	// ClientID names the message, so a resend stores it once.
	ClientID string `json:"client_id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Message  string `json:"message"`
}

// LeftMessage is the contact a message became.
type LeftMessage struct {
	ContactID uuid.UUID `json:"contact_id"`
	State     string    `json:"state"`
}

// messageChannel is the channel a left message is answered on.
const messageChannel = "email"

// LeaveMessage stores a visitor's message as an e-mail contact queued on
// the widget's queue. The key and origin are checked as for Start, and
// it counts against the same per-IP start limit.
func (s *Service) LeaveMessage(ctx context.Context, key, origin, ip string, in MessageInput) (LeftMessage, error) {
	tenantID, w, err := s.WidgetFor(ctx, key, origin)
	if err != nil {
		return LeftMessage{}, err
	}
	var chat *Visitor
	if in.Token != "" {
		v, err := s.Authenticate(ctx, in.Token, origin)
		if err != nil {
			return LeftMessage{}, err
		}
		if v.TenantID != tenantID || v.WidgetID != w.ID {
			return LeftMessage{}, errBadToken
		}
		chat = &v
	}
	name := strings.TrimSpace(in.Name)
	body := strings.TrimSpace(in.Message)
	switch {
	case in.ClientID != "" && !validClientID.MatchString(in.ClientID):
		return LeftMessage{}, cic.Codef(cic.EINVALID, "invalid_client_id", "client_id is 1 to 64 letters, digits, - _ . or :.")
	case utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00\r\n"):
		return LeftMessage{}, cic.Codef(cic.EINVALID, "invalid_name", "name is at most 200 characters on one line.")
	case body == "":
		return LeftMessage{}, cic.Codef(cic.EINVALID, "message_empty", "Write a message.")
	case !utf8.ValidString(body) || strings.ContainsRune(body, 0):
		return LeftMessage{}, cic.Codef(cic.EINVALID, "invalid_text", "The message must be valid text.")
	case utf8.RuneCountInString(body) > MaxBody:
		return LeftMessage{}, cic.Codef(cic.EINVALID, "message_too_long", "A message is at most %d characters.", MaxBody)
	}
	email, err := customer.Normalize(customer.KindEmail, strings.TrimSpace(in.Email))
	if err != nil || len(email) > 200 {
		return LeftMessage{}, cic.Codef(cic.EINVALID, "invalid_email", "Give an e-mail address we can answer to.")
	}
	if err := s.allowStart(ctx, tenantID, ip); err != nil {
		return LeftMessage{}, err
	}
	if w.QueueID == nil {
		return LeftMessage{}, cic.Codef(cic.EUNAVAILABLE, "service_unavailable", "Chat is not available at the moment; please try again later.")
	}
	q, err := s.Setup.QueueByID(ctx, tenantID, *w.QueueID)
	if err != nil {
		if cic.ErrorKind(err) == cic.ENOTFOUND {
			return LeftMessage{}, cic.Codef(cic.EUNAVAILABLE, "service_unavailable", "Chat is not available at the moment; please try again later.")
		}
		return LeftMessage{}, err
	}
	if !slices.Contains(q.Channels, messageChannel) {
		return LeftMessage{}, cic.Codef(cic.ECONFLICT, "messages_unavailable", "Leaving a message is not possible here; please come back during our opening hours.")
	}
	ext := uuid.NewString()
	if in.ClientID != "" {
		ext = w.ID.String() + ":" + in.ClientID
	}
	id := conversation.ContactID(tenantID, messageChannel, "chat-message:"+ext)
	var custID uuid.UUID
	if err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		custID, err = customer.ResolveTx(ctx, tx, tenantID, customer.KindEmail, email, name)
		return err
	}); err != nil {
		return LeftMessage{}, err
	}
	who := name
	if who == "" {
		who = email
	}
	subject := "Message from the chat: " + who
	c, openErr := s.Contacts.Open(ctx, tenantID, contacts.OpenInput{ID: id, QueueID: q.ID, Channel: messageChannel,
		CustomerID: &custID, Subject: subject, CustomerRef: email, AfterHours: true})
	if openErr != nil && c.ID == uuid.Nil {
		if _, err := s.Contacts.GetByID(ctx, tenantID, id); err != nil {
			return LeftMessage{}, openErr
		}
	}
	// Kept even on a contact refused for lack of credit: nothing is lost.
	if _, _, err := (&conversation.Store{DB: s.DB}).Append(ctx, tenantID, conversation.New{ContactID: id, Channel: messageChannel,
		Direction: "inbound", Sender: conversation.SenderCustomer, From: email, Subject: subject, Body: body,
		ExternalID: id.String() + "@chat.invalid", Meta: map[string]any{"source": "chat_widget", "widget_id": w.ID, "name": name},
		Status: conversation.StatusReceived}); err != nil {
		return LeftMessage{}, err
	}
	if openErr != nil {
		return LeftMessage{}, openErr
	}
	if chat != nil && !chat.Ended {
		if err := s.Leave(ctx, *chat); err != nil && !errors.Is(err, context.Canceled) {
			s.Logger.Warn("chat: leave for a message", "tenant", tenantID, "contact", chat.ContactID, "err", err)
		}
		if err := s.Contacts.AddEvent(ctx, tenantID, chat.ContactID, "left_message", nil, map[string]any{"message_contact_id": id}); err != nil {
			s.Logger.Warn("chat: note the message", "tenant", tenantID, "contact", chat.ContactID, "err", err)
		}
	}
	return LeftMessage{ContactID: id, State: c.State}, nil
}
