package contacts

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/routing"
)

// Overflow moves the tenant's contacts that waited longer than their
// queue's max_wait_seconds into its overflow queue (same contact, metered
// once). The wait counts from when the contact entered its current queue,
// so a contact can overflow again from there. The ticker runs it on its
// sweep, so a contact overflows within SweepEvery of its deadline.
func (s *Service) Overflow(ctx context.Context, tenantID uuid.UUID) (int, error) {
	type move struct{ contact, from, to uuid.UUID }
	var moves []move
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.id, q.id, q.overflow_queue_id FROM contacts c
			JOIN queues q ON q.tenant_id = c.tenant_id AND q.id = c.queue_id
			WHERE c.tenant_id = $1 AND c.state = 'queued'
			AND q.max_wait_seconds IS NOT NULL AND q.overflow_queue_id IS NOT NULL
			AND (SELECT max(e.at) FROM contact_events e WHERE e.tenant_id = c.tenant_id AND e.contact_id = c.id
				AND e.kind IN ('queued', 'transfer', 'overflow')) < now() - make_interval(secs => q.max_wait_seconds)
			LIMIT 500`, tenantID)
		if err != nil {
			return err
		}
		var m move
		_, err = pgx.ForEachRow(rows, []any{&m.contact, &m.from, &m.to}, func() error {
			moves = append(moves, m)
			return nil
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("overflow: %w", err)
	}
	done := 0
	for _, m := range moves {
		ch, err := s.onQueue(ctx, tenantID, m.to, func() (routing.Changes, error) {
			return s.Engine.Transfer(ctx, tenantID, m.contact.String(), routing.Target{Queue: m.to.String()}, s.Now())
		})
		if err != nil {
			s.keep(ctx, tenantID, ch)
			// Offered or accepted meanwhile: it no longer waits.
			s.Logger.Debug("overflow skipped", "contact", m.contact, "err", err)
			continue
		}
		err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
			return addEvent(ctx, tx, tenantID, m.contact, "overflow", nil, &m.to, map[string]any{"from_queue": m.from})
		})
		if err != nil {
			return done, err
		}
		if err := s.record(ctx, tenantID, ch); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}
