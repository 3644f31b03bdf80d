package contacts

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
)

// The worker meters, every minute, accepted contacts a crash left
// unmetered (between the engine's accept and the Meter's commit).
const (
	TypeMeterPending     = "routing:meter_pending"
	MeterPendingSchedule = "@every 1m"
	TasksQueue           = "critical"
)

// NewMeterPendingTask is the periodic catch-up, with a fixed ID so that
// replicas enqueue it once per tick.
func NewMeterPendingTask() *asynq.Task {
	return asynq.NewTask(TypeMeterPending, nil, asynq.TaskID(TypeMeterPending), asynq.Queue(TasksQueue),
		asynq.Retention(45*time.Second), asynq.MaxRetry(3), asynq.Timeout(50*time.Second))
}

// HandleMeterPending meters every tenant's pending contacts.
func (s *Service) HandleMeterPending(ctx context.Context, _ *asynq.Task) error {
	var ids []uuid.UUID
	err := s.DB.PlatformTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id FROM tenants`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: list tenants: %w", TypeMeterPending, err)
	}
	var first error
	total := 0
	for _, id := range ids {
		n, err := s.MeterPending(ctx, id)
		total += n
		if err != nil && first == nil {
			first = fmt.Errorf("%s: tenant %s: %w", TypeMeterPending, id, err)
		}
	}
	if total > 0 {
		s.Logger.Warn("metered contacts left unmetered by a crash", "contacts", total)
	}
	return first
}
