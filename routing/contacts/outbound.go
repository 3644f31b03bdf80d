package contacts

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// OpenOutbound records a contact an agent starts towards a customer (an
// e-mail, an SMS, a call). The agent who starts it handles it, so it is
// accepted at once and metered like any handled contact, charged back to
// its queue and campaign; routing does not offer it to anyone. A tenant
// whose policy blocks and whose contacts ran out cannot start one.
func (s *Service) OpenOutbound(ctx context.Context, p tenant.Principal, in OpenInput) (Contact, error) {
	q, err := s.Setup.QueueByID(ctx, p.TenantID, in.QueueID)
	if err != nil {
		return Contact{}, err
	}
	serves := false
	for _, ch := range q.Channels {
		serves = serves || ch == in.Channel
	}
	if !serves {
		return Contact{}, cic.Codef(cic.EINVALID, "invalid_channel", "Queue %s does not take %s contacts.", q.Name, in.Channel)
	}
	ok, err := metering.Authorize(ctx, s.DB, p.TenantID, in.Channel)
	if err != nil {
		return Contact{}, err
	}
	if !ok {
		return Contact{}, cic.Codef(cic.EUNAVAILABLE, "no_contacts_left",
			"The company has no contacts left and its policy blocks new ones; an admin can buy a bundle.")
	}
	if len(in.Subject) > 500 {
		in.Subject = in.Subject[:500]
	}
	id := in.ID
	if id == uuid.Nil {
		id = uuid.New()
	}
	now := s.Now()
	err = s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO contacts (tenant_id, id, channel, direction, state, queue_id, agent_id,
			customer_ref, campaign, customer_id, subject, queued_at, first_offered_at, accepted_at)
			VALUES ($1, $2, $3, 'outbound', 'accepted', $4, $5, $6, $7, $8, $9, $10, $10, $10)`,
			p.TenantID, id, in.Channel, in.QueueID, p.UserID, in.CustomerRef, in.Campaign, in.CustomerID, in.Subject, now)
		if err != nil {
			return fmt.Errorf("insert outbound contact: %w", err)
		}
		return addEvent(ctx, tx, p.TenantID, id, "accepted", &p.UserID, &in.QueueID,
			map[string]any{"channel": in.Channel, "outbound": true, "first": true})
	})
	if err != nil {
		return Contact{}, err
	}
	s.notify(p.TenantID, "accepted", id, &p.UserID)
	if err := s.meter(ctx, p.TenantID, id); err != nil {
		// The contact is accepted; MeterPending meters it later.
		s.Logger.Error("meter outbound contact", "tenant", p.TenantID, "contact", id, "err", err)
	}
	return s.get(ctx, p.TenantID, id)
}

// AddEvent appends a channel's event (hold, resume, a call's hang-up...)
// to a contact's timeline.
func (s *Service) AddEvent(ctx context.Context, tenantID, contactID uuid.UUID, kind string, agent *uuid.UUID, details map[string]any) error {
	return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, contactID); err != nil {
			return err
		}
		return addEvent(ctx, tx, tenantID, contactID, kind, agent, nil, details)
	})
}

// GetByID returns a contact for a channel package, which holds no
// principal (a provider's webhook, the SMTP listener).
func (s *Service) GetByID(ctx context.Context, tenantID, id uuid.UUID) (Contact, error) {
	return s.get(ctx, tenantID, id)
}
