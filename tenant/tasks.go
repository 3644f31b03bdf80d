package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// TypePurgeSessions is the periodic job that deletes long-dead refresh
// tokens of every tenant, so refresh_tokens does not grow with every
// login forever.
const TypePurgeSessions = "tenant:purge_sessions"

// PurgeSessionsSchedule is how often the worker's scheduler enqueues the
// purge. Expired tokens are harmless until purged (Refresh checks
// expires_at), so hourly is plenty.
const PurgeSessionsSchedule = "@every 1h"

// PurgeSessionsQueue is the asynq queue of the purge: housekeeping yields
// to customer-facing jobs.
const PurgeSessionsQueue = "low"

// PurgeSessionsRetention keeps a finished purge's fixed task ID taken for
// this long. Every worker replica runs a scheduler; a replica whose tick
// falls inside this window gets asynq.ErrTaskIDConflict instead of
// enqueueing a second purge, so the cluster purges at most once per
// window. It stays below the schedule's hour so the next tick is free.
const PurgeSessionsRetention = 50 * time.Minute

// NewPurgeSessionsTask returns the purge task. Its ID is fixed (not
// asynq.Unique, whose lock asynq releases as soon as the task succeeds,
// which would let a replica ticking a minute later enqueue it again).
func NewPurgeSessionsTask() *asynq.Task {
	return asynq.NewTask(TypePurgeSessions, nil,
		asynq.TaskID(TypePurgeSessions),
		asynq.Queue(PurgeSessionsQueue),
		asynq.Retention(PurgeSessionsRetention),
		// A failed run is retried a few times; after that the next
		// scheduled run is the retry.
		asynq.MaxRetry(3),
		asynq.Timeout(10*time.Minute),
	)
}

// HandlePurgeSessions runs PurgeExpiredSessions for every active tenant.
// One tenant's failure does not stop the others; the failures are
// returned together so asynq retries the run (purging is idempotent).
func (s *Service) HandlePurgeSessions(ctx context.Context, _ *asynq.Task) error {
	start := time.Now()
	ids, err := s.DB.ListTenantIDs(ctx)
	if err != nil {
		return fmt.Errorf("purge sessions: %w", err)
	}
	var (
		deleted int64
		failed  int
		errs    []error
	)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			// Out of time (task timeout or shutdown): stop rather than
			// collect one context error per remaining tenant.
			errs = append(errs, err)
			break
		}
		n, err := s.PurgeExpiredSessions(ctx, id)
		if err != nil {
			failed++
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
			slog.ErrorContext(ctx, "purge sessions failed for tenant", "tenant_id", id, "err", err)
			continue
		}
		deleted += n
	}
	slog.InfoContext(ctx, "purged expired sessions",
		"tenants", len(ids), "deleted", deleted, "failed", failed, "took", time.Since(start).Round(time.Millisecond))
	if len(errs) > 0 {
		return fmt.Errorf("purge sessions: %w", errors.Join(errs...))
	}
	return nil
}
