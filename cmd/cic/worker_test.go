package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/billing/chargeback"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

// TestFixedIDPeriodicTask shows the two halves of the periodic-task
// design on a real Redis: a fixed task ID refuses a second enqueue (what
// keeps replicas from doubling the job), and freeArchived frees an ID held
// by an archived run (what keeps one bad run from stopping the schedule).
func TestFixedIDPeriodicTask(t *testing.T) {
	opt, err := asynq.ParseRedisURI(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	// A queue and ID of this test's own, so no worker anywhere takes it.
	prefix := strings.TrimSuffix(testenv.Prefix(), ":")
	queue, id := prefix+"-q", prefix+"-id"
	p := periodic{spec: "@every 1h", task: asynq.NewTask("test:periodic", nil, asynq.TaskID(id), asynq.Queue(queue)), queue: queue, id: id}

	client := asynq.NewClient(opt)
	defer client.Close()
	in := asynq.NewInspector(opt)
	defer in.Close()
	t.Cleanup(func() { _ = in.DeleteQueue(queue, true) })

	if _, err := client.Enqueue(p.task); err != nil {
		t.Fatalf("first enqueue: %v", err)
	}
	if _, err := client.Enqueue(p.task); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("second enqueue: err = %v, want ErrTaskIDConflict", err)
	}

	free := freeArchived(in, []periodic{p}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	free(p.task, nil)
	if info, err := in.GetTaskInfo(queue, id); err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("a pending run must be left alone: %v, %v", info, err)
	}

	if err := in.ArchiveTask(queue, id); err != nil {
		t.Fatalf("archive: %v", err)
	}
	if _, err := client.Enqueue(p.task); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("enqueue over an archived run: err = %v, want ErrTaskIDConflict", err)
	}
	free(p.task, nil)
	if _, err := in.GetTaskInfo(queue, id); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("archived run still there after freeArchived: %v", err)
	}
	if _, err := client.Enqueue(p.task); err != nil {
		t.Fatalf("enqueue after freeArchived: %v", err)
	}
}

// TestPeriodicTasks: the worker must serve the queue of every periodic
// task and have a handler for it, or the schedule would fill Redis with
// tasks nobody runs.
func TestPeriodicTasks(t *testing.T) {
	mux := taskMux(handlers{tenants: &tenant.Service{}, meter: &metering.Tasks{}, seats: &seats.Service{}, billing: &billing.Tasks{},
		contacts: &contacts.Service{}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	types := map[string]bool{}
	for _, p := range periodicTasks() {
		types[p.task.Type()] = true
		if _, ok := queues[p.queue]; !ok {
			t.Errorf("%s: queue %q is not one the worker serves", p.task.Type(), p.queue)
		}
		if _, pattern := mux.Handler(p.task); pattern == "" {
			t.Errorf("%s: no handler in the worker's mux", p.task.Type())
		}
	}
	for _, typ := range []string{tenant.TypePurgeSessions, metering.TypeExpireBundles, metering.TypeLowBalance, seats.TypeSample, contacts.TypeMeterPending,
		chargeback.TypeMonthly, chargeback.TypePurge} {
		if !types[typ] {
			t.Errorf("%s is not scheduled", typ)
		}
	}
	// The one-tenant runs of the metering jobs go to the same handlers, and
	// so do the reports the periodic ones fan out.
	for _, task := range []*asynq.Task{metering.NewTenantExpireBundlesTask(uuid.New()), metering.NewTenantLowBalanceTask(uuid.New()),
		chargeback.NewGenerateTask(uuid.New(), uuid.New(), chargeback.TasksQueue), chargeback.NewMonthlyTenantTask(uuid.New(), time.Now(), chargeback.TasksQueue)} {
		if _, pattern := mux.Handler(task); pattern == "" {
			t.Errorf("%s (one tenant): no handler", task.Type())
		}
	}
}

// TestMeteringTasksWiring: with SMTP_RELAY the low-balance job mails
// through it, without it the job logs; both metering jobs run from the
// worker's mux against a real database.
func TestMeteringTasksWiring(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, ok := meteringTasks(&app{tenants: &tenant.Service{}}, Config{}, log).Mailer.(metering.LogMailer); !ok {
		t.Error("no SMTP_RELAY: want the log mailer")
	}

	db := testenv.NewDB(t)
	svc := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), nil)
	svc.Password = tenant.FastPasswordParams
	svc.OnSignup = []tenant.SignupHook{metering.TrialHook(metering.DefaultTrial)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := svc.Signup(ctx, tenant.SignupInput{Company: "Wired", Slug: "wired", Name: "Olive", Email: "olive@wired.example",
		Password: "correct horse battery", Currency: "EUR"}, tenant.ClientMeta{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	// The trial expired unused: a forfeit of 250, and nothing left.
	if _, err := db.Owner.Exec(ctx, `UPDATE bundles SET valid_from = now() - interval '2 days', valid_until = now() - interval '1 minute'
		WHERE tenant_id = $1`, res.Tenant.ID); err != nil {
		t.Fatal(err)
	}

	mails := startMailServer(t)
	cfg := Config{SMTPRelay: mails.addr, PublicURL: "https://cic.example.com"}
	mt := meteringTasks(&app{tenants: svc}, cfg, log)
	if m, ok := mt.Mailer.(*metering.SMTPMailer); !ok || m.From != metering.DefaultMailFrom {
		t.Fatalf("mailer %#v", mt.Mailer)
	}
	seatSvc := seats.NewService(svc.DB, seats.NewLeases(testenv.NewRedis(t), testenv.Prefix()), log)
	meter := metering.NewMeter(svc.DB)
	meter.Start()
	defer meter.Close()
	contactSvc := contacts.New(svc.DB, routing.New(testenv.NewRedis(t), testenv.Prefix()), &setup.Service{DB: svc.DB}, meter, log)
	mux := taskMux(handlers{tenants: svc, meter: mt, seats: seatSvc, billing: &billing.Tasks{}, contacts: contactSvc}, log)
	for _, task := range []*asynq.Task{metering.NewExpireBundlesTask(), metering.NewLowBalanceTask(), seats.NewSampleTask(), contacts.NewMeterPendingTask()} {
		if err := mux.ProcessTask(ctx, task); err != nil {
			t.Fatalf("%s: %v", task.Type(), err)
		}
	}
	var forfeited, warned int
	if err := db.Owner.QueryRow(ctx, `SELECT (SELECT coalesce(sum(contacts), 0) FROM forfeits WHERE tenant_id = $1),
		(SELECT count(*) FROM balance_warnings WHERE tenant_id = $1 AND emailed_at IS NOT NULL)`, res.Tenant.ID).Scan(&forfeited, &warned); err != nil {
		t.Fatal(err)
	}
	if forfeited != 250 || warned != 3 {
		t.Errorf("forfeited %d contacts and e-mailed %d warnings, want 250 and 3", forfeited, warned)
	}
	if got := mails.rcpts(); len(got) != 1 || got[0] != "olive@wired.example" {
		t.Errorf("mail to %v, want one message to olive@wired.example", got)
	}
}

// mailSink is a loopback SMTP server that records each message's
// recipients.
type mailSink struct {
	addr string
	mu   sync.Mutex
	to   []string
}

func (s *mailSink) rcpts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.to...)
}

func startMailServer(t *testing.T) *mailSink {
	t.Helper()
	sink := &mailSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: sink}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sink
}

type sinkSession struct {
	sink *mailSink
	to   []string
}

func (s *sinkSession) Reset()                                    { s.to = nil }
func (s *sinkSession) Logout() error                             { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *sinkSession) Data(r io.Reader) error {
	if _, err := io.ReadAll(r); err != nil {
		return err
	}
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	s.sink.to = append(s.sink.to, strings.Join(s.to, ","))
	return nil
}
