package chat

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// LeaveGraceSweep is how long a waiting visitor may go unseen before the
// sweep takes their chat for abandoned (they closed the page and the
// replica that held their socket died before its own timer fired).
const LeaveGraceSweep = 2 * time.Minute

// SweepGone abandons the tenant's waiting chats whose visitor has not
// been seen for grace. It backs up the per-connection timer, which a
// crashed replica never runs.
func (s *Service) SweepGone(ctx context.Context, tenantID uuid.UUID, grace time.Duration) error {
	var ids []uuid.UUID
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT s.contact_id FROM chat_sessions s
			JOIN contacts c ON c.tenant_id = s.tenant_id AND c.id = s.contact_id
			WHERE s.tenant_id = $1 AND s.ended_at IS NULL AND s.last_seen_at < $2
			AND c.state IN ('new', 'queued', 'offered') LIMIT 500`, tenantID, time.Now().Add(-grace))
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return fmt.Errorf("chat sweep: %w", err)
	}
	for _, id := range ids {
		if err := s.AbandonIfGone(ctx, tenantID, id, grace); err != nil {
			return err
		}
	}
	return nil
}
