package email

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/routing/contacts"
)

// Outcomes of a delivery.
const (
	Opened      = "opened"      // a new contact
	Threaded    = "threaded"    // added to the open contact it answers
	Duplicate   = "duplicate"   // already stored (a redelivery)
	Survey      = "survey"      // the answer to the customer's open survey
	Unavailable = "unavailable" // kept on a contact the block policy refused
	Held        = "held"        // kept until the queue opens
)

// Result is what became of a mail for one recipient.
type Result struct {
	Outcome   string
	ContactID uuid.UUID // uuid.Nil for Survey and Held
}

// errTemporary marks failures the sender should retry (451).
var errTemporary = errors.New("temporary failure")

// Deliver stores m, received for r, in r's tenant; raw is the message as
// received (kept while its queue is closed). It returns only once the
// mail is committed, and delivering the same mail again changes nothing.
func (s *Service) Deliver(ctx context.Context, r Recipient, m *Mail, raw []byte, envelopeFrom string) (Result, error) {
	return s.deliver(ctx, r, m, raw, envelopeFrom, true)
}

func (s *Service) deliver(ctx context.Context, r Recipient, m *Mail, raw []byte, envelopeFrom string, reply bool) (Result, error) {
	t := r.TenantID
	msg := conversation.New{Channel: Channel, Direction: "inbound", Sender: conversation.SenderCustomer,
		From: m.From.Address, To: r.Address.Address, Subject: m.Subject, Body: m.Text, ExternalID: m.MessageID,
		Meta: meta(m, envelopeFrom), Status: conversation.StatusReceived, Attachments: m.Attachments}
	var res Result
	var customerID uuid.UUID
	err := s.DB.Tx(ctx, t, func(tx pgx.Tx) error {
		if id, ok, err := storedInbound(ctx, tx, t, m.MessageID); err != nil || ok {
			res = Result{Outcome: Duplicate, ContactID: id}
			return err
		}
		var err error
		customerID, err = customer.ResolveTx(ctx, tx, t, customer.KindEmail, m.From.Address, m.From.Name)
		if err != nil {
			return err
		}
		if _, ok := customer.ParseScore(m.Text); ok {
			done, err := s.surveyAnswer(ctx, tx, t, customerID, m)
			if err != nil || done {
				res.Outcome = Survey
				return err
			}
		}
		refs := append(append([]string{}, m.InReplyTo...), m.References...)
		id, ok, err := conversation.ContactOfExternal(ctx, tx, t, Channel, refs)
		if err != nil || !ok {
			return err
		}
		var state string
		if err := tx.QueryRow(ctx, `SELECT state FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, t, id).Scan(&state); err != nil {
			return fmt.Errorf("threaded contact: %w", err)
		}
		switch state {
		case contacts.StateNew, contacts.StateQueued, contacts.StateOffered, contacts.StateAccepted, contacts.StateWrapUp:
		default:
			return nil // that conversation is over: this mail starts a new one
		}
		msg.ContactID = id
		if _, _, err := conversation.AppendTx(ctx, tx, t, msg); err != nil {
			return err
		}
		res = Result{Outcome: Threaded, ContactID: id}
		return nil
	})
	if err == nil && res.Outcome == Threaded {
		s.wroteAgain(ctx, t, res.ContactID)
	}
	if err != nil || res.Outcome != "" {
		return res, err
	}

	// A new contact, named by the mail: a retry after a crash between
	// Open and Append finds the same contact and stores the mail once.
	in := contacts.OpenInput{ID: conversation.ContactID(t, Channel, m.MessageID), Channel: Channel, QueueID: *r.Address.QueueID,
		CustomerID: &customerID, Subject: m.Subject, CustomerRef: truncate(m.From.Address, 200)}
	_, openErr := s.Contacts.Open(ctx, t, in)
	res = Result{Outcome: Opened, ContactID: in.ID}
	var notice string
	if openErr != nil {
		e, ok := cic.AsError(openErr)
		switch {
		case ok && e.Code == "service_unavailable":
			// Recorded as rejected_no_credit: the mail is kept on it.
			res.Outcome, notice = Unavailable, "We received your message, but our service is unavailable at the moment, so nobody can answer it now. Please try again later."
		case ok && e.Code == "queue_closed":
			return s.hold(ctx, r, m, raw, envelopeFrom, e.Message, reply)
		default:
			return Result{}, fmt.Errorf("%w: open contact: %w", errTemporary, openErr)
		}
	}
	msg.ContactID = in.ID
	_, created, err := s.Conversations.Append(ctx, t, msg)
	if err != nil {
		return Result{}, err
	}
	if notice != "" && created && reply {
		s.autoReply(t, in.ID, r.Address.Address, m, envelopeFrom, notice)
	}
	return res, nil
}

// storedInbound finds the contact holding an inbound mail with this
// Message-ID (only inbound: a forged id equal to one of our replies'
// must not make the mail look delivered).
func storedInbound(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, id string) (uuid.UUID, bool, error) {
	var c uuid.UUID
	err := tx.QueryRow(ctx, `SELECT contact_id FROM contact_messages WHERE tenant_id = $1 AND channel = $2
		AND direction = 'inbound' AND external_id = $3`, tenantID, Channel, id).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("stored mail: %w", err)
	}
	return c, true, nil
}

// surveyAnswer takes m as the answer to the customer's open survey. A
// receipt per Message-ID makes a redelivered answer count once (and not
// open a contact the second time, when no survey is open any more).
func (s *Service) surveyAnswer(ctx context.Context, tx pgx.Tx, t, customerID uuid.UUID, m *Mail) (bool, error) {
	var seen bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_receipts WHERE tenant_id = $1 AND provider = 'email_survey'
		AND external_id = $2)`, t, m.MessageID).Scan(&seen); err != nil {
		return false, fmt.Errorf("survey receipt: %w", err)
	}
	if seen {
		return true, nil
	}
	handled, err := customer.AnswerPending(ctx, tx, t, customerID, Channel, m.Text)
	if err != nil || !handled {
		return false, err
	}
	_, err = conversation.Receipt(ctx, tx, t, "email_survey", m.MessageID)
	return true, err
}

func meta(m *Mail, envelopeFrom string) map[string]any {
	out := map[string]any{"message_id": m.MessageID}
	if m.Synthesized {
		out["message_id_synthesized"] = true
	}
	if len(m.InReplyTo) > 0 {
		out["in_reply_to"] = m.InReplyTo
	}
	if len(m.References) > 0 {
		out["references"] = m.References
	}
	if !m.Date.IsZero() {
		out["date"] = m.Date.UTC()
	}
	if m.From.Name != "" {
		out["from_name"] = m.From.Name
	}
	if len(m.To) > 0 {
		out["to"] = m.To
	}
	if len(m.Cc) > 0 {
		out["cc"] = m.Cc
	}
	if envelopeFrom != "" && envelopeFrom != m.From.Address {
		out["envelope_from"] = clean(envelopeFrom, 320)
	}
	if m.FromHTML {
		out["from_html"] = true
	}
	return out
}

// wroteAgain puts a customer's mail that joined an open conversation on
// the contact's timeline and tells the desks; the mail itself is stored,
// so a failure here is only logged.
func (s *Service) wroteAgain(ctx context.Context, tenantID, contactID uuid.UUID) {
	if err := s.Contacts.AddEvent(ctx, tenantID, contactID, "customer_wrote", nil, map[string]any{"channel": Channel}); err != nil {
		s.log().Warn("timeline event of a threaded mail", "tenant", tenantID, "contact", contactID, "err", err)
	}
	if s.Contacts.Notify != nil {
		s.Contacts.Notify(tenantID, "message", contactID, nil)
	}
}
