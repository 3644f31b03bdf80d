package messaging

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

// Outgoing is a message our side sends on a contact.
type Outgoing struct {
	Channel  string
	Msg      channels.Message
	From, To string
	Meta     map[string]any
}

// Deliver hands a message to the provider and returns the provider's id
// for it ("" when it gives none).
type Deliver func(ctx context.Context) (externalID string, err error)

// Send records o as queued, delivers it and records how that went: sent
// with the provider's id, or failed with the reason, which is also
// returned. An answer on a contact no one accepted is refused first
// (contacts.Service.BeforeAnswer).
func (f *Flow) Send(ctx context.Context, o Outgoing, deliver Deliver) (conversation.Message, error) {
	if o.Msg.IsAnswer() {
		if err := f.Contacts.BeforeAnswer(ctx, o.Msg.TenantID, o.Msg.ContactID); err != nil {
			return conversation.Message{}, err
		}
	}
	sender := conversation.SenderSystem
	if o.Msg.AgentID != nil {
		sender = conversation.SenderAgent
	}
	meta := map[string]any{"kind": o.Msg.Kind}
	for k, v := range o.Meta {
		meta[k] = v
	}
	m, _, err := f.Conversations.Append(ctx, o.Msg.TenantID, conversation.New{ContactID: o.Msg.ContactID, Channel: o.Channel,
		Direction: "outbound", Sender: sender, AgentID: o.Msg.AgentID, From: o.From, To: o.To, Body: o.Msg.Body, Meta: meta,
		Status: conversation.StatusQueued})
	if err != nil {
		return conversation.Message{}, fmt.Errorf("record %s message: %w", o.Channel, err)
	}
	ext, sendErr := deliver(ctx)
	// The provider has the message (or refused it) whatever our caller's
	// context does now: its outcome is recorded regardless.
	rec := context.WithoutCancel(ctx)
	if sendErr != nil {
		// The conversation shows the neutral reason; the provider's own
		// answer (in the error's chain) goes to the log only.
		f.Logger().Warn("delivery failed", "tenant", o.Msg.TenantID, "channel", o.Channel, "message", m.ID, "err", sendErr)
		m.Status, m.Error = conversation.StatusFailed, errorText(sendErr)
		if err := f.Conversations.SetStatus(rec, o.Msg.TenantID, m.ID, m.Status, m.Error, ""); err != nil {
			f.Logger().Error("record failed delivery", "tenant", o.Msg.TenantID, "message", m.ID, "err", err)
		}
		return m, fmt.Errorf("send %s: %w", o.Channel, sendErr)
	}
	m.Status = conversation.StatusSent
	if ext != "" {
		m.ExternalID = &ext
	}
	if err := f.Conversations.SetStatus(rec, o.Msg.TenantID, m.ID, m.Status, "", ext); err != nil {
		return m, fmt.Errorf("record %s delivery: %w", o.Channel, err)
	}
	return m, nil
}

// errorText is what the conversation shows of a failed delivery: a
// domain error's message, never an unclassified error's text.
func errorText(err error) string {
	if e, ok := cic.AsError(err); ok && e.Kind != cic.EINTERNAL {
		return e.Message
	}
	return "The message could not be delivered; the details are in the server log."
}

// Ends are a contact's customer address and ours, as its conversation
// used them.
type Ends struct {
	Contact contacts.Contact
	// Customer is the customer's address: the contact's customer ref.
	Customer string
	// Ours is the address the customer last wrote to, or that we last
	// wrote from; "" for none yet.
	Ours string
}

// EndsOf reads who a message on the contact goes to and from.
func (f *Flow) EndsOf(ctx context.Context, tenantID, contactID uuid.UUID, channel string) (Ends, error) {
	c, err := f.Contacts.GetByID(ctx, tenantID, contactID)
	if err != nil {
		return Ends{}, err
	}
	if c.Channel != channel {
		return Ends{}, cic.Codef(cic.EINVALID, "wrong_channel", "This contact is on %s, not %s.", c.Channel, channel)
	}
	e := Ends{Contact: c, Customer: c.CustomerRef}
	msgs, err := f.Conversations.List(ctx, tenantID, contactID)
	if err != nil {
		return Ends{}, err
	}
	for _, m := range slices.Backward(msgs) {
		switch {
		case m.Direction == "inbound" && m.To != "":
			e.Ours = m.To
		case m.Direction == "outbound" && m.From != "":
			e.Ours = m.From
		default:
			continue
		}
		break
	}
	return e, nil
}

// StartInput is an outbound contact as a channel starts it.
type StartInput struct {
	Out      channels.Outbound
	Channel  string
	Identity string // customer.Kind* of Out.To
	// OptOut is the customer's opt-out that refuses a campaign's
	// contact on this channel ("" for none).
	OptOut string
	// Send sends the first message on the contact the agent now holds.
	Send func(ctx context.Context, contactID uuid.UUID, to string) error
}

// Start opens an outbound contact towards Out.To, handled (and metered)
// by the agent who starts it, and sends its first message. The contact's
// id is returned even when that message could not be sent: it is
// recorded as failed on the contact, where the agent sees it.
func (f *Flow) Start(ctx context.Context, in StartInput) (uuid.UUID, error) {
	to, err := customer.Normalize(in.Identity, in.Out.To)
	if err != nil {
		return uuid.Nil, err
	}
	if strings.TrimSpace(in.Out.Body) == "" {
		return uuid.Nil, cic.Codef(cic.EINVALID, "empty_message", "Write the first message.")
	}
	customerID, err := f.Customers.Resolve(ctx, in.Out.TenantID, in.Identity, to, "")
	if err != nil {
		return uuid.Nil, err
	}
	if in.OptOut != "" && in.Out.Campaign != "" {
		cu, err := f.Customers.Get(ctx, in.Out.TenantID, customerID)
		if err != nil {
			return uuid.Nil, err
		}
		if slices.Contains(cu.OptOuts, in.OptOut) {
			return uuid.Nil, cic.Codef(cic.ECONFLICT, "customer_opted_out", "The customer does not want sales offers on %s.", in.Channel)
		}
	}
	p := tenant.Principal{Actor: tenant.Actor{TenantID: in.Out.TenantID, UserID: in.Out.AgentID, Role: cic.RoleAgent}}
	c, err := f.Contacts.OpenOutbound(ctx, p, contacts.OpenInput{QueueID: in.Out.QueueID, Channel: in.Channel,
		CustomerID: &customerID, CustomerRef: to, Subject: to, Campaign: in.Out.Campaign})
	if err != nil {
		return uuid.Nil, err
	}
	return c.ID, in.Send(ctx, c.ID, to)
}
