package metering_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
)

func (e *env) tasks(m metering.Mailer) *metering.Tasks {
	return &metering.Tasks{DB: e.Tenants.DB, Mailer: m, PublicURL: "https://cic.example.com",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestTaskDefinitions(t *testing.T) {
	for _, tc := range []struct {
		task *asynq.Task
		typ  string
	}{
		{metering.NewExpireBundlesTask(), metering.TypeExpireBundles},
		{metering.NewLowBalanceTask(), metering.TypeLowBalance},
	} {
		if tc.task.Type() != tc.typ || len(tc.task.Payload()) != 0 {
			t.Errorf("%s: type %q payload %q", tc.typ, tc.task.Type(), tc.task.Payload())
		}
	}
	if got := metering.NewTenantLowBalanceTask(uuid.New()).Type(); got != metering.TypeLowBalance {
		t.Errorf("tenant task type %q", got)
	}
}

// TestHandleExpireBundles walks every tenant, goes on past one tenant's
// failure, reports it so asynq retries, and is idempotent.
func TestHandleExpireBundles(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	a := e.newTenant(t, "acme")
	b := e.newTenant(t, "bravo")
	bad := e.newTenant(t, "broken")
	now := time.Now()
	ba := e.addBundle(t, a, 100, 100, now.Add(-48*time.Hour), now.Add(-time.Hour))
	e.use(t, a, ba, 30)
	bb := e.addBundle(t, b, 10, 50, now.Add(-48*time.Hour), now.Add(-time.Hour))
	live := e.addBundle(t, b, 10, 50, now.Add(-48*time.Hour), now.Add(time.Hour))
	// A bundle whose forfeit value overflows bigint: this tenant's expiry
	// fails every time, which must not hold up the others.
	e.addBundle(t, bad, 1<<40, 1<<30, now.Add(-48*time.Hour), now.Add(-time.Hour))

	h := e.tasks(nil)
	err := h.HandleExpireBundles(c, metering.NewExpireBundlesTask())
	if err == nil || !strings.Contains(err.Error(), bad.String()) {
		t.Fatalf("err = %v, want one naming tenant %s", err, bad)
	}
	if strings.Contains(err.Error(), a.String()) || strings.Contains(err.Error(), b.String()) {
		t.Errorf("healthy tenants in the error: %v", err)
	}
	if f, ok := e.forfeit(t, a, ba); !ok || f.Contacts != 70 || f.ValueNum != 7000 || f.ValueDen != 100 {
		t.Errorf("acme forfeit %+v %v", f, ok)
	}
	if f, ok := e.forfeit(t, b, bb); !ok || f.Contacts != 10 || f.ValueNum != 500 || f.ValueDen != 10 {
		t.Errorf("bravo forfeit %+v %v", f, ok)
	}
	if _, ok := e.forfeit(t, b, live); ok {
		t.Error("live bundle forfeited")
	}

	// Repair the broken tenant; the retry forfeits it and repeats nothing.
	if _, err := e.DB.Owner.Exec(c, `UPDATE bundles SET price_minor = 0 WHERE tenant_id = $1`, bad); err != nil {
		t.Fatal(err)
	}
	if err := h.HandleExpireBundles(c, metering.NewExpireBundlesTask()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.DB.Owner.QueryRow(c, `SELECT count(*) FROM forfeits`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// Three bundles: acme's, bravo's, broken's.
	if n != 3 {
		t.Fatalf("%d forfeits, want 3", n)
	}

	// A one-tenant run touches that tenant only.
	e.addBundle(t, a, 5, 5, now.Add(-48*time.Hour), now.Add(-time.Minute))
	e.addBundle(t, b, 5, 5, now.Add(-48*time.Hour), now.Add(-time.Minute))
	if err := h.HandleExpireBundles(c, metering.NewTenantExpireBundlesTask(a)); err != nil {
		t.Fatal(err)
	}
	if err := e.DB.Owner.QueryRow(c, `SELECT count(*) FROM forfeits`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("%d forfeits, want 4", n)
	}
	e.checkInvariants(t)
}

func TestHandleLowBalance(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	low := e.newTenant(t, "low")
	fine := e.newTenant(t, "fine")
	e.use(t, low, e.trialBundle(t, low), 245) // 5 left, 2 %
	e.use(t, fine, e.trialBundle(t, fine), 10)

	ms := newMailServer(t)
	h := e.tasks(&metering.SMTPMailer{Addr: ms.Addr, From: "cic@cic.example", Timeout: 5 * time.Second})

	// The mail server is down for the first run: the warnings are
	// recorded, the run fails (asynq retries), nothing is marked e-mailed.
	ms.setFailData(&smtp.SMTPError{Code: 451, Message: "later"})
	if err := h.HandleLowBalance(c, metering.NewLowBalanceTask()); err == nil || !strings.Contains(err.Error(), low.String()) {
		t.Fatalf("err = %v, want the low tenant's send failure", err)
	}
	if emailed, total := e.emailedCount(t, low); emailed != 0 || total != 2 {
		t.Fatalf("low: emailed %d of %d, want 0 of 2", emailed, total)
	}
	// The retry mails, once.
	ms.setFailData(nil)
	for range 2 {
		if err := h.HandleLowBalance(c, metering.NewLowBalanceTask()); err != nil {
			t.Fatal(err)
		}
	}
	got := ms.messages()
	if len(got) != 1 || strings.Join(got[0].To, ",") != "owner@low.example" {
		t.Fatalf("messages %+v", got)
	}
	if _, body := got[0].parsed(t); !strings.Contains(body, "https://cic.example.com") {
		t.Errorf("no link in %q", body)
	}
	if emailed, total := e.emailedCount(t, low); emailed != 2 || total != 2 {
		t.Fatalf("low: emailed %d of %d, want 2 of 2", emailed, total)
	}
	if _, total := e.emailedCount(t, fine); total != 0 {
		t.Fatalf("fine: %d warnings", total)
	}
	if u, err := metering.UnreadWarnings(c, e.Tenants.DB, low); err != nil || !equalInts(percents(u), []int{5, 20}) &&
		!equalInts(percents(u), []int{20, 5}) {
		t.Fatalf("unread %v, %v", u, err)
	}

	// A one-tenant run; with no mailer it logs instead of mailing.
	e.use(t, fine, e.trialBundle(t, fine), 240)
	if err := e.tasks(nil).HandleLowBalance(c, metering.NewTenantLowBalanceTask(fine)); err != nil {
		t.Fatal(err)
	}
	if emailed, total := e.emailedCount(t, fine); emailed != 3 || total != 3 {
		t.Fatalf("fine: emailed %d of %d, want 3 of 3 (logged)", emailed, total)
	}
	if len(ms.messages()) != 1 {
		t.Fatal("the log mailer sent mail")
	}
}

func TestHandleBadPayload(t *testing.T) {
	h := &metering.Tasks{}
	for _, p := range []string{`nope`, `{"tenant_id":"00000000-0000-0000-0000-000000000000"}`} {
		err := h.HandleLowBalance(ctx(t), asynq.NewTask(metering.TypeLowBalance, []byte(p)))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("payload %s: err = %v, want SkipRetry", p, err)
		}
		err = h.HandleExpireBundles(ctx(t), asynq.NewTask(metering.TypeExpireBundles, []byte(p)))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("payload %s: err = %v, want SkipRetry", p, err)
		}
	}
}

// TestEnqueueTenantTasks: one tenant's on-demand runs are deduplicated by
// their task ID, on a real Redis (in a queue of the test's own, which no
// worker serves).
func TestEnqueueTenantTasks(t *testing.T) {
	opt, err := asynq.ParseRedisURI(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	in := asynq.NewInspector(opt)
	defer in.Close()
	queue := strings.TrimSuffix(testenv.Prefix(), ":") + "-q"
	t.Cleanup(func() { _ = in.DeleteQueue(queue, true) })
	id := uuid.New()
	for range 2 {
		if err := metering.EnqueueLowBalance(ctx(t), client, id, asynq.Queue(queue)); err != nil {
			t.Fatal(err)
		}
		if err := metering.EnqueueExpireBundles(ctx(t), client, id, asynq.Queue(queue)); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := in.ListPendingTasks(queue)
	if err != nil || len(tasks) != 2 {
		t.Fatalf("%d pending tasks, want 2 (%v)", len(tasks), err)
	}
	for _, ti := range tasks {
		if ti.ID != ti.Type+":"+id.String() || string(ti.Payload) != `{"tenant_id":"`+id.String()+`"}` {
			t.Errorf("task %s %s %s", ti.ID, ti.Type, ti.Payload)
		}
	}
}

// TestHandleLowBalance_MailDown: once a send fails, the run stops trying
// to mail (each try could take the whole SMTP timeout) but still records
// every tenant's warnings; the retry mails them all.
func TestHandleLowBalance_MailDown(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	var ids []uuid.UUID
	for i := range 3 {
		id := e.newTenant(t, "low-"+itoa(i))
		e.use(t, id, e.trialBundle(t, id), 250)
		ids = append(ids, id)
	}
	calls, down := 0, true
	m := mailerFunc(func(context.Context, metering.Message) error {
		calls++
		if down {
			return errors.New("connection refused")
		}
		return nil
	})
	h := e.tasks(m)
	err := h.HandleLowBalance(c, metering.NewLowBalanceTask())
	if err == nil || calls != 1 {
		t.Fatalf("err = %v after %d sends, want an error after 1", err, calls)
	}
	for _, id := range ids {
		if !strings.Contains(err.Error(), id.String()) {
			t.Errorf("error does not name tenant %s: %v", id, err)
		}
		if emailed, total := e.emailedCount(t, id); emailed != 0 || total != 3 {
			t.Errorf("tenant %s: emailed %d of %d, want 0 of 3", id, emailed, total)
		}
	}
	down, calls = false, 0
	if err := h.HandleLowBalance(c, metering.NewLowBalanceTask()); err != nil || calls != 3 {
		t.Fatalf("retry: %v after %d sends, want 3", err, calls)
	}
	for _, id := range ids {
		if emailed, _ := e.emailedCount(t, id); emailed != 3 {
			t.Errorf("tenant %s: emailed %d, want 3", id, emailed)
		}
	}
}
