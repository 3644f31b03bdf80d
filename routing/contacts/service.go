package contacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// Service opens contacts, drives the engine with what agents do, and
// records every change the engine reports.
type Service struct {
	DB     *tenant.DB
	Engine *routing.Engine
	Setup  *setup.Service
	Meter  *metering.Meter
	Logger *slog.Logger
	Now    func() time.Time
	// Notify, when set, hears every change recorded for a tenant (offers,
	// requeues, accepts...), for live pages to push.
	Notify func(tenantID uuid.UUID, kind string, contactID uuid.UUID, agentID *uuid.UUID)
	// OnClosed, when set, runs after a contact is closed (in the
	// background, with its own deadline): the satisfaction survey.
	OnClosed func(ctx context.Context, tenantID uuid.UUID, c Contact) error
	// Seated, when set, lists the agents holding a live seat, for a
	// rebuild that Resume starts (the ticker passes its own).
	Seated SeatHolders
	// Metrics, when set, counts rebuilds and reconciliations.
	Metrics *Metrics

	suspects suspects
}

// New wires a Service.
func New(db *tenant.DB, engine *routing.Engine, st *setup.Service, meter *metering.Meter, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{DB: db, Engine: engine, Setup: st, Meter: meter, Logger: log, Now: time.Now}
}

var errNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "Contact not found.")

// engineChannel maps the product's channel names to the engine's.
func engineChannel(ch string) routing.Channel {
	if ch == "voice" {
		return routing.Call
	}
	return routing.Channel(ch)
}

// EngineQueue is a queue's routing configuration as the engine takes it.
func EngineQueue(q setup.Queue) routing.Queue {
	out := routing.Queue{ID: q.ID.String(), Skills: map[string]int{}, Priority: q.Priority,
		Strategy: routing.Strategy(q.Strategy), OfferTimeout: time.Duration(q.OfferTimeout) * time.Second, MaxMisses: q.MaxMisses,
		ReofferAfter: time.Duration(q.ReofferAfter) * time.Second, PreferredFor: time.Duration(q.PreferredAgent) * time.Second}
	for _, st := range q.SkillSteps {
		out.Steps = append(out.Steps, routing.SkillStep{After: time.Duration(st.AfterSeconds) * time.Second, MinLevel: st.MinLevel})
	}
	for _, ch := range q.Channels {
		out.Channels = append(out.Channels, engineChannel(ch))
	}
	for _, r := range q.Skills {
		out.Skills[r.SkillID.String()] = r.MinLevel
	}
	if q.RelaxAfter != nil {
		out.RelaxAfter = time.Duration(*q.RelaxAfter) * time.Second
	}
	return out
}

// EngineAgent is a routing profile as the engine takes it.
func EngineAgent(p setup.Profile) routing.Agent {
	a := routing.Agent{ID: p.UserID.String(), Skills: map[string]int{}, Capacity: map[routing.Channel]int{}}
	for _, s := range p.Skills {
		a.Skills[s.SkillID.String()] = s.Level
	}
	for ch, n := range p.Capacity {
		a.Capacity[engineChannel(ch)] = n
	}
	return a
}

// OpenInput is a new inbound (or outbound) contact.
type OpenInput struct {
	QueueID     uuid.UUID
	Channel     string
	Direction   string // inbound (default) or outbound
	CustomerRef string
	Campaign    string
	Priority    int
	// ID, when set, names the contact: a channel derives it from the
	// provider's id of what arrived (a Message-ID, an SMS sid), so a
	// retried delivery finds the contact the first one opened instead of
	// opening a second.
	ID uuid.UUID
	// CustomerID links the contact to its customer (channels/customer).
	CustomerID *uuid.UUID
	// Subject is what lists show: a mail's subject, the caller's number.
	Subject string
	// AfterHours queues the contact even outside the queue's business
	// hours: a written message (SMS, social, fax) waits for the morning
	// rather than being lost; the channel still answers the closed
	// message. Live channels (chat, calls) leave it false.
	AfterHours bool

	// preferred is the agent who last handled the customer, when the
	// queue waits for them (Open looks it up).
	preferred string
}

// lastAgent is the agent who last accepted a contact of the customer
// ("" none), the preferred agent of their next contact.
func (s *Service) lastAgent(ctx context.Context, tenantID, customerID uuid.UUID) (string, error) {
	var agent *uuid.UUID
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT agent_id FROM contacts WHERE tenant_id = $1 AND customer_id = $2
			AND agent_id IS NOT NULL AND accepted_at IS NOT NULL ORDER BY accepted_at DESC, id DESC LIMIT 1`, tenantID, customerID).Scan(&agent)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil || agent == nil {
		return "", err
	}
	return agent.String(), nil
}

// ErrClosed is returned (wrapped with the queue's message) when the queue
// is outside its business hours.
var ErrClosed = errors.New("queue closed")

// Open records a new contact and hands it to the engine, which offers it
// at once when an agent is free. A tenant whose policy blocks and whose
// contacts ran out gets its contact recorded as rejected_no_credit and an
// EUNAVAILABLE error; a queue outside business hours, ECONFLICT
// queue_closed with the queue's closed message.
func (s *Service) Open(ctx context.Context, tenantID uuid.UUID, in OpenInput) (Contact, error) {
	if in.Direction == "" {
		in.Direction = "inbound"
	}
	if in.Direction != "inbound" && in.Direction != "outbound" {
		return Contact{}, cic.Codef(cic.EINVALID, "invalid_direction", "Direction is inbound or outbound.")
	}
	q, err := s.Setup.QueueByID(ctx, tenantID, in.QueueID)
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
	now := s.Now()
	if !in.AfterHours && !q.OpenAt(now) {
		msg := q.ClosedMsg
		if msg == "" {
			msg = "We are closed at the moment; please come back during our opening hours."
		}
		return Contact{}, fmt.Errorf("%w: %w", ErrClosed, cic.Codef(cic.ECONFLICT, "queue_closed", "%s", msg))
	}
	if q.PreferredAgent > 0 && in.CustomerID != nil {
		if in.preferred, err = s.lastAgent(ctx, tenantID, *in.CustomerID); err != nil {
			return Contact{}, fmt.Errorf("preferred agent: %w", err)
		}
	}
	if in.ID != uuid.Nil {
		if c, err := s.get(ctx, tenantID, in.ID); err == nil {
			return s.reopen(ctx, tenantID, c, in, now)
		}
	}
	ok, err := metering.Authorize(ctx, s.DB, tenantID, in.Channel)
	if err != nil {
		return Contact{}, err
	}
	state := StateQueued
	if !ok {
		state = StateNoCredit
	}
	id := in.ID
	if id == uuid.Nil {
		id = uuid.New()
	}
	if len(in.Subject) > 500 {
		in.Subject = in.Subject[:500]
	}
	var c Contact
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		c, err = scanContact(tx.QueryRow(ctx, `INSERT INTO contacts (tenant_id, id, channel, direction, state, queue_id,
			customer_ref, campaign, queued_at, customer_id, subject) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
			CASE WHEN $5 = 'queued' THEN now() END, $9, $10)
			RETURNING `+contactColumnsSQL, tenantID, id, in.Channel, in.Direction, state, in.QueueID, in.CustomerRef, in.Campaign,
			in.CustomerID, in.Subject))
		if err != nil {
			return fmt.Errorf("insert contact: %w", err)
		}
		// The priority and enqueue time the engine gets: for a rebuild,
		// and for the line's order (position.go).
		return addEvent(ctx, tx, tenantID, id, state, nil, &in.QueueID, map[string]any{"channel": in.Channel,
			"priority": in.Priority, "enqueued_at": now})
	})
	var pgErr *pgconn.PgError
	if in.ID != uuid.Nil && errors.As(err, &pgErr) && pgErr.Code == "23505" {
		// A concurrent Open of the same id inserted it first (two
		// messages of one conversation at once): answer as a retry does.
		if c, gerr := s.get(ctx, tenantID, in.ID); gerr == nil {
			return s.reopen(ctx, tenantID, c, in, now)
		}
	}
	if err != nil {
		return Contact{}, err
	}
	return s.enqueueOpened(ctx, tenantID, c, q.ID, origin{Priority: in.Priority, EnqueuedAt: now, Preferred: in.preferred}, ok, now)
}

// reopen answers a retried Open of a contact that exists: as the first
// call did, handing a queued contact to the engine again in case the
// first call stopped before it did (the engine refuses a second copy).
func (s *Service) reopen(ctx context.Context, tenantID uuid.UUID, c Contact, in OpenInput, now time.Time) (Contact, error) {
	switch c.State {
	case StateNoCredit:
		return c, cic.Codef(cic.EUNAVAILABLE, "service_unavailable", "The service is unavailable at the moment; please try again later.")
	case StateQueued:
		if c.QueueID == nil {
			return c, nil
		}
		// At its original place, should the engine have lost it.
		o := origin{Priority: in.Priority, EnqueuedAt: now}
		if ls, err := s.liveContacts(ctx, tenantID, []uuid.UUID{c.ID}); err == nil && len(ls) == 1 {
			o = ls[0].origin
		}
		return s.enqueueOpened(ctx, tenantID, c, *c.QueueID, o, true, now)
	}
	return c, nil
}

func (s *Service) enqueueOpened(ctx context.Context, tenantID uuid.UUID, c Contact, queueID uuid.UUID, o origin, ok bool, now time.Time) (Contact, error) {
	id := c.ID
	q := struct{ ID uuid.UUID }{queueID}
	if !ok {
		return c, cic.Codef(cic.EUNAVAILABLE, "service_unavailable", "The service is unavailable at the moment; please try again later.")
	}
	ch, err := s.onQueue(ctx, tenantID, q.ID, func() (routing.Changes, error) {
		return s.Engine.Enqueue(ctx, tenantID, routing.Contact{ID: id.String(), Queue: q.ID.String(),
			Channel: engineChannel(c.Channel), Priority: o.Priority, EnqueuedAt: o.EnqueuedAt, PreferredAgent: o.Preferred}, now)
	})
	if e, isErr := cic.AsError(err); isErr && e.Code == "contact_exists" {
		return s.get(ctx, tenantID, id)
	}
	if err != nil {
		s.keep(ctx, tenantID, ch)
		return c, err
	}
	if err := s.record(ctx, tenantID, ch); err != nil {
		return c, err
	}
	return s.get(ctx, tenantID, id)
}

// addEvent appends to a contact's timeline; the caller holds the
// contact's row (or created it in this transaction).
func addEvent(ctx context.Context, tx pgx.Tx, tenantID, contactID uuid.UUID, kind string, agent, queue *uuid.UUID, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	d, err := json.Marshal(details)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO contact_events (tenant_id, contact_id, seq, kind, agent_id, queue_id, details)
		VALUES ($1, $2, (SELECT coalesce(max(seq), 0) + 1 FROM contact_events WHERE tenant_id = $1 AND contact_id = $2), $3, $4, $5, $6)`,
		tenantID, contactID, kind, agent, queue, d)
	if err != nil {
		return fmt.Errorf("contact event: %w", err)
	}
	return nil
}

func parseID(s string) *uuid.UUID {
	id, err := uuid.Parse(s)
	if err != nil {
		return nil
	}
	return &id
}

// record writes what the engine changed: offers, requeues, transfers.
// Updates are conditional on the recorded agent, so that two operations
// recorded out of order never roll a contact back.
func (s *Service) record(ctx context.Context, tenantID uuid.UUID, ch routing.Changes) error {
	if len(ch.Events) == 0 {
		return nil
	}
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		for _, ev := range ch.Events {
			if ev.Kind == routing.SetAway {
				// The desk reads the status in the engine; the record keeps
				// it for a rebuild.
				if agent := parseID(ev.Agent); agent != nil {
					if err := recordedStatus(ctx, tx, tenantID, *agent, routing.Away); err != nil {
						return err
					}
				}
				continue
			}
			cid := parseID(ev.Contact)
			if cid == nil {
				continue
			}
			agent, queue := parseID(ev.Agent), parseID(ev.Queue)
			var tag interface{ RowsAffected() int64 }
			var err error
			switch ev.Kind {
			case routing.Offered:
				tag, err = tx.Exec(ctx, `UPDATE contacts SET state = 'offered', agent_id = $3,
					first_offered_at = coalesce(first_offered_at, now()) WHERE tenant_id = $1 AND id = $2 AND state IN ('queued', 'offered', 'accepted')`,
					tenantID, *cid, agent)
			case routing.Requeued:
				tag, err = tx.Exec(ctx, `UPDATE contacts SET state = 'queued', agent_id = NULL
					WHERE tenant_id = $1 AND id = $2 AND state = 'offered' AND agent_id IS NOT DISTINCT FROM $3`, tenantID, *cid, agent)
			case routing.Transferred:
				tag, err = tx.Exec(ctx, `UPDATE contacts SET state = 'queued', agent_id = NULL, queue_id = coalesce($3, queue_id)
					WHERE tenant_id = $1 AND id = $2 AND state IN ('queued', 'offered', 'accepted')`, tenantID, *cid, queue)
			default:
				continue
			}
			if err != nil {
				return fmt.Errorf("record %s: %w", ev.Kind, err)
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			details := map[string]any{}
			if ev.Kind == routing.Offered {
				details["expires_at"] = ev.ExpiresAt
			}
			if ev.Reason != "" {
				details["reason"] = string(ev.Reason)
			}
			if err := addEvent(ctx, tx, tenantID, *cid, string(ev.Kind), agent, queue, details); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record routing changes: %w", err)
	}
	if s.Notify != nil {
		for _, ev := range ch.Events {
			if cid := parseID(ev.Contact); cid != nil {
				s.Notify(tenantID, string(ev.Kind), *cid, parseID(ev.Agent))
			}
		}
	}
	return nil
}

func (s *Service) get(ctx context.Context, tenantID, id uuid.UUID) (Contact, error) {
	var c Contact
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		c, err = scanContact(tx.QueryRow(ctx, `SELECT `+contactColumnsSQL+` FROM contacts WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		return err
	})
	return c, err
}

// SetupChanged hands a changed queue or routing profile to the engine at
// once (setup.Service.OnChange), so routing follows an admin's change
// without waiting; offers that makes are recorded like any other. Open
// and SetStatus push them again anyway, for an engine that lost them.
func (s *Service) SetupChanged(ctx context.Context, ev setup.ChangeEvent) error {
	id, err := uuid.Parse(ev.ID)
	if err != nil {
		return nil
	}
	var ch routing.Changes
	switch ev.Kind {
	case "queue":
		q, err := s.Setup.QueueByID(ctx, ev.TenantID, id)
		if err != nil {
			return nil // deleted: nothing routes to it any more
		}
		if ch, err = s.Engine.ConfigureQueue(ctx, ev.TenantID, EngineQueue(q), s.Now()); err != nil {
			s.keep(ctx, ev.TenantID, ch)
			return err
		}
	case "profile":
		p, err := s.Setup.ProfileOf(ctx, ev.TenantID, id)
		if err != nil {
			return err
		}
		if ch, err = s.Engine.ConfigureAgent(ctx, ev.TenantID, EngineAgent(p), s.Now()); err != nil {
			s.keep(ctx, ev.TenantID, ch)
			return err
		}
	default:
		return nil
	}
	return s.record(ctx, ev.TenantID, ch)
}

// keep records the changes a refused engine call still made (the expiry
// of timed-out offers runs first in every script), so the refusal loses
// nothing; the refusal itself is the caller's to return.
func (s *Service) keep(ctx context.Context, tenantID uuid.UUID, ch routing.Changes) {
	if err := s.record(ctx, tenantID, ch); err != nil {
		s.Logger.Error("record routing changes of a refused call", "tenant", tenantID, "err", err)
	}
}

// onQueue runs an engine operation on a queue; when the engine does not
// know the queue (Redis lost it, or it was made before the engine ran),
// it hands the engine the queue's configuration and runs the operation
// once more. Changes reach the engine through SetupChanged, so the hot
// path sends a queue's configuration only when it is missing.
func (s *Service) onQueue(ctx context.Context, tenantID, queueID uuid.UUID, op func() (routing.Changes, error)) (routing.Changes, error) {
	ch, err := op()
	if e, ok := cic.AsError(err); !ok || e.Code != "unknown_queue" {
		return ch, err
	}
	s.keep(ctx, tenantID, ch)
	q, err := s.Setup.QueueByID(ctx, tenantID, queueID)
	if err != nil {
		return routing.Changes{}, err
	}
	cfg, err := s.Engine.ConfigureQueue(ctx, tenantID, EngineQueue(q), s.Now())
	s.keep(ctx, tenantID, cfg)
	if err != nil {
		return routing.Changes{}, err
	}
	return op()
}
