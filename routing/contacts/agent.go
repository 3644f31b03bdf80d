package contacts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/tenant"
)

// Statuses an agent may set from the desktop.
var agentStatuses = map[string]routing.Status{
	"available": routing.Available, "away": routing.Away, "offline": routing.Offline, "busy": routing.Busy,
}

// SetStatus changes the caller's routing status. Available needs a live
// seat lease, which the edge checks before calling (seatChecked); their
// routing profile is loaded into the engine first, as Redis may have lost
// it.
func (s *Service) SetStatus(ctx context.Context, p tenant.Principal, status string, seatChecked bool) error {
	st, ok := agentStatuses[status]
	if !ok {
		return cic.Codef(cic.EINVALID, "invalid_status", "Status is available, away, busy or offline.")
	}
	if st == routing.Available && !seatChecked {
		return cic.Codef(cic.EFORBIDDEN, "seat_required", "Take a seat before becoming available.")
	}
	now := s.Now()
	if st == routing.Available {
		prof, err := s.Setup.ProfileOf(ctx, p.TenantID, p.UserID)
		if err != nil {
			return err
		}
		if len(prof.Capacity) == 0 {
			return cic.Codef(cic.ECONFLICT, "no_routing_profile", "Ask an admin to give you a routing profile (capacity per channel) first.")
		}
		ch, err := s.Engine.ConfigureAgent(ctx, p.TenantID, EngineAgent(prof), now)
		if err != nil {
			s.keep(ctx, p.TenantID, ch)
			return err
		}
		if err := s.record(ctx, p.TenantID, ch); err != nil {
			return err
		}
	}
	// Recorded first: a rebuild never brings back a status the agent left.
	if err := s.saveStatus(ctx, p.TenantID, p.UserID, st); err != nil {
		return err
	}
	ch, err := s.Engine.SetStatus(ctx, p.TenantID, p.UserID.String(), st, now)
	if err != nil {
		s.keep(ctx, p.TenantID, ch)
		return err
	}
	return s.record(ctx, p.TenantID, ch)
}

// GoOffline takes an agent out of routing, e.g. when their seat lease is
// gone; what was only offered to them is offered to others.
func (s *Service) GoOffline(ctx context.Context, tenantID, userID uuid.UUID) error {
	if err := s.saveStatus(ctx, tenantID, userID, routing.Offline); err != nil {
		return err
	}
	ch, err := s.Engine.SetStatus(ctx, tenantID, userID.String(), routing.Offline, s.Now())
	if err != nil {
		s.keep(ctx, tenantID, ch)
		return err
	}
	return s.record(ctx, tenantID, ch)
}

// lockHeld loads the contact for update and checks the caller may act on
// it: the agent it is offered or assigned to, or (when supervisors is
// true) a supervisor, admin or owner.
func lockHeld(ctx context.Context, tx pgx.Tx, p tenant.Principal, id uuid.UUID, supervisors bool) (Contact, error) {
	c, err := scanContact(tx.QueryRow(ctx, `SELECT `+contactColumnsSQL+` FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, p.TenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Contact{}, errNotFound
	}
	if err != nil {
		return Contact{}, fmt.Errorf("load contact: %w", err)
	}
	mine := c.AgentID != nil && *c.AgentID == p.UserID
	if !mine && !(supervisors && p.Role.In(cic.RoleSupervisor, cic.RoleAdmin, cic.RoleOwner)) {
		if p.Role == cic.RoleAgent {
			return Contact{}, errNotFound // an agent learns nothing of others' contacts
		}
		return Contact{}, cic.Codef(cic.EFORBIDDEN, "not_your_contact", "This contact is not offered or assigned to you.")
	}
	return c, nil
}

// Accept takes an offered contact. The first accept of a contact meters
// it (exactly once: metering is idempotent by contact id, and a crash
// between accept and metering is caught up by MeterPending).
func (s *Service) Accept(ctx context.Context, p tenant.Principal, id uuid.UUID) (Contact, error) {
	now := s.Now()
	first, ch, err := s.Engine.Accept(ctx, p.TenantID, id.String(), p.UserID.String(), now)
	if err != nil {
		if rerr := s.record(ctx, p.TenantID, ch); rerr != nil {
			s.Logger.Error("record after failed accept", "err", rerr)
		}
		return Contact{}, err
	}
	if err := s.record(ctx, p.TenantID, ch); err != nil {
		return Contact{}, err
	}
	err = s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, p.TenantID, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'accepted', agent_id = $3, accepted_at = coalesce(accepted_at, $4)
			WHERE tenant_id = $1 AND id = $2`, p.TenantID, id, p.UserID, now); err != nil {
			return fmt.Errorf("accept contact: %w", err)
		}
		return addEvent(ctx, tx, p.TenantID, id, "accepted", &p.UserID, nil, map[string]any{"first": first})
	})
	if err != nil {
		return Contact{}, err
	}
	s.notify(p.TenantID, "accepted", id, &p.UserID)
	if first {
		if err := s.meter(ctx, p.TenantID, id); err != nil {
			// The contact is accepted; MeterPending meters it later.
			s.Logger.Error("meter accepted contact", "tenant", p.TenantID, "contact", id, "err", err)
		}
	}
	return s.get(ctx, p.TenantID, id)
}

func (s *Service) notify(tenantID uuid.UUID, kind string, id uuid.UUID, agent *uuid.UUID) {
	if s.Notify != nil {
		s.Notify(tenantID, kind, id, agent)
	}
}

// meter meters one accepted contact with its chargeback dimensions and
// marks it metered.
func (s *Service) meter(ctx context.Context, tenantID, id uuid.UUID) error {
	var hc metering.HandledContact
	var accepted time.Time
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT c.channel, c.direction, c.accepted_at, coalesce(q.name, ''), coalesce(d.name, ''),
				c.campaign, coalesce(u.email, ''), coalesce(q.cost_centre, '')
			FROM contacts c
			LEFT JOIN queues q ON q.tenant_id = c.tenant_id AND q.id = c.queue_id
			LEFT JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.agent_id
			LEFT JOIN departments d ON d.tenant_id = u.tenant_id AND d.id = u.department_id
			WHERE c.tenant_id = $1 AND c.id = $2 AND c.accepted_at IS NOT NULL`, tenantID, id).
			Scan(&hc.Channel, &hc.Direction, &accepted, &hc.Queue, &hc.Department, &hc.Campaign, &hc.Agent, &hc.QueueCostCentre)
	})
	if err != nil {
		return fmt.Errorf("contact to meter: %w", err)
	}
	hc.ID, hc.HandledAt = id.String(), accepted
	res, err := s.Meter.Meter(ctx, tenantID, metering.SourceRouting, []metering.HandledContact{hc})
	if err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("meter contact: %s: %s", res.Errors[0].Code, res.Errors[0].Message)
	}
	return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE contacts SET metered_at = coalesce(metered_at, now()) WHERE tenant_id = $1 AND id = $2`, tenantID, id)
		return err
	})
}

// MeterPending meters the tenant's accepted contacts that a crash left
// unmetered (older than a minute, so as not to race Accept itself).
func (s *Service) MeterPending(ctx context.Context, tenantID uuid.UUID) (int, error) {
	var ids []uuid.UUID
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM contacts WHERE tenant_id = $1 AND accepted_at IS NOT NULL
			AND metered_at IS NULL AND accepted_at < now() - interval '1 minute' LIMIT 1000`, tenantID)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pending metering: %w", err)
	}
	for i, id := range ids {
		if err := s.meter(ctx, tenantID, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// Reject declines an offer; the engine offers the contact to the next agent.
func (s *Service) Reject(ctx context.Context, p tenant.Principal, id uuid.UUID) error {
	ch, err := s.Engine.Reject(ctx, p.TenantID, id.String(), p.UserID.String(), s.Now())
	if rerr := s.record(ctx, p.TenantID, ch); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// TransferTo is where a contact goes: a queue or an agent.
type TransferTo struct {
	QueueID *uuid.UUID `json:"queue_id"`
	AgentID *uuid.UUID `json:"agent_id"`
}

// Transfer moves a contact to another queue or agent; it stays the same
// contact (metered once).
func (s *Service) Transfer(ctx context.Context, p tenant.Principal, id uuid.UUID, to TransferTo) error {
	if (to.QueueID == nil) == (to.AgentID == nil) {
		return cic.Codef(cic.EINVALID, "invalid_target", "Transfer to a queue_id or to an agent_id.")
	}
	target := routing.Target{}
	err := s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		if _, err := lockHeld(ctx, tx, p, id, true); err != nil {
			return err
		}
		if to.QueueID != nil {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM queues WHERE tenant_id = $1 AND id = $2`, p.TenantID, *to.QueueID).Scan(&n); err != nil || n == 0 {
				return cic.Codef(cic.EINVALID, "invalid_target", "No such queue.")
			}
			target.Queue = to.QueueID.String()
		} else {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1 AND id = $2 AND status = 'active'`, p.TenantID, *to.AgentID).Scan(&n); err != nil || n == 0 {
				return cic.Codef(cic.EINVALID, "invalid_target", "No such agent.")
			}
			target.Agent = to.AgentID.String()
		}
		return nil
	})
	if err != nil {
		return err
	}
	transfer := func() (routing.Changes, error) {
		return s.Engine.Transfer(ctx, p.TenantID, id.String(), target, s.Now())
	}
	var ch routing.Changes
	if to.QueueID != nil {
		ch, err = s.onQueue(ctx, p.TenantID, *to.QueueID, transfer)
	} else {
		ch, err = transfer()
	}
	if err != nil {
		s.keep(ctx, p.TenantID, ch)
		return err
	}
	return s.record(ctx, p.TenantID, ch)
}

// WrapUp ends the conversation with a disposition code: the agent's
// capacity is freed for the next contact.
func (s *Service) WrapUp(ctx context.Context, p tenant.Principal, id uuid.UUID, disposition string) error {
	var c Contact
	err := s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var err error
		if c, err = lockHeld(ctx, tx, p, id, false); err != nil {
			return err
		}
		if c.State != StateAccepted {
			return cic.Codef(cic.ECONFLICT, "invalid_state", "Only an accepted contact can be wrapped up (it is %s).", c.State)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM dispositions WHERE tenant_id = $1 AND code = $2`, p.TenantID, disposition).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return cic.Codef(cic.EINVALID, "invalid_disposition", "Pick one of the company's disposition codes.")
		}
		if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'wrap_up', wrap_up_at = now(), disposition = $3 WHERE tenant_id = $1 AND id = $2`,
			p.TenantID, id, disposition); err != nil {
			return err
		}
		return addEvent(ctx, tx, p.TenantID, id, "wrap_up", &p.UserID, nil, map[string]any{"disposition": disposition})
	})
	if err != nil {
		return err
	}
	ch, err := s.finish(ctx, p.TenantID, id, p.UserID)
	if err != nil {
		s.keep(ctx, p.TenantID, ch)
		return err
	}
	s.notify(p.TenantID, "wrap_up", id, &p.UserID)
	return s.record(ctx, p.TenantID, ch)
}

// Close ends a contact for good. An accepted contact closed without
// wrap-up frees the agent too.
func (s *Service) Close(ctx context.Context, p tenant.Principal, id uuid.UUID) error {
	var c Contact
	err := s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var err error
		if c, err = lockHeld(ctx, tx, p, id, true); err != nil {
			return err
		}
		if c.State != StateAccepted && c.State != StateWrapUp {
			return cic.Codef(cic.ECONFLICT, "invalid_state", "Only an accepted or wrapped-up contact can be closed (it is %s).", c.State)
		}
		if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'closed', closed_at = now() WHERE tenant_id = $1 AND id = $2`, p.TenantID, id); err != nil {
			return err
		}
		return addEvent(ctx, tx, p.TenantID, id, "closed", &p.UserID, nil, nil)
	})
	if err != nil {
		return err
	}
	s.notify(p.TenantID, "closed", id, c.AgentID)
	s.closed(p.TenantID, c)
	if c.State == StateAccepted && c.AgentID != nil {
		ch, err := s.finish(ctx, p.TenantID, id, *c.AgentID)
		if err != nil {
			s.keep(ctx, p.TenantID, ch)
			return err
		}
		return s.record(ctx, p.TenantID, ch)
	}
	return nil
}

// finish tells the engine the agent is done with a contact. A contact the
// engine never held (an outbound contact the agent started) or no longer
// holds (Redis lost it) has nothing to free there.
func (s *Service) finish(ctx context.Context, tenantID, id, agentID uuid.UUID) (routing.Changes, error) {
	ch, err := s.Engine.Finish(ctx, tenantID, id.String(), agentID.String(), s.Now())
	if e, ok := cic.AsError(err); ok && e.Code == "unknown_contact" {
		return ch, nil
	}
	return ch, err
}

// closed hands a closed contact to OnClosed (the satisfaction survey),
// off the request: a slow mail relay must not hold up the agent.
func (s *Service) closed(tenantID uuid.UUID, c Contact) {
	if s.OnClosed == nil {
		return
	}
	c.State = StateClosed
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.OnClosed(ctx, tenantID, c); err != nil {
			s.Logger.Warn("after close", "tenant", tenantID, "contact", c.ID, "err", err)
		}
	}()
}

// Abandon records that the customer left before an agent accepted; such a
// contact is not metered. A customer leaving an accepted conversation is
// only noted.
func (s *Service) Abandon(ctx context.Context, tenantID, id uuid.UUID) error {
	c, err := s.get(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if c.State != StateQueued && c.State != StateOffered && c.State != StateNew {
		return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
			return addEvent(ctx, tx, tenantID, id, "customer_left", nil, nil, nil)
		})
	}
	was, ch, err := s.Engine.Abandon(ctx, tenantID, id.String(), s.Now())
	if e, ok := cic.AsError(err); ok && e.Code == "unknown_contact" {
		// Redis lost it: the record still ends it, or a rebuild would
		// route a customer who left.
		was, err = routing.WasWaiting, nil
	}
	if err != nil {
		s.keep(ctx, tenantID, ch)
		return err
	}
	if err := s.record(ctx, tenantID, ch); err != nil {
		return err
	}
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE contacts SET state = 'abandoned', closed_at = now(), agent_id = NULL
			WHERE tenant_id = $1 AND id = $2 AND state IN ('new', 'queued', 'offered')`, tenantID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // accepted meanwhile: it stays accepted (and metered)
		}
		return addEvent(ctx, tx, tenantID, id, "abandoned", nil, nil, map[string]any{"was": string(was)})
	})
	if err != nil {
		return err
	}
	s.notify(tenantID, "abandoned", id, nil)
	return nil
}

// Tick expires the tenant's timed-out offers (and relaxes requirements)
// and records what that changed.
func (s *Service) Tick(ctx context.Context, tenantID uuid.UUID) error {
	ch, err := s.Engine.Tick(ctx, tenantID, s.Now())
	if err != nil {
		s.keep(ctx, tenantID, ch)
		return err
	}
	return s.record(ctx, tenantID, ch)
}
