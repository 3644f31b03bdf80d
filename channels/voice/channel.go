package voice

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/infra/outbound"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

// Channel is the call channel as routing and the desk consume it.
type Channel struct {
	S *Service
}

var _ channels.Channel = Channel{}

// Name is "voice".
func (Channel) Name() string { return Name }

// Send takes the caller of a closed call to the satisfaction survey when
// they are still on the line; a call that is over is not surveyed (and
// that is not an error). Replies and notices have no place on a call.
func (ch Channel) Send(ctx context.Context, msg channels.Message) error {
	if msg.Kind != channels.KindSurvey {
		return cic.Codef(cic.EINVALID, "calls_are_live", "Calls are answered live, not with messages.")
	}
	s := ch.S
	call, err := s.CallOf(ctx, msg.TenantID, msg.ContactID)
	if err != nil {
		if cic.ErrorKind(err) == cic.ECONFLICT {
			return nil
		}
		return err
	}
	if !call.Live() {
		return nil
	}
	cl, _, err := s.client(ctx, msg.TenantID)
	if err != nil {
		return err
	}
	if err := s.updateCall(ctx, msg.TenantID, call.SID, `survey = 'asked', held = false`); err != nil {
		return err
	}
	if _, err := cl.RedirectCall(ctx, call.SID, s.url(msg.TenantID, StepSurvey, q("contact", msg.ContactID.String()))); err != nil {
		return fmt.Errorf("survey call: %w", err)
	}
	if s.Conversations != nil {
		_, _, err = s.Conversations.Append(ctx, msg.TenantID, conversation.New{ContactID: msg.ContactID, Channel: Name,
			Direction: "outbound", Sender: conversation.SenderSystem, From: call.To, To: call.From, Body: msg.Body,
			ExternalID: "survey:" + call.SID, Status: conversation.StatusSent})
	}
	return err
}

// Start places an outbound call from the tenant's number to a customer:
// the contact is the agent's at once (and metered); when the customer
// answers, the provider asks /outbound, which puts them through to the
// agent's softphone.
func (ch Channel) Start(ctx context.Context, out channels.Outbound) (uuid.UUID, error) {
	s := ch.S
	to, err := customer.NormalizePhone(out.To)
	if err != nil {
		return uuid.Nil, err
	}
	cl, prov, err := s.client(ctx, out.TenantID)
	if err != nil {
		return uuid.Nil, err
	}
	from := prov.From
	if a, err := s.Directory.FirstAddress(ctx, out.TenantID, Name); err == nil {
		from = a.Address
	} else if cic.ErrorKind(err) != cic.ECONFLICT {
		return uuid.Nil, err
	}
	if from == "" {
		return uuid.Nil, cic.Codef(cic.ECONFLICT, "no_address", "Set up a phone number for calls (or the provider's From) first.")
	}
	var custID uuid.UUID
	err = s.DB.Tx(ctx, out.TenantID, func(tx pgx.Tx) error {
		var err error
		custID, err = customer.ResolveTx(ctx, tx, out.TenantID, customer.KindPhone, to, "")
		return err
	})
	if err != nil {
		return uuid.Nil, err
	}
	p := tenant.Principal{Actor: tenant.Actor{TenantID: out.TenantID, UserID: out.AgentID, Role: cic.RoleAgent}}
	c, err := s.Contacts.OpenOutbound(ctx, p, contacts.OpenInput{QueueID: out.QueueID, Channel: Name, CustomerID: &custID,
		Subject: to, CustomerRef: to, Campaign: out.Campaign})
	if err != nil {
		return uuid.Nil, err
	}
	res, err := cl.CreateCall(ctx, from, to, s.url(out.TenantID, StepOutbound, q("contact", c.ID.String())), s.url(out.TenantID, StepStatus, nil))
	if err != nil {
		// The timeline shows the neutral reason; the provider's own answer
		// goes to the log only.
		s.Logger.Warn("outbound call failed", "tenant", out.TenantID, "contact", c.ID, "err", err)
		if eerr := s.Contacts.AddEvent(ctx, out.TenantID, c.ID, "call_failed", &out.AgentID, map[string]any{"error": outbound.Shown(err)}); eerr != nil {
			s.Logger.Error("note failed call", "tenant", out.TenantID, "contact", c.ID, "err", eerr)
		}
		return c.ID, fmt.Errorf("place call: %w", err)
	}
	if !validSID(res.SID) {
		return c.ID, cic.Codef(cic.EUNAVAILABLE, "provider_refused", "The provider's call id is not usable.")
	}
	status := res.Status
	if status == "" || len(status) > 40 {
		status = "queued"
	}
	err = s.DB.Tx(ctx, out.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO voice_calls (tenant_id, call_sid, contact_id, queue_id, from_addr, to_addr, direction, status)
			VALUES ($1, $2, $3, $4, $5, $6, 'outbound', $7) ON CONFLICT DO NOTHING`, out.TenantID, res.SID, c.ID, out.QueueID, from, to, status)
		return err
	})
	if err != nil {
		return c.ID, fmt.Errorf("record outbound call: %w", err)
	}
	if err := s.Contacts.AddEvent(ctx, out.TenantID, c.ID, "dialing", &out.AgentID, map[string]any{"call_sid": res.SID, "to": to}); err != nil {
		return c.ID, err
	}
	return c.ID, nil
}
