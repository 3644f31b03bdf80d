package contacts

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/tenant"
)

// Desk reads: what the agent desktop shows besides the contacts API.

// Mine returns the caller's open contacts (offered to them or theirs),
// oldest first, with their offers' expiry: the desk's contact list,
// whatever the caller's role.
func (s *Service) Mine(ctx context.Context, p tenant.Principal) ([]Contact, error) {
	if p.Role == cic.RoleFinance {
		return nil, cic.Codef(cic.EFORBIDDEN, "forbidden", "Finance has no desk.")
	}
	var out []Contact
	err := s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+contactColumnsSQL+` FROM contacts WHERE tenant_id = $1 AND agent_id = $2
			AND state IN `+openStatesSQL+` ORDER BY created_at, id LIMIT 200`, p.TenantID, p.UserID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Contact, error) { return scanContact(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("desk contacts: %w", err)
	}
	if out == nil {
		out = []Contact{}
	}
	s.withOfferExpiry(ctx, p.TenantID, out)
	return out, nil
}

// History returns the customer's earlier contacts (same customer_ref),
// newest first, to whoever may see the contact itself (Get's rule): the
// agent handling it sees the customer's history whoever handled it then.
func (s *Service) History(ctx context.Context, p tenant.Principal, contactID uuid.UUID, limit int) ([]Contact, error) {
	d, err := s.Get(ctx, p, contactID)
	if err != nil {
		return nil, err
	}
	out := []Contact{}
	if d.CustomerRef == "" && d.CustomerID == nil {
		return out, nil
	}
	limit = min(max(limit, 1), 50)
	// The customer's contacts on every channel when the contact has its
	// customer (channels/customer); else those with the same reference.
	err = s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+contactColumnsSQL+` FROM contacts WHERE tenant_id = $1
			AND (CASE WHEN $6::uuid IS NOT NULL THEN customer_id = $6 ELSE customer_ref = $2 END)
			AND id <> $3 AND created_at <= $4 ORDER BY created_at DESC, id DESC LIMIT $5`, p.TenantID, d.CustomerRef, d.ID, d.CreatedAt, limit, d.CustomerID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Contact, error) { return scanContact(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("customer history: %w", err)
	}
	return out, nil
}

// StatusOf is the agent's routing status ("offline" when the engine does
// not know them).
func (s *Service) StatusOf(ctx context.Context, tenantID, userID uuid.UUID) (string, error) {
	st, err := s.StatusDetail(ctx, tenantID, userID)
	return st.Status, err
}

// AgentStatus is an agent's routing status and why the engine set it:
// Reason "missed_offers" when it set the agent away after Misses missed
// offers in a row (until the agent changes status).
type AgentStatus struct {
	Status string
	Reason string
	Misses int
}

// StatusDetail is the agent's routing status with its reason.
func (s *Service) StatusDetail(ctx context.Context, tenantID, userID uuid.UUID) (AgentStatus, error) {
	snap, err := s.Engine.Snapshot(ctx, tenantID)
	if err != nil {
		return AgentStatus{}, err
	}
	id := userID.String()
	if i, ok := slices.BinarySearchFunc(snap.Agents, id, func(a routing.AgentState, id string) int {
		switch {
		case a.ID < id:
			return -1
		case a.ID > id:
			return 1
		}
		return 0
	}); ok {
		a := snap.Agents[i]
		st := AgentStatus{Status: string(a.Status), Reason: string(a.AwayReason)}
		if st.Reason != "" {
			st.Misses = a.Misses
		}
		return st, nil
	}
	return AgentStatus{Status: string(routing.Offline)}, nil
}

// Target is a queue or an agent a contact may be transferred to.
type Target struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// TransferTargets lists the tenant's queues and the other active users
// with a routing profile, by name, for the desk's transfer form (agents
// may not list queues and users otherwise).
func (s *Service) TransferTargets(ctx context.Context, p tenant.Principal) (queues, agents []Target, err error) {
	if p.Role == cic.RoleFinance {
		return nil, nil, cic.Codef(cic.EFORBIDDEN, "forbidden", "Finance has no desk.")
	}
	err = s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		collect := func(sql string, args ...any) ([]Target, error) {
			rows, err := tx.Query(ctx, sql, args...)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Target, error) {
				var t Target
				return t, r.Scan(&t.ID, &t.Name)
			})
		}
		if queues, err = collect(`SELECT id, name FROM queues WHERE tenant_id = $1 ORDER BY lower(name) LIMIT 1000`, p.TenantID); err != nil {
			return err
		}
		agents, err = collect(`SELECT u.id, u.name FROM users u WHERE u.tenant_id = $1 AND u.status = 'active' AND u.id <> $2
			AND EXISTS (SELECT 1 FROM agent_capacity a WHERE a.tenant_id = u.tenant_id AND a.user_id = u.id)
			ORDER BY lower(u.name), u.id LIMIT 1000`, p.TenantID, p.UserID)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("transfer targets: %w", err)
	}
	return queues, agents, nil
}

// OfCustomer returns a customer's contacts on every channel, newest first
// (the customer's timeline), to every role but finance.
func (s *Service) OfCustomer(ctx context.Context, p tenant.Principal, customerID uuid.UUID, limit int) ([]Contact, error) {
	if p.Role == cic.RoleFinance {
		return nil, cic.Codef(cic.EFORBIDDEN, "forbidden", "Finance does not see customers.")
	}
	limit = min(max(limit, 1), 200)
	out := []Contact{}
	err := s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+contactColumnsSQL+` FROM contacts WHERE tenant_id = $1 AND customer_id = $2
			ORDER BY created_at DESC, id DESC LIMIT $3`, p.TenantID, customerID, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Contact, error) { return scanContact(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("customer timeline: %w", err)
	}
	return out, nil
}
