package contacts

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// ResolveAutomated records a contact that automation handled to the end
// (a call resolved inside the IVR, when the admin marked that leaf as
// metered): it is stored already closed, accepted by no agent, and metered
// like a handled contact. It is idempotent by in.ID, which is required: a
// replayed provider event finds the contact the first one recorded and
// meters nothing twice (metering is idempotent by contact id; accepted_at
// is set in the same transaction as the row, so MeterPending catches a
// crash before metering).
func (s *Service) ResolveAutomated(ctx context.Context, tenantID uuid.UUID, in OpenInput, details map[string]any) (Contact, error) {
	if in.ID == uuid.Nil {
		return Contact{}, cic.Codef(cic.EINVALID, "missing_id", "An automated contact needs the id of what opened it.")
	}
	if in.Direction == "" {
		in.Direction = "inbound"
	}
	if in.Direction != "inbound" && in.Direction != "outbound" {
		return Contact{}, cic.Codef(cic.EINVALID, "invalid_direction", "Direction is inbound or outbound.")
	}
	if len(in.Subject) > 500 {
		in.Subject = in.Subject[:500]
	}
	var queue *uuid.UUID
	if in.QueueID != uuid.Nil {
		queue = &in.QueueID
	}
	if details == nil {
		details = map[string]any{}
	}
	now := s.Now()
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO contacts (tenant_id, id, channel, direction, state, queue_id, customer_ref, campaign,
			customer_id, subject, queued_at, accepted_at, closed_at)
			VALUES ($1, $2, $3, $4, 'closed', $5, $6, $7, $8, $9, $10, $10, $10) ON CONFLICT (tenant_id, id) DO NOTHING`,
			tenantID, in.ID, in.Channel, in.Direction, queue, in.CustomerRef, in.Campaign, in.CustomerID, in.Subject, now)
		if err != nil {
			return fmt.Errorf("insert automated contact: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // recorded by an earlier delivery
		}
		d := map[string]any{"channel": in.Channel}
		for k, v := range details {
			d[k] = v
		}
		if err := addEvent(ctx, tx, tenantID, in.ID, "automated", nil, queue, d); err != nil {
			return err
		}
		return addEvent(ctx, tx, tenantID, in.ID, "closed", nil, nil, map[string]any{"by": "automation"})
	})
	if err != nil {
		return Contact{}, err
	}
	c, err := s.get(ctx, tenantID, in.ID)
	if err != nil {
		return Contact{}, err
	}
	if c.AcceptedAt == nil {
		// The id belongs to a contact an agent was to handle (a queue leaf
		// of the same call): it is metered when accepted, not here.
		return c, nil
	}
	if c.MeteredAt == nil {
		if err := s.meter(ctx, tenantID, in.ID); err != nil {
			// Recorded and accepted: MeterPending meters it later.
			s.Logger.Error("meter automated contact", "tenant", tenantID, "contact", in.ID, "err", err)
		} else {
			s.notify(tenantID, "closed", in.ID, nil)
		}
		return s.get(ctx, tenantID, in.ID)
	}
	return c, nil
}
