package metering

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/cic-platform/cic/tenant"
)

// Task types of the billing worker's metering jobs. Both are periodic
// (every tenant, see the worker's schedule) and may also be enqueued for
// one tenant (NewTenant...Task).
const (
	// TypeExpireBundles records forfeits for expired bundles.
	TypeExpireBundles = "metering:expire_bundles"
	// TypeLowBalance records low-balance warnings and e-mails them.
	TypeLowBalance = "metering:low_balance"
)

// Schedule of the periodic runs.
const (
	ExpireBundlesSchedule = "@every 5m"
	LowBalanceSchedule    = "@every 5m"
)

// TasksQueue is the asynq queue of the metering jobs: they are about
// money and customers' mail, so they go with ordinary work, not
// housekeeping.
const TasksQueue = "default"

// periodicRetention keeps a finished periodic run's fixed task ID taken
// for most of the interval, so that replicas' schedulers ticking in the
// same interval do not run it again (see tenant.PurgeSessionsRetention);
// it stays below the 5-minute schedule so the next tick is free.
const periodicRetention = 4 * time.Minute

// tenantRetention dedupes one tenant's on-demand runs: while one is
// queued or finished less than this ago, another is refused with
// asynq.ErrTaskIDConflict.
const tenantRetention = 30 * time.Second

func periodicTask(typ string) *asynq.Task {
	return asynq.NewTask(typ, nil,
		asynq.TaskID(typ),
		asynq.Queue(TasksQueue),
		asynq.Retention(periodicRetention),
		asynq.MaxRetry(3),
		asynq.Timeout(4*time.Minute),
	)
}

// NewExpireBundlesTask is the periodic expiry run over every tenant. Its
// ID is fixed, so replicas enqueue it once (see tenant.NewPurgeSessionsTask).
func NewExpireBundlesTask() *asynq.Task { return periodicTask(TypeExpireBundles) }

// NewLowBalanceTask is the periodic low-balance run over every tenant,
// with a fixed ID.
func NewLowBalanceTask() *asynq.Task { return periodicTask(TypeLowBalance) }

// tenantPayload is the payload of a one-tenant run.
type tenantPayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
}

func tenantTask(typ string, tenantID uuid.UUID) *asynq.Task {
	payload, _ := json.Marshal(tenantPayload{TenantID: tenantID})
	return asynq.NewTask(typ, payload,
		asynq.TaskID(typ+":"+tenantID.String()),
		asynq.Queue(TasksQueue),
		asynq.Retention(tenantRetention),
		asynq.MaxRetry(5),
		asynq.Timeout(time.Minute),
	)
}

// NewTenantExpireBundlesTask expires one tenant's bundles, e.g. right
// after a bundle's validity was cut short.
func NewTenantExpireBundlesTask(tenantID uuid.UUID) *asynq.Task {
	return tenantTask(TypeExpireBundles, tenantID)
}

// NewTenantLowBalanceTask checks one tenant's balance now rather than at
// the next periodic run, e.g. after a large batch was metered.
func NewTenantLowBalanceTask(tenantID uuid.UUID) *asynq.Task {
	return tenantTask(TypeLowBalance, tenantID)
}

// EnqueueLowBalance asks the worker to check one tenant's balance soon.
// A check of that tenant already queued or just run makes it a no-op.
// opts override the task's own (e.g. asynq.ProcessIn).
func EnqueueLowBalance(ctx context.Context, c *asynq.Client, tenantID uuid.UUID, opts ...asynq.Option) error {
	return enqueueTenant(ctx, c, NewTenantLowBalanceTask(tenantID), opts)
}

// EnqueueExpireBundles asks the worker to expire one tenant's bundles
// soon, like EnqueueLowBalance.
func EnqueueExpireBundles(ctx context.Context, c *asynq.Client, tenantID uuid.UUID, opts ...asynq.Option) error {
	return enqueueTenant(ctx, c, NewTenantExpireBundlesTask(tenantID), opts)
}

func enqueueTenant(ctx context.Context, c *asynq.Client, t *asynq.Task, opts []asynq.Option) error {
	if _, err := c.EnqueueContext(ctx, t, opts...); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// Tasks runs the metering jobs of the worker.
type Tasks struct {
	DB *tenant.DB
	// Mailer sends the low-balance e-mail; nil logs them instead.
	Mailer Mailer
	// PublicURL is the product's address, for links in e-mail.
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time
}

func (t *Tasks) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tasks) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}

// HandleExpireBundles runs ExpireBundles for the task's tenant, or for
// every active tenant. One tenant's failure does not stop the others;
// the failures are returned together so asynq retries (expiry is
// idempotent).
func (t *Tasks) HandleExpireBundles(ctx context.Context, task *asynq.Task) error {
	var forfeits int
	err := t.eachTenant(ctx, task, func(ctx context.Context, id uuid.UUID) error {
		n, err := ExpireBundles(ctx, t.DB, id, t.now())
		forfeits += n
		if n > 0 {
			t.logger().InfoContext(ctx, "bundles expired", "tenant_id", id, "forfeits", n)
		}
		return err
	})
	if forfeits > 0 {
		t.logger().InfoContext(ctx, "expiry run", "forfeits", forfeits)
	}
	return err
}

// HandleLowBalance runs CheckLowBalance and then NotifyWarnings for the
// task's tenant, or for every active tenant, continuing past failures
// like HandleExpireBundles. A warning whose e-mail failed is sent by the
// retry (it has no emailed_at); one already sent is not sent again.
func (t *Tasks) HandleLowBalance(ctx context.Context, task *asynq.Task) error {
	m := t.Mailer
	if m == nil {
		m = LogMailer{Logger: t.logger()}
	}
	// After one failed send, the run stops mailing (the relay is down or
	// hangs: each try could take the whole SMTP timeout) but still records
	// every tenant's warnings; the retry mails them.
	mailDown := false
	return t.eachTenant(ctx, task, func(ctx context.Context, id uuid.UUID) error {
		now := t.now()
		ws, err := CheckLowBalance(ctx, t.DB, id, now)
		if err != nil {
			return err
		}
		for _, w := range ws {
			t.logger().InfoContext(ctx, "low balance", "tenant_id", id, "percent", w.Percent, "remaining", w.Remaining, "cycle", w.Cycle)
		}
		if mailDown {
			return errMailSkipped
		}
		if _, err := NotifyWarnings(ctx, t.DB, m, id, now, t.PublicURL); err != nil {
			mailDown = errors.Is(err, errSend)
			return err
		}
		return nil
	})
}

// errMailSkipped: a tenant's warnings were not mailed because an earlier
// send of the same run failed.
var errMailSkipped = errors.New("e-mail skipped after an earlier send failed in this run")

// eachTenant runs fn for the tenant in task's payload, or for every
// active tenant when it has none, and joins the failures.
func (t *Tasks) eachTenant(ctx context.Context, task *asynq.Task, fn func(context.Context, uuid.UUID) error) error {
	start := time.Now()
	var ids []uuid.UUID
	if p := task.Payload(); len(p) > 0 {
		var tp tenantPayload
		if err := json.Unmarshal(p, &tp); err != nil || tp.TenantID == uuid.Nil {
			return fmt.Errorf("%s: bad payload %q: %w", task.Type(), p, asynq.SkipRetry)
		}
		ids = []uuid.UUID{tp.TenantID}
	} else {
		var err error
		if ids, err = t.DB.ListTenantIDs(ctx); err != nil {
			return fmt.Errorf("%s: %w", task.Type(), err)
		}
	}
	var errs []error
	failed := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			// Out of time: stop rather than collect one context error
			// per remaining tenant.
			errs = append(errs, err)
			break
		}
		if err := fn(ctx, id); err != nil {
			failed++
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
			t.logger().ErrorContext(ctx, "metering task failed for tenant", "type", task.Type(), "tenant_id", id, "err", err)
		}
	}
	t.logger().DebugContext(ctx, "metering task run", "type", task.Type(), "tenants", len(ids), "failed", failed,
		"took", time.Since(start).Round(time.Millisecond))
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", task.Type(), errors.Join(errs...))
	}
	return nil
}
