package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/billing/chargeback"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

// queues and their weights: a worker takes a task from "critical" six
// times as often as from "low", so housekeeping never starves customer
// work, yet still runs under load.
var queues = map[string]int{"critical": 6, "default": 3, "low": 1}

// periodic is a task that every worker's scheduler enqueues on spec. Each
// one carries a fixed asynq.TaskID (id, in queue) so that replicas do not
// enqueue it twice; see tenant.NewPurgeSessionsTask.
type periodic struct {
	spec  string
	task  *asynq.Task
	queue string
	id    string
}

func periodicTasks() []periodic {
	out := []periodic{
		{spec: tenant.PurgeSessionsSchedule, task: tenant.NewPurgeSessionsTask(), queue: tenant.PurgeSessionsQueue, id: tenant.TypePurgeSessions},
		{spec: metering.ExpireBundlesSchedule, task: metering.NewExpireBundlesTask(), queue: metering.TasksQueue, id: metering.TypeExpireBundles},
		{spec: metering.LowBalanceSchedule, task: metering.NewLowBalanceTask(), queue: metering.TasksQueue, id: metering.TypeLowBalance},
		{spec: seats.SampleSchedule, task: seats.NewSampleTask(), queue: seats.TasksQueue, id: seats.TypeSample},
		{spec: contacts.MeterPendingSchedule, task: contacts.NewMeterPendingTask(), queue: contacts.TasksQueue, id: contacts.TypeMeterPending},
	}
	for _, p := range billing.Periodic() {
		out = append(out, periodic{spec: p.Spec, task: p.Task, queue: billing.TasksQueue, id: p.Task.Type()})
	}
	out = append(out,
		periodic{spec: chargeback.MonthlySchedule, task: chargeback.NewMonthlyTask(), queue: chargeback.TasksQueue, id: chargeback.TypeMonthly},
		periodic{spec: chargeback.PurgeSchedule, task: chargeback.NewPurgeTask(), queue: chargeback.TasksQueue, id: chargeback.TypePurge})
	return out
}

// handlers are the services whose jobs the worker runs.
type handlers struct {
	tenants  *tenant.Service
	meter    *metering.Tasks
	seats    *seats.Service
	billing  *billing.Tasks
	contacts *contacts.Service
	reports  *chargeback.Service
}

// taskMux routes every task type the worker runs to its handler.
func taskMux(h handlers, log *slog.Logger) *asynq.ServeMux {
	tenants, meter, seatSvc, bill := h.tenants, h.meter, h.seats, h.billing
	mux := asynq.NewServeMux()
	mux.Use(logTasks(log))
	mux.HandleFunc(tenant.TypePurgeSessions, tenants.HandlePurgeSessions)
	mux.HandleFunc(metering.TypeExpireBundles, meter.HandleExpireBundles)
	mux.HandleFunc(metering.TypeLowBalance, meter.HandleLowBalance)
	mux.HandleFunc(seats.TypeSample, seatSvc.HandleSample)
	mux.HandleFunc(contacts.TypeMeterPending, h.contacts.HandleMeterPending)
	mux.HandleFunc(billing.TypeCreateCustomer, bill.HandleCreateCustomer)
	mux.HandleFunc(billing.TypeSyncCatalog, bill.HandleSyncCatalog)
	mux.HandleFunc(billing.TypeOverage, bill.HandleOverage)
	mux.HandleFunc(billing.TypeChargeOverage, bill.HandleChargeOverage)
	mux.HandleFunc(billing.TypeTopups, bill.HandleTopups)
	mux.HandleFunc(billing.TypeChargeTopup, bill.HandleChargeTopup)
	mux.HandleFunc(billing.TypeReconcile, bill.HandleReconcile)
	mux.HandleFunc(billing.TypeDunning, bill.HandleDunning)
	mux.HandleFunc(chargeback.TypeGenerate, h.reports.HandleGenerate)
	mux.HandleFunc(chargeback.TypeMonthly, h.reports.HandleMonthly)
	mux.HandleFunc(chargeback.TypeMonthlyTenant, h.reports.HandleMonthlyTenant)
	mux.HandleFunc(chargeback.TypePurge, h.reports.HandlePurge)
	return mux
}

// meteringTasks wires the metering jobs: the app's database, and e-mail
// through SMTP_RELAY (logged instead when it is not set).
func meteringTasks(a *app, cfg Config, log *slog.Logger) *metering.Tasks {
	if cfg.SMTPRelay == "" {
		log.Info("e-mail is off (SMTP_RELAY not set): low-balance warnings are logged, not mailed")
	}
	return &metering.Tasks{
		DB:        a.tenants.DB,
		Mailer:    metering.NewMailer(cfg.SMTPRelay, cfg.SMTPFrom, log),
		PublicURL: cfg.PublicURL,
		Logger:    log,
	}
}

func (m *Main) worker(ctx context.Context, cfg Config, log *slog.Logger) error {
	slog.SetDefault(log)
	// The worker issues no tokens, so a throwaway key serves: worker
	// replicas then need neither the key file nor the JWT_KEYS secret.
	a, err := openApp(ctx, cfg, log, tenant.GenerateKeys(), m.passwords)
	if err != nil {
		return err
	}
	defer a.Close()

	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL for asynq: %w", err)
	}
	alog := asynqLogger{log.With("component", "asynq")}
	level := asynqLevel(cfg.LogLevel)

	// The worker meters the contacts a crash left unmetered.
	meter := metering.NewMeter(a.tenants.DB)
	meter.Logger = log
	meter.Start()
	defer meter.Close()
	routingSetup := &setup.Service{DB: a.tenants.DB}
	contactSvc := contacts.New(a.tenants.DB, routing.New(a.redis, redisPrefix), routingSetup, meter, log)

	meterTasks := meteringTasks(a, cfg, log)
	mux := taskMux(handlers{tenants: a.tenants, meter: meterTasks, seats: a.seats,
		billing: &billing.Tasks{Billing: a.billing, Client: a.jobs, Mailer: meterTasks.Mailer, Logger: log}, contacts: contactSvc,
		reports: newReports(a, cfg, log, meterTasks.Mailer)}, log)

	srv := asynq.NewServer(redisOpt, asynq.Config{
		Queues:          queues,
		Logger:          alog,
		LogLevel:        level,
		ShutdownTimeout: shutdownTimeout,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			id, _ := asynq.GetTaskID(ctx)
			log.Error("task failed", "type", t.Type(), "task_id", id, "retried", retried, "max_retry", maxRetry, "err", err)
		}),
		HealthCheckFunc: func(err error) {
			if err != nil {
				log.Warn("redis health check failed", "err", err)
			}
		},
	})

	tasks := periodicTasks()
	inspector := asynq.NewInspector(redisOpt)
	defer inspector.Close()
	preEnqueue := freeArchived(inspector, tasks, log)
	scheduler := asynq.NewScheduler(redisOpt, &asynq.SchedulerOpts{
		Logger:          alog,
		LogLevel:        level,
		Location:        time.UTC,
		PreEnqueueFunc:  preEnqueue,
		PostEnqueueFunc: logEnqueue(log),
	})
	for _, p := range tasks {
		if _, err := scheduler.Register(p.spec, p.task); err != nil {
			return fmt.Errorf("schedule %s %q: %w", p.task.Type(), p.spec, err)
		}
		log.Info("scheduled", "type", p.task.Type(), "spec", p.spec, "queue", p.queue)
	}

	// "@every" first fires a full interval after start, so a worker
	// restarted more often than that (deploys) would never run the task:
	// enqueue each once now. The fixed task ID makes this a no-op when
	// another replica has it queued or ran it within its retention.
	client := asynq.NewClient(redisOpt)
	defer client.Close()
	for _, p := range tasks {
		preEnqueue(p.task, nil)
		logEnqueue(log)(client.EnqueueContext(ctx, p.task))
	}

	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	if err := scheduler.Start(); err != nil {
		srv.Shutdown()
		return fmt.Errorf("start scheduler: %w", err)
	}
	log.Info("worker running", "queues", queues)

	<-ctx.Done()
	log.Info("shutting down", "timeout", shutdownTimeout)
	// The scheduler first, so nothing is enqueued while the server drains.
	scheduler.Shutdown()
	srv.Shutdown()
	log.Info("stopped")
	return nil
}

// logEnqueue reports the outcome of enqueueing a periodic task.
func logEnqueue(log *slog.Logger) func(*asynq.TaskInfo, error) {
	return func(info *asynq.TaskInfo, err error) {
		switch {
		case err == nil:
			log.Info("periodic task enqueued", "type", info.Type, "task_id", info.ID, "queue", info.Queue)
		case errors.Is(err, asynq.ErrTaskIDConflict):
			// Another replica enqueued it, or it ran within its
			// retention window: exactly what the fixed ID is for.
			log.Debug("periodic task already enqueued or recently run", "err", err)
		default:
			log.Error("could not enqueue periodic task", "err", err)
		}
	}
}

// freeArchived runs before each scheduled enqueue. A periodic task whose
// retries are exhausted is archived under its fixed ID, and asynq keeps
// archived tasks for months: the ID would stay taken and the schedule
// would silently stop. Deleting that archived run (its failure is already
// in the log, from the ErrorHandler) lets this tick enqueue it afresh.
func freeArchived(in *asynq.Inspector, tasks []periodic, log *slog.Logger) func(*asynq.Task, []asynq.Option) {
	byType := make(map[string]periodic, len(tasks))
	for _, p := range tasks {
		byType[p.task.Type()] = p
	}
	return func(t *asynq.Task, _ []asynq.Option) {
		p, ok := byType[t.Type()]
		if !ok {
			return
		}
		info, err := in.GetTaskInfo(p.queue, p.id)
		if err != nil {
			if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
				log.Warn("inspect periodic task", "type", p.task.Type(), "err", err)
			}
			return
		}
		if info.State != asynq.TaskStateArchived {
			return
		}
		if err := in.DeleteTask(p.queue, p.id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			log.Warn("delete archived periodic task", "type", p.task.Type(), "err", err)
			return
		}
		log.Warn("previous run of periodic task failed all retries; cleared it so the schedule continues",
			"type", p.task.Type(), "last_err", info.LastErr)
	}
}

// logTasks logs every successful task with its duration; failures are
// logged once, by the server's ErrorHandler.
func logTasks(log *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			start := time.Now()
			err := next.ProcessTask(ctx, t)
			if err == nil {
				id, _ := asynq.GetTaskID(ctx)
				log.Info("task done", "type", t.Type(), "task_id", id, "took", time.Since(start).Round(time.Millisecond))
			}
			return err
		})
	}
}

// asynqLogger sends asynq's own messages to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }

// Fatal is asynq's "cannot go on"; its contract is to exit the process.
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...))
	os.Exit(1)
}

func asynqLevel(l slog.Level) asynq.LogLevel {
	switch {
	case l <= slog.LevelDebug:
		return asynq.DebugLevel
	case l <= slog.LevelInfo:
		return asynq.InfoLevel
	case l <= slog.LevelWarn:
		return asynq.WarnLevel
	default:
		return asynq.ErrorLevel
	}
}
