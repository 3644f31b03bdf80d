package chargeback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
)

// Task types of the billing worker's report jobs.
const (
	// TypeGenerate produces one report.
	TypeGenerate = "chargeback:generate"
	// TypeMonthly (periodic, on the 1st) fans out one TypeMonthlyTenant
	// per tenant with contacts metered last month.
	TypeMonthly = "chargeback:monthly"
	// TypeMonthlyTenant makes (once) and produces one tenant's report of
	// one month.
	TypeMonthlyTenant = "chargeback:monthly_tenant"
	// TypePurge deletes expired reports and their files, and queues again
	// reports whose job was lost.
	TypePurge = "chargeback:purge"
)

// Schedules of the periodic tasks (UTC).
const (
	// MonthlySchedule: 01:00 on the 1st, for the month that just ended.
	MonthlySchedule = "0 1 1 * *"
	PurgeSchedule   = "@every 1h"
)

// TasksQueue is the asynq queue of the report jobs: customer work, but
// no money moves, so not "critical".
const TasksQueue = "default"

// Enqueuer queues tasks (an *asynq.Client).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// MaxRetry of a report's generation; after the last retry it is failed.
const MaxRetry = 3

type taskPayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
	ReportID uuid.UUID `json:"report_id,omitempty"`
	Month    string    `json:"month,omitempty"` // YYYY-MM
}

// NewGenerateTask produces one report; its id is the report's, so the
// same report is never produced twice at once.
func NewGenerateTask(tenantID, reportID uuid.UUID, queue string) *asynq.Task {
	raw, _ := json.Marshal(taskPayload{TenantID: tenantID, ReportID: reportID})
	return asynq.NewTask(TypeGenerate, raw, asynq.TaskID(TypeGenerate+":"+reportID.String()), asynq.Queue(queue),
		asynq.MaxRetry(MaxRetry), asynq.Timeout(time.Hour), asynq.Retention(time.Hour))
}

// NewMonthlyTenantTask produces one tenant's report of month; its id is
// tenant and month, so a second fan-out (another replica, a restart) adds
// nothing while it is queued or kept.
func NewMonthlyTenantTask(tenantID uuid.UUID, month time.Time, queue string) *asynq.Task {
	m := monthOf(month).Format("2006-01")
	raw, _ := json.Marshal(taskPayload{TenantID: tenantID, Month: m})
	return asynq.NewTask(TypeMonthlyTenant, raw, asynq.TaskID(TypeMonthlyTenant+":"+tenantID.String()+":"+m), asynq.Queue(queue),
		asynq.MaxRetry(MaxRetry), asynq.Timeout(time.Hour), asynq.Retention(24*time.Hour))
}

// periodicTask has a fixed id kept for retention, so replicas' schedulers
// run it once (see the worker's periodic tasks).
func periodicTask(typ string, retention time.Duration) *asynq.Task {
	return asynq.NewTask(typ, nil, asynq.TaskID(typ), asynq.Queue(TasksQueue), asynq.Retention(retention),
		asynq.MaxRetry(3), asynq.Timeout(30*time.Minute))
}

// NewMonthlyTask is the periodic fan-out on the 1st.
func NewMonthlyTask() *asynq.Task { return periodicTask(TypeMonthly, 6*time.Hour) }

// NewPurgeTask is the periodic purge.
func NewPurgeTask() *asynq.Task { return periodicTask(TypePurge, 50*time.Minute) }

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func readPayload(task *asynq.Task) (taskPayload, error) {
	var p taskPayload
	if err := json.Unmarshal(task.Payload(), &p); err != nil || p.TenantID == uuid.Nil {
		return p, fmt.Errorf("%s: bad payload %q: %w", task.Type(), task.Payload(), asynq.SkipRetry)
	}
	return p, nil
}

func (s *Service) enqueue(ctx context.Context, t *asynq.Task) error {
	if s.Jobs == nil {
		return errNoJobs
	}
	if _, err := s.Jobs.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// finalAttempt says whether a failing run is the task's last.
func finalAttempt(ctx context.Context, err error) bool {
	if errors.Is(err, asynq.SkipRetry) {
		return true
	}
	retried, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	return !ok1 || !ok2 || retried >= maxRetry
}

// HandleGenerate produces one report. A failure is retried (the report
// starts over); after the last retry the report is marked failed.
func (s *Service) HandleGenerate(ctx context.Context, task *asynq.Task) error {
	p, err := readPayload(task)
	if err != nil {
		return err
	}
	if p.ReportID == uuid.Nil {
		return fmt.Errorf("%s: no report id: %w", task.Type(), asynq.SkipRetry)
	}
	return s.run(ctx, p.TenantID, p.ReportID)
}

func (s *Service) run(ctx context.Context, tenantID, reportID uuid.UUID) error {
	err := s.Generate(ctx, tenantID, reportID)
	if err == nil {
		return nil
	}
	if errors.Is(err, errNotFound) {
		// Purged or never there: nothing to retry.
		return fmt.Errorf("report %s: %w", reportID, asynq.SkipRetry)
	}
	if errors.Is(err, errBusy) {
		return err
	}
	final := finalAttempt(ctx, err)
	s.logger().ErrorContext(ctx, "report failed", "tenant_id", tenantID, "report_id", reportID, "final", final, "err", err)
	if merr := s.markFailed(context.WithoutCancel(ctx), tenantID, reportID, final); merr != nil {
		s.logger().ErrorContext(ctx, "mark report failed", "report_id", reportID, "err", merr)
	}
	return err
}

// HandleMonthly fans out last month's report to every tenant that had
// contacts metered in it.
func (s *Service) HandleMonthly(ctx context.Context, _ *asynq.Task) error {
	month := monthOf(s.now()).AddDate(0, -1, 0)
	ids, err := s.DB.ListTenantIDs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		var due bool
		err := s.DB.Tx(ctx, id, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM meter_records WHERE tenant_id = $1 AND metered_at >= $2 AND metered_at < $3)
				AND NOT EXISTS (SELECT 1 FROM reports WHERE tenant_id = $1 AND trigger = 'monthly' AND period_from = $2 AND status = 'done')`,
				id, month, month.AddDate(0, 1, 0)).Scan(&due)
		})
		if err == nil && due {
			err = s.enqueue(ctx, NewMonthlyTenantTask(id, month, s.queue()))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// HandleMonthlyTenant makes the tenant's monthly report (once: one per
// tenant and month, whatever runs it) and produces it.
func (s *Service) HandleMonthlyTenant(ctx context.Context, task *asynq.Task) error {
	p, err := readPayload(task)
	if err != nil {
		return err
	}
	month, err := time.Parse("2006-01", p.Month)
	if err != nil {
		return fmt.Errorf("%s: bad month %q: %w", task.Type(), p.Month, asynq.SkipRetry)
	}
	r, err := s.EnsureMonthly(ctx, p.TenantID, month)
	if err != nil {
		return err
	}
	if r.Status == StatusDone {
		return nil
	}
	return s.run(ctx, p.TenantID, r.ID)
}

// EnsureMonthly returns the tenant's automatic report of month, making it
// if there is none yet (by cost centre).
func (s *Service) EnsureMonthly(ctx context.Context, tenantID uuid.UUID, month time.Time) (Report, error) {
	from := monthOf(month)
	var r Report
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var currency string
		if err := tx.QueryRow(ctx, `SELECT currency FROM tenants WHERE tenant_id = $1`, tenantID).Scan(&currency); err != nil {
			return err
		}
		id := uuid.New()
		tag, err := tx.Exec(ctx, `INSERT INTO reports (tenant_id, id, trigger, period_from, period_to, dimension, currency, expires_at)
			VALUES ($1, $2, 'monthly', $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, period_from) WHERE trigger = 'monthly' DO NOTHING`,
			tenantID, id, from, from.AddDate(0, 1, 0), DimCostCentre, currency, s.now().Add(s.retention()))
		if err != nil {
			return err
		}
		q := `SELECT ` + reportColumns + ` FROM reports WHERE tenant_id = $1 AND trigger = 'monthly' AND period_from = $2`
		r, err = scanReport(tx.QueryRow(ctx, q, tenantID, from))
		if err == nil && tag.RowsAffected() == 1 {
			err = auditSystem(ctx, tx, tenantID, "report.monthly", r.ID, map[string]any{"month": from.Format("2006-01")})
		}
		return err
	})
	if err != nil {
		return Report{}, fmt.Errorf("monthly report: %w", err)
	}
	return r, nil
}

// HandlePurge deletes every tenant's expired reports with their files,
// and queues again the reports left queued or running by a lost job.
func (s *Service) HandlePurge(ctx context.Context, _ *asynq.Task) error {
	ids, err := s.DB.ListTenantIDs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if _, err := s.Purge(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
		}
		if err := s.requeueStale(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// Purge deletes one tenant's expired reports and their files.
func (s *Service) Purge(ctx context.Context, tenantID uuid.UUID) (int, error) {
	var ids []uuid.UUID
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM reports WHERE tenant_id = $1 AND expires_at <= $2`, tenantID, s.now())
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expired reports: %w", err)
	}
	for _, id := range ids {
		if err := s.store().Delete(ctx, s.DB, tenantID, id); err != nil {
			return 0, err
		}
		err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM reports WHERE tenant_id = $1 AND id = $2`, tenantID, id)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("delete report: %w", err)
		}
	}
	return len(ids), nil
}

// requeueStale enqueues again the reports queued or running for more than
// an hour: a job whose task is still there is refused by its id, so only
// lost ones (Redis emptied) start again.
func (s *Service) requeueStale(ctx context.Context, tenantID uuid.UUID) error {
	var ids []uuid.UUID
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM reports WHERE tenant_id = $1 AND status IN ('queued', 'running')
			AND created_at < $2`, tenantID, s.now().Add(-time.Hour))
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.enqueue(ctx, NewGenerateTask(tenantID, id, s.queue())); err != nil {
			return err
		}
	}
	return nil
}
