package contacts

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// The customer's place in line (what GET /api/v1/contacts/{id}, the chat
// widget and the voice hold loop tell a waiting customer).
//
// Position: 1 + the number of contacts queued in the same queue on the
// same channel that the engine takes before this one. The engine orders
// waiting contacts by effective priority, enqueued_at - (queue priority +
// contact priority) * routing.AgeingStep (smaller first), ties by the
// earlier enqueue, then the lower contact id (package routing, and
// pull in routing/lua/lib.lua). Within one queue the queue's priority is
// the same for every contact, so the order is by enqueued_at - contact
// priority * AgeingStep. The contacts are read from PostgreSQL, the
// record (queued_at is the enqueue time the engine keeps across requeues
// and transfers; the contact's priority is on its first timeline event),
// so the answer does not depend on Redis having all of them. Contacts of
// other queues that the same agents serve can still be taken first: the
// position is in this queue's line.
//
// Expected wait: ceil(position / max(1, slots)) * average handle time,
// where slots is the number of contacts of the channel the queue's agents
// can handle at once (the sum of the channel capacity of every agent who
// is signed in for routing, i.e. available, busy or in wrap-up, and meets
// the queue's skill minimums) and the average handle time is the mean of
// accepted -> wrap-up (or close) of the last HandleSample contacts the
// queue handled on that channel, DefaultHandle when it handled none yet.
// Each slot frees once per handle time, so the customer's turn comes
// after about position/slots rounds. It is an estimate, rounded up to
// whole rounds: a customer is told a little more rather than less.

// HandleSample is how many recent handled contacts the average handle time
// is taken over.
const HandleSample = 20

// DefaultHandle is the handle time assumed for a queue that handled none.
const DefaultHandle = 3 * time.Minute

// Waiting is a queued contact as the line orders it.
type Waiting struct {
	ID         uuid.UUID
	EnqueuedAt time.Time
	// Priority is the contact's own priority (not its queue's).
	Priority int
}

// lineKey is the engine's effective priority within one queue, in ms.
func lineKey(w Waiting, queuePriority int) int64 {
	return w.EnqueuedAt.UnixMilli() - int64(queuePriority+w.Priority)*routing.AgeingStep.Milliseconds()
}

// Line sorts contacts of one queue and channel in the order the engine
// takes them.
func Line(list []Waiting, queuePriority int) []Waiting {
	out := slices.Clone(list)
	slices.SortStableFunc(out, func(a, b Waiting) int {
		ka, kb := lineKey(a, queuePriority), lineKey(b, queuePriority)
		switch {
		case ka != kb:
			if ka < kb {
				return -1
			}
			return 1
		case a.EnqueuedAt.UnixMilli() != b.EnqueuedAt.UnixMilli():
			if a.EnqueuedAt.UnixMilli() < b.EnqueuedAt.UnixMilli() {
				return -1
			}
			return 1
		}
		// The engine's members are "<enqueued ms>|<id>": the id's text.
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	return out
}

// PositionIn is id's place in the line (1 = next), 0 when it is not in list.
func PositionIn(list []Waiting, id uuid.UUID, queuePriority int) int {
	for i, w := range Line(list, queuePriority) {
		if w.ID == id {
			return i + 1
		}
	}
	return 0
}

// EstimateWait is the expected wait of the contact at position, with
// slots contacts handled at once and avgHandle per contact (see above).
func EstimateWait(position, slots int, avgHandle time.Duration) time.Duration {
	if position <= 0 {
		return 0
	}
	if avgHandle <= 0 {
		avgHandle = DefaultHandle
	}
	slots = max(1, slots)
	rounds := (position + slots - 1) / slots
	return time.Duration(rounds) * avgHandle
}

// Place is where a queued contact stands.
type Place struct {
	// Position is 1 for the next contact; 0 when the contact is not
	// queued (offered, accepted, ended).
	Position int
	// Wait is the expected wait from now.
	Wait time.Duration
	// Open: the queue is within its business hours now.
	Open bool
	// MaxWaitPassed: the contact has waited in its queue longer than the
	// queue's max_wait_seconds.
	MaxWaitPassed bool
	QueueID       uuid.UUID
	// Queue is the contact's queue (its settings: announce_every_seconds).
	Queue setup.Queue
}

// WaitSeconds is Wait in whole seconds, rounded up.
func (p Place) WaitSeconds() int {
	return int((p.Wait + time.Second - 1) / time.Second)
}

// PlaceOf is where the tenant's contact stands in its queue's line. A
// contact that is not queued has the zero Place (no error); an unknown
// contact is ENOTFOUND.
func (s *Service) PlaceOf(ctx context.Context, tenantID, contactID uuid.UUID) (Place, error) {
	c, err := s.get(ctx, tenantID, contactID)
	if err != nil {
		return Place{}, err
	}
	if c.State != StateQueued || c.QueueID == nil {
		return Place{}, nil
	}
	q, err := s.Setup.QueueByID(ctx, tenantID, *c.QueueID)
	if err != nil {
		if cic.ErrorKind(err) == cic.ENOTFOUND {
			return Place{}, nil // the queue was deleted
		}
		return Place{}, err
	}
	now := s.Now()
	pl := Place{Open: q.Hours.OpenAt(now), QueueID: q.ID, Queue: q}
	var line []Waiting
	var handleMs *float64
	var entered *time.Time
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.id, c.queued_at, coalesce((e.details->>'priority')::int, 0)
			FROM contacts c LEFT JOIN contact_events e ON e.tenant_id = c.tenant_id AND e.contact_id = c.id AND e.seq = 1
			WHERE c.tenant_id = $1 AND c.queue_id = $2 AND c.channel = $3 AND c.state = 'queued' AND c.queued_at IS NOT NULL
			LIMIT 10000`, tenantID, q.ID, c.Channel)
		if err != nil {
			return err
		}
		var w Waiting
		if _, err := pgx.ForEachRow(rows, []any{&w.ID, &w.EnqueuedAt, &w.Priority}, func() error {
			line = append(line, w)
			return nil
		}); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT avg(extract(epoch FROM coalesce(wrap_up_at, closed_at) - accepted_at) * 1000)
			FROM (SELECT accepted_at, wrap_up_at, closed_at FROM contacts
				WHERE tenant_id = $1 AND queue_id = $2 AND channel = $3 AND accepted_at IS NOT NULL
				AND coalesce(wrap_up_at, closed_at) >= accepted_at
				ORDER BY accepted_at DESC LIMIT $4) h`, tenantID, q.ID, c.Channel, HandleSample).Scan(&handleMs); err != nil {
			return fmt.Errorf("handle time: %w", err)
		}
		return tx.QueryRow(ctx, `SELECT max(at) FROM contact_events WHERE tenant_id = $1 AND contact_id = $2
			AND kind IN ('queued', 'transfer', 'overflow')`, tenantID, contactID).Scan(&entered)
	})
	if err != nil {
		return Place{}, fmt.Errorf("place in line: %w", err)
	}
	pl.Position = PositionIn(line, contactID, q.Priority)
	if pl.Position == 0 {
		return Place{}, nil // taken out of the line meanwhile
	}
	if q.MaxWait != nil && entered != nil && now.Sub(*entered) >= time.Duration(*q.MaxWait)*time.Second {
		pl.MaxWaitPassed = true
	}
	handle := DefaultHandle
	if handleMs != nil && *handleMs > 0 {
		handle = time.Duration(*handleMs * float64(time.Millisecond))
	}
	slots, err := s.slots(ctx, tenantID, q.ID, c.Channel)
	if err != nil {
		return Place{}, err
	}
	pl.Wait = EstimateWait(pl.Position, slots, handle)
	return pl, nil
}

// slots is how many contacts of ch the queue's signed-in agents handle at
// once: the sum of their channel capacity (the engine's, as it routes).
func (s *Service) slots(ctx context.Context, tenantID, queueID uuid.UUID, ch string) (int, error) {
	snap, err := s.Engine.Snapshot(ctx, tenantID)
	if err != nil {
		return 0, fmt.Errorf("routing snapshot: %w", err)
	}
	ech := engineChannel(ch)
	capacity := map[uuid.UUID]int{}
	var ids []uuid.UUID
	for _, a := range snap.Agents {
		switch a.Status {
		case routing.Available, routing.Busy, routing.WrapUp:
		default:
			continue
		}
		id, err := uuid.Parse(a.ID)
		if err != nil || a.Capacity[ech] <= 0 {
			continue
		}
		capacity[id] = a.Capacity[ech]
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	total := 0
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		// Agents meeting every skill minimum of the queue.
		rows, err := tx.Query(ctx, `SELECT u FROM unnest($3::uuid[]) u WHERE NOT EXISTS (
				SELECT 1 FROM queue_skills r WHERE r.tenant_id = $1 AND r.queue_id = $2 AND NOT EXISTS (
					SELECT 1 FROM agent_skills a WHERE a.tenant_id = $1 AND a.user_id = u AND a.skill_id = r.skill_id
					AND a.level >= r.min_level))`, tenantID, queueID, ids)
		if err != nil {
			return err
		}
		var id uuid.UUID
		_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
			total += capacity[id]
			return nil
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("queue agents: %w", err)
	}
	return total, nil
}

// PlaceFor is PlaceOf for a caller of the API, who must be allowed to see
// the contact (Get's rules).
func (s *Service) PlaceFor(ctx context.Context, p tenant.Principal, contactID uuid.UUID) (Place, error) {
	if _, err := s.Get(ctx, p, contactID); err != nil {
		return Place{}, err
	}
	return s.PlaceOf(ctx, p.TenantID, contactID)
}
