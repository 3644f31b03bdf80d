package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// Task types of the billing worker. The periodic ones (fixed task ids,
// like metering's) fan out one task per tenant whose id is deterministic:
// tenant and period for overage, the request for a top-up, so a second
// enqueue of the same work is refused by asynq while the first is queued,
// retrying or archived (failed for good: visible on the operator page).
const (
	TypeCreateCustomer = "billing:create_customer"
	TypeSyncCatalog    = "billing:sync_catalog"
	TypeOverage        = "billing:overage"
	TypeChargeOverage  = "billing:charge_overage"
	TypeTopups         = "billing:topups"
	TypeChargeTopup    = "billing:charge_topup"
	TypeReconcile      = "billing:reconcile"
	TypeDunning        = "billing:dunning"
)

// Schedules of the periodic tasks.
const (
	SyncCatalogSchedule = "@every 1h"
	OverageSchedule     = "@every 1h"
	TopupsSchedule      = "@every 1m"
	ReconcileSchedule   = "@every 24h"
	DunningSchedule     = "@every 5m"
)

// TasksQueue is the asynq queue of billing's jobs: money first.
const TasksQueue = "critical"

// PeriodicTask is a task the worker's scheduler enqueues on Spec.
type PeriodicTask struct {
	Spec string
	Task *asynq.Task
}

// Periodic returns the periodic billing tasks with their schedules.
func Periodic() []PeriodicTask {
	return []PeriodicTask{
		{SyncCatalogSchedule, NewSyncCatalogTask()},
		{OverageSchedule, periodicTask(TypeOverage, 50*time.Minute)},
		{TopupsSchedule, periodicTask(TypeTopups, 40*time.Second)},
		{ReconcileSchedule, periodicTask(TypeReconcile, 20*time.Hour)},
		{DunningSchedule, periodicTask(TypeDunning, 4*time.Minute)},
	}
}

// periodicTask has a fixed id kept for retention (below the schedule), so
// replicas' schedulers run it once per interval (see metering's).
func periodicTask(typ string, retention time.Duration) *asynq.Task {
	return asynq.NewTask(typ, nil, asynq.TaskID(typ), asynq.Queue(TasksQueue), asynq.Retention(retention),
		asynq.MaxRetry(3), asynq.Timeout(10*time.Minute))
}

// NewSyncCatalogTask syncs the catalogue to Stripe (also enqueued after
// the operator edits it).
func NewSyncCatalogTask() *asynq.Task { return periodicTask(TypeSyncCatalog, 50*time.Minute) }

type payload struct {
	TenantID  uuid.UUID `json:"tenant_id"`
	Period    string    `json:"period,omitempty"`     // overage: YYYY-MM
	RequestID uuid.UUID `json:"request_id,omitempty"` // top-up
}

// oneTenantTask is a retried job about one tenant. asynq retries with its
// default exponential backoff; MaxRetry spans about a day.
func oneTenantTask(typ, id string, p payload, retention time.Duration) *asynq.Task {
	raw, _ := json.Marshal(p)
	return asynq.NewTask(typ, raw, asynq.TaskID(typ+":"+id), asynq.Queue(TasksQueue), asynq.Retention(retention),
		asynq.MaxRetry(15), asynq.Timeout(2*time.Minute))
}

// NewCreateCustomerTask creates the tenant's Stripe customer.
func NewCreateCustomerTask(tenantID uuid.UUID) *asynq.Task {
	return oneTenantTask(TypeCreateCustomer, tenantID.String(), payload{TenantID: tenantID}, 24*time.Hour)
}

// NewChargeOverageTask charges one tenant's overage of one month.
func NewChargeOverageTask(tenantID uuid.UUID, period time.Time) *asynq.Task {
	p := MonthOf(period).Format("2006-01")
	return oneTenantTask(TypeChargeOverage, tenantID.String()+":"+p, payload{TenantID: tenantID, Period: p}, 24*time.Hour)
}

// NewChargeTopupTask charges one top-up request.
func NewChargeTopupTask(tenantID, requestID uuid.UUID) *asynq.Task {
	return oneTenantTask(TypeChargeTopup, requestID.String(), payload{TenantID: tenantID, RequestID: requestID}, time.Hour)
}

// AfterSignup is tenant.Service's AfterSignup hook: it enqueues the
// customer creation, which runs (and retries) in the worker.
func AfterSignup(c *asynq.Client) func(context.Context, tenant.Tenant) error {
	return func(ctx context.Context, t tenant.Tenant) error {
		return enqueue(ctx, c, NewCreateCustomerTask(t.ID))
	}
}

// enqueue treats "already queued or recently done" as done.
func enqueue(ctx context.Context, c *asynq.Client, t *asynq.Task) error {
	if _, err := c.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// Tasks runs the billing worker's jobs.
type Tasks struct {
	Billing *Service
	// Client enqueues the per-tenant jobs the periodic ones fan out.
	Client *asynq.Client
	// Mailer sends the failed-payment e-mail; nil logs it instead.
	Mailer metering.Mailer
	Logger *slog.Logger
}

func (t *Tasks) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}

func readPayload(task *asynq.Task) (payload, error) {
	var p payload
	if err := json.Unmarshal(task.Payload(), &p); err != nil || p.TenantID == uuid.Nil {
		return p, fmt.Errorf("%s: bad payload %q: %w", task.Type(), task.Payload(), asynq.SkipRetry)
	}
	return p, nil
}

// HandleCreateCustomer creates the tenant's Stripe customer (idempotent).
func (t *Tasks) HandleCreateCustomer(ctx context.Context, task *asynq.Task) error {
	p, err := readPayload(task)
	if err != nil {
		return err
	}
	id, err := t.Billing.EnsureCustomer(ctx, p.TenantID)
	if err != nil {
		return fmt.Errorf("create customer: %w", err)
	}
	if id != "" {
		t.logger().InfoContext(ctx, "stripe customer", "tenant_id", p.TenantID, "customer", id)
	}
	return nil
}

// HandleSyncCatalog syncs the catalogue to Stripe.
func (t *Tasks) HandleSyncCatalog(ctx context.Context, _ *asynq.Task) error {
	n, err := t.Billing.SyncCatalog(ctx)
	if n > 0 {
		t.logger().InfoContext(ctx, "catalogue synced to stripe", "created", n)
	}
	return err
}

// HandleOverage enqueues a charge for every tenant with uncharged overage
// in the month before the current one.
func (t *Tasks) HandleOverage(ctx context.Context, _ *asynq.Task) error {
	if t.Billing.Mode() == ModeOff {
		return nil
	}
	period := MonthOf(t.Billing.now()).AddDate(0, -1, 0)
	end := period.AddDate(0, 1, 0)
	return t.fanOut(ctx, func(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*asynq.Task, error) {
		var due bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM meter_records WHERE tenant_id = $1 AND bundle_id IS NULL
				AND metered_at >= $2 AND metered_at < $3)
			AND NOT EXISTS (SELECT 1 FROM overage_charges WHERE tenant_id = $1 AND period = $2 AND status = 'charged')`,
			id, period, end).Scan(&due)
		if err != nil || !due {
			return nil, err
		}
		return NewChargeOverageTask(id, period), nil
	})
}

// HandleChargeOverage charges one tenant's month.
func (t *Tasks) HandleChargeOverage(ctx context.Context, task *asynq.Task) error {
	p, err := readPayload(task)
	if err != nil {
		return err
	}
	period, err := time.Parse("2006-01", p.Period)
	if err != nil {
		return fmt.Errorf("%s: bad period %q: %w", task.Type(), p.Period, asynq.SkipRetry)
	}
	ch, err := t.Billing.ChargeOverage(ctx, p.TenantID, period)
	if err != nil {
		return fmt.Errorf("charge overage: %w", err)
	}
	if ch != nil {
		t.logger().InfoContext(ctx, "overage charged", "tenant_id", p.TenantID, "period", p.Period, "contacts", ch.Contacts,
			"amount_minor", ch.AmountMinor, "currency", ch.Currency, "invoice_item", ch.InvoiceItemID)
	}
	return nil
}

// HandleTopups enqueues a charge for every pending top-up request.
func (t *Tasks) HandleTopups(ctx context.Context, _ *asynq.Task) error {
	if t.Billing.Mode() == ModeOff {
		return nil
	}
	return t.fanOut(ctx, func(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*asynq.Task, error) {
		var req uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id FROM topup_requests WHERE tenant_id = $1 AND status = 'pending'`, id).Scan(&req)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return NewChargeTopupTask(id, req), nil
	})
}

// HandleChargeTopup charges one tenant's pending top-up.
func (t *Tasks) HandleChargeTopup(ctx context.Context, task *asynq.Task) error {
	p, err := readPayload(task)
	if err != nil {
		return err
	}
	out, err := t.Billing.ProcessTopups(ctx, p.TenantID)
	if err != nil {
		return fmt.Errorf("auto top-up: %w", err)
	}
	t.logger().InfoContext(ctx, "auto top-up", "tenant_id", p.TenantID, "request_id", p.RequestID,
		"paid", out.Paid, "failed", out.Failed, "skipped", out.Skipped)
	return nil
}

// HandleReconcile compares every tenant's ledger with Stripe.
func (t *Tasks) HandleReconcile(ctx context.Context, task *asynq.Task) error {
	ids, err := t.Billing.DB.ListTenantIDs(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", task.Type(), err)
	}
	var errs []error
	found := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		fs, err := t.Billing.Reconcile(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
			continue
		}
		found += len(fs)
	}
	t.logger().InfoContext(ctx, "reconciliation", "tenants", len(ids), "new_findings", found, "failed", len(errs))
	return errors.Join(errs...)
}

// HandleDunning tells every tenant in dunning (once per episode) and
// audits the seats that ran out of grace.
func (t *Tasks) HandleDunning(ctx context.Context, task *asynq.Task) error {
	m := t.Mailer
	if m == nil {
		m = metering.LogMailer{Logger: t.logger()}
	}
	ids, err := t.Billing.DB.ListTenantIDs(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", task.Type(), err)
	}
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		n, err := t.Billing.NotifyDunning(ctx, id, m, t.Billing.PublicURL)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
			continue
		}
		if n > 0 {
			t.logger().InfoContext(ctx, "failed-payment e-mail sent", "tenant_id", id)
		}
	}
	return errors.Join(errs...)
}

// fanOut asks pick, in each active tenant's transaction, which task (if
// any) that tenant needs, and enqueues it. Failures are joined so asynq
// retries the run; picking and enqueueing twice is harmless.
func (t *Tasks) fanOut(ctx context.Context, pick func(context.Context, pgx.Tx, uuid.UUID) (*asynq.Task, error)) error {
	ids, err := t.Billing.DB.ListTenantIDs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		var task *asynq.Task
		err := t.Billing.DB.Tx(ctx, id, func(tx pgx.Tx) (err error) {
			task, err = pick(ctx, tx, id)
			return err
		})
		if err == nil && task != nil {
			err = enqueue(ctx, t.Client, task)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
