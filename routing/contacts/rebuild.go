package contacts

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/tenant"
)

// PostgreSQL is the record; Redis is a cache of the routing state. When
// Redis comes back empty (FLUSHALL, a restart without persistence, a
// failover to a replica that missed writes) or loses one contact, the
// engine is rebuilt from the record:
//
//   - queues, from their configuration;
//   - agents with a live seat, with the status they last had
//     (agent_routing_status: what they chose, or away after missed offers,
//     offline when their seat went), and the contacts they had accepted,
//     restored as assigned so that their load is right;
//   - queued and offered contacts, enqueued again with their original
//     enqueue time and priority (kept on their "queued" event): an
//     offered contact's reservation is lost with Redis, so it goes back to
//     waiting at its original place (a "requeue" with reason "rebuilt" on
//     its timeline) and is offered again at once if an agent is free.
//
// Waiting contacts go in before any agent is made available again, so
// the best of them (the engine's order: ageing priority, then enqueue
// time) are offered first.
//
// The ticker checks every tenant's rebuild marker on every tick (one
// EXISTS): its absence means Redis lost the tenant's state, and the
// rebuild runs at once. On every sweep, Reconcile compares the record's
// queued, offered and accepted contacts with the engine's live ones and
// puts back what is missing. A contact missing once may be between two
// steps of an operation that leaves the engine first (an abandon: the
// engine drops the contact, then the record says abandoned), so outside
// a rebuild a contact is put back only when it is still missing, and the
// record still has it live, ReconcileGrace after it was first seen
// missing.

// ReconcileGrace is how long a contact must stay missing from the engine,
// outside a rebuild, before reconciliation puts it back.
const ReconcileGrace = 2 * time.Second

// ReasonRebuilt is the requeue reason of an offered contact whose
// reservation Redis lost.
const ReasonRebuilt routing.Reason = "rebuilt"

// Metrics counts rebuilds and what they (or reconciliation) put back.
type Metrics struct {
	Rebuilds   prometheus.Counter
	Contacts   *prometheus.CounterVec
	Agents     prometheus.Counter
	Reconciles prometheus.Counter
}

// NewMetrics registers the routing rebuild metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Rebuilds: prometheus.NewCounter(prometheus.CounterOpts{Name: "cic_routing_rebuilds_total",
			Help: "Tenants whose routing state was rebuilt from PostgreSQL after Redis lost it (rebuild marker missing)."}),
		Contacts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cic_routing_reconciled_contacts_total",
			Help: "Contacts put back into routing from PostgreSQL, by their recorded state and by rebuild or reconciliation."},
			[]string{"state", "by"}),
		Agents: prometheus.NewCounter(prometheus.CounterOpts{Name: "cic_routing_reconciled_agents_total",
			Help: "Agents put back into routing from PostgreSQL with their recorded status."}),
		Reconciles: prometheus.NewCounter(prometheus.CounterOpts{Name: "cic_routing_reconciliations_total",
			Help: "Reconciliation passes (one per tenant and sweep)."}),
	}
	reg.MustRegister(m.Rebuilds, m.Contacts, m.Agents, m.Reconciles)
	return m
}

// Reconciled is what one pass put back.
type Reconciled struct {
	// Rebuilt: the marker was missing, so everything missing was put back
	// at once.
	Rebuilt bool
	Queues  int
	Agents  int
	// Contacts put back, by recorded state (queued, offered, accepted).
	Contacts map[string]int
	// Suspects are contacts seen missing for the first time, put back on
	// a later pass if still missing.
	Suspects int
}

func (r Reconciled) total() int {
	n := 0
	for _, v := range r.Contacts {
		n += v
	}
	return n
}

// suspects remembers, per tenant, contacts found missing from the engine
// and when they were first seen so.
type suspects struct {
	mu   sync.Mutex
	seen map[uuid.UUID]map[uuid.UUID]time.Time
}

// recordedStatus writes the agent's routing status to the record, within
// tx.
func recordedStatus(ctx context.Context, tx pgx.Tx, tenantID, userID uuid.UUID, st routing.Status) error {
	// Only for a user of the tenant (an engine id may name one deleted since).
	_, err := tx.Exec(ctx, `INSERT INTO agent_routing_status (tenant_id, user_id, status)
		SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2)
		ON CONFLICT (tenant_id, user_id) DO UPDATE SET status = excluded.status, changed_at = now()`, tenantID, userID, string(st))
	if err != nil {
		return fmt.Errorf("record agent status: %w", err)
	}
	return nil
}

// saveStatus records the agent's status before the engine is told, so
// that a rebuild never brings back a status the agent left.
func (s *Service) saveStatus(ctx context.Context, tenantID, userID uuid.UUID, st routing.Status) error {
	return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		return recordedStatus(ctx, tx, tenantID, userID, st)
	})
}

// origin is how a contact was first queued, from its "queued" event: the
// priority and enqueue time the engine had (older events lack them: the
// record's queued_at and priority 0).
type origin struct {
	Priority   int       `json:"priority"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	// Preferred is the agent the contact waits for first ("" none).
	Preferred string `json:"-"`
}

// lost is a contact of the record the engine does not hold.
type lost struct {
	id      uuid.UUID
	channel string
	state   string
	queue   uuid.UUID
	agent   *uuid.UUID
	origin
}

// liveContacts lists the record's contacts the engine should hold: queued
// and offered ones, and accepted ones that went through routing (an
// outbound contact an agent started was never the engine's).
func (s *Service) liveContacts(ctx context.Context, tenantID uuid.UUID, only []uuid.UUID) ([]lost, error) {
	var out []lost
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.id, c.channel, c.state, c.queue_id, c.agent_id, coalesce(c.queued_at, c.created_at),
				(SELECT e.details FROM contact_events e WHERE e.tenant_id = c.tenant_id AND e.contact_id = c.id
					AND e.kind = 'queued' ORDER BY e.seq LIMIT 1)
			FROM contacts c
			WHERE c.tenant_id = $1 AND c.state IN ('queued', 'offered', 'accepted') AND c.queue_id IS NOT NULL
				AND ($2::uuid[] IS NULL OR c.id = ANY($2))
				AND (c.state <> 'accepted' OR (c.agent_id IS NOT NULL AND EXISTS (SELECT 1 FROM contact_events e
					WHERE e.tenant_id = c.tenant_id AND e.contact_id = c.id AND e.kind = 'offer')))`, tenantID, only)
		if err != nil {
			return err
		}
		var l lost
		var queuedAt time.Time
		var details []byte
		_, err = pgx.ForEachRow(rows, []any{&l.id, &l.channel, &l.state, &l.queue, &l.agent, &queuedAt, &details}, func() error {
			l.origin = origin{}
			if len(details) > 0 {
				_ = json.Unmarshal(details, &l.origin)
			}
			if l.EnqueuedAt.IsZero() {
				l.EnqueuedAt = queuedAt
			}
			out = append(out, l)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("live contacts of the record: %w", err)
	}
	return out, nil
}

// liveIDs lists the ids (and states) of the record's contacts the engine
// should hold, cheaply (the open-contacts index).
func (s *Service) liveIDs(ctx context.Context, tenantID uuid.UUID) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.id, c.state FROM contacts c WHERE c.tenant_id = $1
			AND c.state IN ('queued', 'offered', 'accepted') AND c.queue_id IS NOT NULL
			AND (c.state <> 'accepted' OR (c.agent_id IS NOT NULL AND EXISTS (SELECT 1 FROM contact_events e
				WHERE e.tenant_id = c.tenant_id AND e.contact_id = c.id AND e.kind = 'offer')))`, tenantID)
		if err != nil {
			return err
		}
		var id uuid.UUID
		var st string
		_, err = pgx.ForEachRow(rows, []any{&id, &st}, func() error {
			out[id] = st
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("live contact ids of the record: %w", err)
	}
	return out, nil
}

// recordedStatuses are the agents' recorded statuses other than offline.
func (s *Service) recordedStatuses(ctx context.Context, tenantID uuid.UUID) (map[uuid.UUID]routing.Status, error) {
	out := map[uuid.UUID]routing.Status{}
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT s.user_id, s.status FROM agent_routing_status s
			JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id AND u.status = 'active'
			WHERE s.tenant_id = $1 AND s.status <> 'offline'`, tenantID)
		if err != nil {
			return err
		}
		var id uuid.UUID
		var st string
		_, err = pgx.ForEachRow(rows, []any{&id, &st}, func() error {
			out[id] = routing.Status(st)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("recorded agent statuses: %w", err)
	}
	return out, nil
}

// Reconcile brings the tenant's routing state in line with the record:
// a full rebuild when the tenant's marker is missing (Redis lost its
// state), else what is missing (see the package comment above). holders
// are the agents with a live seat (nil: none, so no agent is made
// available).
func (s *Service) Reconcile(ctx context.Context, tenantID uuid.UUID, holders SeatHolders) (Reconciled, error) {
	start := time.Now()
	r, err := s.reconcile(ctx, tenantID, holders)
	if s.Metrics != nil {
		s.Metrics.Reconciles.Inc()
	}
	if err != nil {
		return r, err
	}
	if s.Metrics != nil {
		by := "reconcile"
		if r.Rebuilt {
			s.Metrics.Rebuilds.Inc()
			by = "rebuild"
		}
		for st, n := range r.Contacts {
			s.Metrics.Contacts.WithLabelValues(st, by).Add(float64(n))
		}
		s.Metrics.Agents.Add(float64(r.Agents))
	}
	attrs := []any{"tenant", tenantID, "queues", r.Queues, "agents", r.Agents, "queued", r.Contacts[StateQueued],
		"offered", r.Contacts[StateOffered], "accepted", r.Contacts[StateAccepted], "took", time.Since(start)}
	switch {
	case r.Rebuilt && (r.total() > 0 || r.Agents > 0):
		s.Logger.Warn("routing state rebuilt from the record: Redis had lost it", attrs...)
	case r.Rebuilt:
		s.Logger.Info("routing rebuild marker set: nothing was missing", attrs...)
	case r.total() > 0 || r.Agents > 0:
		s.Logger.Warn("routing reconciliation put back what Redis was missing", attrs...)
	}
	return r, nil
}

func (s *Service) reconcile(ctx context.Context, tenantID uuid.UUID, holders SeatHolders) (r Reconciled, err error) {
	r.Contacts = map[string]int{}
	now := s.Now()
	live, err := s.Engine.Live(ctx, tenantID)
	if err != nil {
		return r, err
	}
	if !live.Built {
		if r.Rebuilt, err = s.Engine.ClaimRebuild(ctx, tenantID, now); err != nil {
			return r, err
		}
		if r.Rebuilt {
			defer func() {
				if err != nil {
					if derr := s.Engine.DropMarker(context.WithoutCancel(ctx), tenantID); derr != nil {
						s.Logger.Error("routing rebuild: drop the marker", "tenant", tenantID, "err", derr)
					}
				}
			}()
		}
	}
	// The engine was read first: a contact opened since is in the record
	// but maybe not yet in the engine, and is a suspect at most.
	ids, err := s.liveIDs(ctx, tenantID)
	if err != nil {
		return r, err
	}
	var missing []uuid.UUID
	for id := range ids {
		if !live.Contacts[id.String()] {
			missing = append(missing, id)
		}
	}
	if !r.Rebuilt {
		missing = s.suspects.due(tenantID, missing, now)
		r.Suspects = s.suspects.count(tenantID)
	}
	statuses, err := s.recordedStatuses(ctx, tenantID)
	if err != nil {
		return r, err
	}
	var seated map[uuid.UUID]bool
	if holders != nil && len(statuses) > 0 {
		if seated, err = holders(ctx, tenantID); err != nil {
			return r, err
		}
	}
	// Agents to put back: seated, with a status other than offline on
	// record, and missing from the engine or offline there.
	var known []string
	for id := range statuses {
		if seated[id] && live.Agents[id.String()] {
			known = append(known, id.String())
		}
	}
	cur, err := s.Engine.AgentStatuses(ctx, tenantID, known)
	if err != nil {
		return r, err
	}
	back := map[uuid.UUID]routing.Status{}
	for id, st := range statuses {
		if !seated[id] {
			continue
		}
		if c, ok := cur[id.String()]; ok && c != routing.Offline {
			continue
		}
		back[id] = st
	}
	if len(missing) == 0 && len(back) == 0 && !r.Rebuilt {
		return r, nil
	}
	var todo []lost
	if len(missing) > 0 {
		if todo, err = s.liveContacts(ctx, tenantID, missing); err != nil {
			return r, err
		}
	}
	var all routing.Changes
	defer func() {
		if rerr := s.record(context.WithoutCancel(ctx), tenantID, all); rerr != nil && err == nil {
			err = rerr
		}
	}()
	add := func(ch routing.Changes) { all.Events = append(all.Events, ch.Events...) }

	// Queues: every one on a rebuild, else those the engine lacks.
	qs, err := s.Setup.Queues(ctx, tenantID)
	if err != nil {
		return r, err
	}
	prio := map[uuid.UUID]int{}
	for _, q := range qs {
		prio[q.ID] = q.Priority
		if !r.Rebuilt && live.Queues[q.ID.String()] {
			continue
		}
		ch, err := s.Engine.ConfigureQueue(ctx, tenantID, EngineQueue(q), now)
		add(ch)
		if err != nil {
			return r, err
		}
		r.Queues++
	}
	// Agents: those to put back, and those holding an accepted contact to
	// restore, configured (offline when new) before anything is restored.
	need := map[uuid.UUID]bool{}
	for id := range back {
		need[id] = true
	}
	for _, l := range todo {
		if l.state == StateAccepted && l.agent != nil && !live.Agents[l.agent.String()] {
			need[*l.agent] = true
		}
	}
	configured := map[uuid.UUID]bool{}
	for id := range need {
		p, err := s.Setup.ProfileOf(ctx, tenantID, id)
		if err != nil {
			return r, err
		}
		if len(p.Capacity) == 0 {
			continue // no routing profile any more
		}
		ch, err := s.Engine.ConfigureAgent(ctx, tenantID, EngineAgent(p), now)
		add(ch)
		if err != nil {
			return r, err
		}
		configured[id] = true
	}
	// The engine's order: ageing priority, then enqueue time, then id.
	rank := func(l lost) time.Time {
		return l.EnqueuedAt.Add(-time.Duration(prio[l.queue]+l.Priority) * routing.AgeingStep)
	}
	slices.SortFunc(todo, func(a, b lost) int {
		if c := rank(a).Compare(rank(b)); c != 0 {
			return c
		}
		if c := a.EnqueuedAt.Compare(b.EnqueuedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.id.String(), b.id.String())
	})
	for _, l := range todo {
		c := routing.Contact{ID: l.id.String(), Queue: l.queue.String(), Channel: engineChannel(l.channel),
			Priority: l.Priority, EnqueuedAt: l.EnqueuedAt}
		var ch routing.Changes
		var err error
		switch l.state {
		case StateAccepted:
			if !configured[*l.agent] && !live.Agents[l.agent.String()] {
				s.Logger.Warn("routing rebuild: accepted contact of an agent without a routing profile left out", "tenant", tenantID, "contact", l.id, "agent", *l.agent)
				continue
			}
			ch, err = s.Engine.Restore(ctx, tenantID, c, l.agent.String(), now)
		case StateOffered:
			ch, err = s.Engine.Enqueue(ctx, tenantID, c, now)
			if err == nil {
				// Its reservation went with Redis: back to waiting (then
				// offered again, if an agent took it at once).
				all.Events = append(all.Events, routing.Event{Kind: routing.Requeued, Contact: c.ID, Agent: uuidString(l.agent),
					Queue: c.Queue, Reason: ReasonRebuilt})
			}
		default:
			ch, err = s.Engine.Enqueue(ctx, tenantID, c, now)
		}
		add(ch)
		if e, ok := cic.AsError(err); ok && e.Code == "contact_exists" {
			continue // put back meanwhile (another replica, or the operation itself)
		}
		if e, ok := cic.AsError(err); ok && (e.Kind == cic.EINVALID || e.Kind == cic.ENOTFOUND) {
			// A queue that no longer serves the channel, a profile gone:
			// nothing routing can do with this one.
			s.Logger.Warn("routing rebuild: contact left out", "tenant", tenantID, "contact", l.id, "err", err)
			continue
		}
		if err != nil {
			return r, err
		}
		r.Contacts[l.state]++
		s.suspects.forget(tenantID, l.id)
	}
	// Agents last, so that they take the best waiting contacts first.
	for id, st := range back {
		if !configured[id] {
			continue
		}
		ch, err := s.Engine.SetStatus(ctx, tenantID, id.String(), st, now)
		add(ch)
		if err != nil {
			return r, err
		}
		r.Agents++
	}
	return r, nil
}

func uuidString(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// due records the missing contacts and returns those missing for
// ReconcileGrace already; contacts no longer missing are forgotten.
func (sp *suspects) due(tenantID uuid.UUID, missing []uuid.UUID, now time.Time) []uuid.UUID {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.seen == nil {
		sp.seen = map[uuid.UUID]map[uuid.UUID]time.Time{}
	}
	prev := sp.seen[tenantID]
	next := make(map[uuid.UUID]time.Time, len(missing))
	var out []uuid.UUID
	for _, id := range missing {
		first, ok := prev[id]
		if !ok {
			first = now
		}
		next[id] = first
		if ok && now.Sub(first) >= ReconcileGrace {
			out = append(out, id)
		}
	}
	if len(next) == 0 {
		delete(sp.seen, tenantID)
	} else {
		sp.seen[tenantID] = next
	}
	return out
}

func (sp *suspects) count(tenantID uuid.UUID) int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return len(sp.seen[tenantID])
}

func (sp *suspects) forget(tenantID, id uuid.UUID) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	delete(sp.seen[tenantID], id)
}

// Resume puts an agent whose seat lease Redis had lost, and who took it
// again (seats.Heartbeat's Reacquired), back into routing with their
// recorded status, rebuilding the tenant first if Redis lost that too:
// the agent's desk keeps working without a click.
func (s *Service) Resume(ctx context.Context, p tenant.Principal) error {
	holders := func(ctx context.Context, tenantID uuid.UUID) (map[uuid.UUID]bool, error) {
		m := map[uuid.UUID]bool{}
		if s.Seated != nil {
			var err error
			if m, err = s.Seated(ctx, tenantID); err != nil {
				return nil, err
			}
		}
		m[p.UserID] = true
		return m, nil
	}
	built, err := s.Engine.Built(ctx, p.TenantID)
	if err != nil {
		return err
	}
	if !built {
		_, err := s.Reconcile(ctx, p.TenantID, holders)
		return err
	}
	return s.resumeAgent(ctx, p.TenantID, p.UserID)
}

// resumeAgent puts one agent back with their recorded status when the
// engine has them missing or offline.
func (s *Service) resumeAgent(ctx context.Context, tenantID, userID uuid.UUID) error {
	var st string
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT status FROM agent_routing_status WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID).Scan(&st)
	})
	if errors.Is(err, pgx.ErrNoRows) || st == string(routing.Offline) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recorded agent status: %w", err)
	}
	cur, ok, err := s.Engine.AgentStatus(ctx, tenantID, userID.String())
	if err != nil {
		return err
	}
	if ok && cur != routing.Offline {
		return nil
	}
	prof, err := s.Setup.ProfileOf(ctx, tenantID, userID)
	if err != nil {
		return err
	}
	if len(prof.Capacity) == 0 {
		return nil
	}
	now := s.Now()
	ch, err := s.Engine.ConfigureAgent(ctx, tenantID, EngineAgent(prof), now)
	if err != nil {
		s.keep(ctx, tenantID, ch)
		return err
	}
	more, err := s.Engine.SetStatus(ctx, tenantID, userID.String(), routing.Status(st), now)
	ch.Events = append(ch.Events, more.Events...)
	if rerr := s.record(ctx, tenantID, ch); rerr != nil && err == nil {
		err = rerr
	}
	if err == nil {
		s.Logger.Info("agent put back into routing with their recorded status", "tenant", tenantID, "agent", userID, "status", st)
		if s.Metrics != nil {
			s.Metrics.Agents.Inc()
		}
	}
	return err
}
