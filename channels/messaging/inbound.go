package messaging

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/routing/contacts"
)

// Inbound is a customer's message to one of the tenant's addresses, as
// the channel read it from its provider's webhook.
type Inbound struct {
	TenantID uuid.UUID
	Channel  string // sms, social, fax
	QueueID  uuid.UUID
	// IdentityKind and Identity recognise the customer (phone, handle).
	IdentityKind, Identity string
	DisplayName            string
	// ExternalID is the provider's id of the message: it dedupes the
	// message and names the contact it opens.
	ExternalID  string
	From, To    string
	Subject     string // the contact's subject in lists
	Body        string
	Meta        map[string]any
	Attachments []channels.Attachment
	// AttachmentLimit lets a channel keep files larger than
	// conversation.MaxAttachment (a fax's document).
	AttachmentLimit int
	// Surveyed: a lone 1 to 5 may answer the customer's open survey on
	// this channel (not for a fax).
	Surveyed bool
	// Continues: the message joins the customer's open contact on this
	// channel instead of opening one (a text conversation; not a fax).
	Continues bool
}

// Outcome is what became of an inbound message.
type Outcome struct {
	ContactID uuid.UUID
	// Survey: the message answered a survey; no contact has it.
	Survey bool
	// Replay: the provider delivered it before; nothing changed now.
	Replay bool
	// Unavailable: the tenant's policy blocks new contacts and none are
	// left; the contact is recorded as rejected with the message on it.
	Unavailable bool
	// Closed: the queue is outside its business hours; Reply is its
	// closed message, and the message waits on a contact queued for
	// when it opens.
	Closed bool
	// Reply is what the channel answers the customer, if anything.
	Reply string
}

// Receive turns an inbound message into a contact, in this order: a
// message delivered before changes nothing; a survey answer is recorded
// and opens nothing; a message joins the customer's open contact on the
// channel; otherwise it opens a contact named by its external id. A
// delivery that failed half way is finished by the provider's retry.
func (f *Flow) Receive(ctx context.Context, in Inbound) (Outcome, error) {
	if in.ExternalID == "" || len(in.ExternalID) > 500 {
		return Outcome{}, cic.Codef(cic.EINVALID, "invalid_message_id", "The message has no usable id.")
	}
	var out Outcome
	var customerID, known, open, claimed uuid.UUID
	err := f.DB.Tx(ctx, in.TenantID, func(tx pgx.Tx) error {
		var err error
		customerID, err = customer.ResolveTx(ctx, tx, in.TenantID, in.IdentityKind, in.Identity, in.DisplayName)
		if err != nil {
			return err
		}
		var found bool
		if known, found, err = conversation.ContactOfExternal(ctx, tx, in.TenantID, in.Channel, []string{in.ExternalID}); err != nil || found {
			return err
		}
		if in.Surveyed {
			if out.Survey, out.Replay, err = answerSurvey(ctx, tx, in, customerID); err != nil || out.Survey {
				return err
			}
		}
		if in.Continues {
			if open, _, err = conversation.OpenContactOf(ctx, tx, in.TenantID, customerID, in.Channel); err != nil || open != uuid.Nil {
				return err
			}
			// None open: two messages arriving at once must open one
			// contact, not one each.
			claimed, err = conversation.ClaimNew(ctx, tx, in.TenantID, customerID, in.Channel,
				conversation.ContactID(in.TenantID, in.Channel, in.ExternalID))
			return err
		}
		return nil
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("receive %s: %w", in.Channel, err)
	}
	switch {
	case out.Survey:
		return out, nil
	case known != uuid.Nil:
		return f.replayed(ctx, in.TenantID, known)
	case open != uuid.Nil:
		out.ContactID = open
		if err := f.store(ctx, in, open, &out); err != nil {
			return out, err
		}
		if !out.Replay {
			// The customer wrote again in an open conversation: the
			// timeline says so (the message is stored; a failure here
			// is only logged).
			if err := f.Contacts.AddEvent(ctx, in.TenantID, open, "customer_wrote", nil, map[string]any{"channel": in.Channel}); err != nil {
				f.Logger().Warn("timeline event of a message", "tenant", in.TenantID, "contact", open, "err", err)
			}
		}
		return out, nil
	}
	id := conversation.ContactID(in.TenantID, in.Channel, in.ExternalID)
	if claimed != uuid.Nil {
		id = claimed
	}
	oi := contacts.OpenInput{ID: id,
		Channel: in.Channel, QueueID: in.QueueID, CustomerID: &customerID, CustomerRef: in.Identity, Subject: in.Subject}
	c, err := f.Contacts.Open(ctx, in.TenantID, oi)
	if e, ok := cic.AsError(err); ok && errors.Is(err, contacts.ErrClosed) {
		// Outside business hours the message is kept, queued for the
		// morning, and the customer is told when we are back.
		f.Logger().Info("message outside business hours", "tenant", in.TenantID, "channel", in.Channel, "id", in.ExternalID)
		out.Closed, out.Reply = true, e.Message
		oi.AfterHours = true
		c, err = f.Contacts.Open(ctx, in.TenantID, oi)
	}
	if e, ok := cic.AsError(err); ok && e.Code == "service_unavailable" && c.ID != uuid.Nil {
		out.Unavailable, out.Reply = true, UnavailableReply
	} else if err != nil {
		return Outcome{}, fmt.Errorf("receive %s: open contact: %w", in.Channel, err)
	}
	out.ContactID = c.ID
	return out, f.store(ctx, in, c.ID, &out)
}

// answerSurvey takes a lone 1 to 5 as the answer to the customer's open
// survey. Its receipt is kept only when it answered one, so a replay of
// an answer is recognised and a digit that answered nothing goes on to
// be an ordinary message.
func answerSurvey(ctx context.Context, tx pgx.Tx, in Inbound, customerID uuid.UUID) (answered, replay bool, err error) {
	if _, ok := customer.ParseScore(in.Body); !ok {
		return false, false, nil
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return false, false, err
	}
	defer func() { _ = sp.Rollback(ctx) }()
	fresh, err := conversation.Receipt(ctx, sp, in.TenantID, in.Channel+"-survey", in.ExternalID)
	if err != nil {
		return false, false, err
	}
	if !fresh {
		return true, true, nil
	}
	answered, err = customer.AnswerPending(ctx, sp, in.TenantID, customerID, in.Channel, in.Body)
	if err != nil || !answered {
		return false, false, err
	}
	return true, false, sp.Commit(ctx)
}

// replayed answers a delivery of a message stored before as the first
// delivery was answered.
func (f *Flow) replayed(ctx context.Context, tenantID, contactID uuid.UUID) (Outcome, error) {
	out := Outcome{ContactID: contactID, Replay: true}
	c, err := f.Contacts.GetByID(ctx, tenantID, contactID)
	if err != nil {
		return Outcome{}, fmt.Errorf("replayed message's contact: %w", err)
	}
	if c.State == contacts.StateNoCredit {
		out.Unavailable, out.Reply = true, UnavailableReply
	}
	return out, nil
}

// store appends the message to its contact; a concurrent delivery of the
// same message that stored it first makes this one a replay.
func (f *Flow) store(ctx context.Context, in Inbound, contactID uuid.UUID, out *Outcome) error {
	m := conversation.New{ContactID: contactID, Channel: in.Channel, Direction: "inbound", Sender: conversation.SenderCustomer,
		From: in.From, To: in.To, Body: in.Body, ExternalID: in.ExternalID, Meta: in.Meta, Status: conversation.StatusReceived,
		Attachments: in.Attachments, AttachmentLimit: in.AttachmentLimit}
	var created bool
	var err error
	for range 2 {
		if _, created, err = f.Conversations.Append(ctx, in.TenantID, m); !isUniqueViolation(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("store %s message: %w", in.Channel, err)
	}
	out.Replay = !created
	if created && f.Contacts.Notify != nil {
		// The desk showing this conversation hears of the new message.
		f.Contacts.Notify(in.TenantID, "message", contactID, nil)
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
