package contacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Filter narrows a contact list.
type Filter struct {
	// State is one state, or "open" for every state not yet ended.
	State   string
	QueueID *uuid.UUID
	// Before pages back: contacts created before this one (its id).
	Before *uuid.UUID
	Limit  int
}

var validStates = map[string]bool{"open": true, StateNew: true, StateQueued: true, StateOffered: true, StateAccepted: true,
	StateWrapUp: true, StateClosed: true, StateAbandoned: true, StateExpired: true, StateNoCredit: true}

// List returns contacts newest first. Agents see only the contacts
// offered or assigned to them; supervisors, admins and owners see all.
func (s *Service) List(ctx context.Context, p tenant.Principal, f Filter) ([]Contact, error) {
	if f.State != "" && !validStates[f.State] {
		return nil, cic.Codef(cic.EINVALID, "invalid_state", "Unknown state %q.", f.State)
	}
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	if p.Role == cic.RoleFinance {
		return nil, cic.Codef(cic.EFORBIDDEN, "forbidden", "Finance reads contacts through the reports.")
	}
	sql := `SELECT ` + contactColumnsSQL + ` FROM contacts WHERE tenant_id = $1`
	args := []any{p.TenantID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if p.Role == cic.RoleAgent {
		sql += ` AND agent_id = ` + arg(p.UserID)
	}
	switch f.State {
	case "":
	case "open":
		sql += ` AND state IN ` + openStatesSQL
	default:
		sql += ` AND state = ` + arg(f.State)
	}
	if f.QueueID != nil {
		sql += ` AND queue_id = ` + arg(*f.QueueID)
	}
	if f.Before != nil {
		sql += ` AND (created_at, id) < (SELECT created_at, id FROM contacts WHERE tenant_id = $1 AND id = ` + arg(*f.Before) + `)`
	}
	sql += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(f.Limit)
	var out []Contact
	err := s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Contact, error) { return scanContact(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	if out == nil {
		out = []Contact{}
	}
	s.withOfferExpiry(ctx, p.TenantID, out)
	return out, nil
}

// withOfferExpiry fills in when offered contacts' offers run out, from the
// engine (best effort: the list stands without it).
func (s *Service) withOfferExpiry(ctx context.Context, tenantID uuid.UUID, cs []Contact) {
	offered := false
	for _, c := range cs {
		offered = offered || c.State == StateOffered
	}
	if !offered {
		return
	}
	snap, err := s.Engine.Snapshot(ctx, tenantID)
	if err != nil {
		return
	}
	exp := map[string]time.Time{}
	for _, st := range snap.Contacts {
		if !st.ExpiresAt.IsZero() {
			exp[st.ID] = st.ExpiresAt
		}
	}
	for i := range cs {
		if t, ok := exp[cs[i].ID.String()]; ok && cs[i].State == StateOffered {
			cs[i].OfferExpiresAt = &t
		}
	}
}

// Detail is a contact with its timeline.
type Detail struct {
	Contact
	Events []Event `json:"events"`
}

// Get returns one contact and its timeline; agents only theirs.
func (s *Service) Get(ctx context.Context, p tenant.Principal, id uuid.UUID) (Detail, error) {
	var d Detail
	err := s.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		c, err := scanContact(tx.QueryRow(ctx, `SELECT `+contactColumnsSQL+` FROM contacts WHERE tenant_id = $1 AND id = $2`, p.TenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		if p.Role == cic.RoleAgent && (c.AgentID == nil || *c.AgentID != p.UserID) {
			return errNotFound
		}
		if p.Role == cic.RoleFinance {
			return errNotFound
		}
		d.Contact = c
		rows, err := tx.Query(ctx, `SELECT seq, at, kind, agent_id, queue_id, details FROM contact_events
			WHERE tenant_id = $1 AND contact_id = $2 ORDER BY seq`, p.TenantID, id)
		if err != nil {
			return err
		}
		d.Events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
			var e Event
			var raw []byte
			if err := r.Scan(&e.Seq, &e.At, &e.Kind, &e.AgentID, &e.QueueID, &raw); err != nil {
				return e, err
			}
			return e, json.Unmarshal(raw, &e.Details)
		})
		return err
	})
	if err != nil {
		return Detail{}, err
	}
	cs := []Contact{d.Contact}
	s.withOfferExpiry(ctx, p.TenantID, cs)
	d.Contact = cs[0]
	return d, nil
}
