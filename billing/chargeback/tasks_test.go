package chargeback

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
)

// worker runs the report jobs of e's service on a real asynq server, on
// a queue of the test's own.
func (e *env) worker(t *testing.T) (*asynq.Client, *asynq.Inspector, string) {
	t.Helper()
	opt, err := asynq.ParseRedisURI(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	in := asynq.NewInspector(opt)
	queue := strings.TrimSuffix(testenv.Prefix(), ":") + "-reports"
	e.Svc.Jobs, e.Svc.Queue = client, queue
	srv := asynq.NewServer(opt, asynq.Config{Queues: map[string]int{queue: 1}, Concurrency: 2, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeGenerate, e.Svc.HandleGenerate)
	mux.HandleFunc(TypeMonthlyTenant, e.Svc.HandleMonthlyTenant)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		_ = in.DeleteQueue(queue, true)
		in.Close()
		client.Close()
	})
	return client, in, queue
}

// seedMany inserts n contacts metered in [from, from+span) from one bundle.
func (e *env) seedMany(t testing.TB, tenantID uuid.UUID, from time.Time, span time.Duration, n int) {
	t.Helper()
	b := e.bundle(t, tenantID, 1_000_000, 1_900_000, from.Add(-time.Hour))
	rs := make([]rec, n)
	for i := range rs {
		rs[i] = rec{ID: fmt.Sprintf("c-%06d", i), Bundle: &b, Num: 1_900_000, Den: 1_000_000, Queue: "Q" + fmt.Sprint(i%3),
			Department: "D", CostCentre: "CC-1", Metered: from.Add(span / time.Duration(n) * time.Duration(i))}
	}
	e.insert(t, tenantID, rs)
}

// TestGenerateTask_ProgressReachesOneHundredAndTheFilesAreThere: a report
// asked for through the API runs on the worker; while it runs its
// progress only grows (rows done of rows total), it ends done at 100, the
// requester is told by e-mail, and its three files read back whole.
func TestGenerateTask_ProgressReachesOneHundredAndTheFilesAreThere(t *testing.T) {
	e := newEnv(t)
	e.Mail.msgs = make(chan metering.Message, 4)
	e.worker(t)
	owner := e.signup(t, "acme")
	fin := e.user(t, owner, "finance@acme.example", cic.RoleFinance)
	month := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 60000
	if testing.Short() {
		n = 5000
	}
	e.seedMany(t, owner.TenantID, month, 30*24*time.Hour, n)
	e.Svc.Now = func() time.Time { return month.AddDate(0, 2, 0) }

	r, err := e.Svc.Request(ctx(t), fin, RequestInput{From: "2026-01-01", To: "2026-02-01", Dimension: "queue"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusQueued || r.CreatedBy == nil || *r.CreatedBy != fin.UserID {
		t.Fatalf("requested: %+v", r)
	}
	var seen []int
	deadline := time.Now().Add(time.Minute)
	for {
		cur, err := e.Svc.Get(ctx(t), fin, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != cur.Progress {
			seen = append(seen, cur.Progress)
		}
		if cur.RowsDone > cur.RowsTotal {
			t.Fatalf("%d rows done of %d", cur.RowsDone, cur.RowsTotal)
		}
		if cur.Status == StatusDone {
			r = cur
			break
		}
		if cur.Status == StatusFailed || time.Now().After(deadline) {
			t.Fatalf("report %s: %+v", cur.Status, cur)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Fatalf("progress went back: %v", seen)
		}
	}
	t.Logf("progress seen: %v", seen)
	if seen[len(seen)-1] != 100 || r.RowsDone != int64(n) || r.RowsTotal != int64(n) || r.FinishedAt == nil {
		t.Fatalf("done: progress %v rows %d/%d", seen, r.RowsDone, r.RowsTotal)
	}
	if !testing.Short() && len(seen) < 3 {
		t.Errorf("progress seen only at %v: want steps in between", seen)
	}
	// 1.9 cents a contact, exactly.
	if r.Summary.Totals.CostMinor != int64(n)*19/10 || len(r.Summary.Groups) != 3 {
		t.Fatalf("totals %+v groups %d", r.Summary.Totals, len(r.Summary.Groups))
	}
	for _, f := range Formats {
		_, file, err := e.Svc.Download(ctx(t), fin, r.ID, f, "test")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		file.Close()
	}
	lines := csvRecords(t, e.file(t, owner.TenantID, r.ID, FormatCSV))
	if len(lines) != n || lines[0]["ResourceId"] != "c-000000" || lines[n-1]["x_Queue"] != fmt.Sprintf("Q%d", (n-1)%3) {
		t.Fatalf("%d lines, first %v", len(lines), lines[0])
	}
	select {
	case m := <-e.Mail.msgs:
		if len(m.To) != 1 || m.To[0].Address != "finance@acme.example" || !strings.Contains(m.Body, "/reports/"+r.ID.String()) {
			t.Fatalf("mail %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no mail")
	}
	// Running it again (a duplicate delivery) changes nothing.
	if err := e.Svc.HandleGenerate(ctx(t), NewGenerateTask(owner.TenantID, r.ID, "x")); err != nil {
		t.Fatal(err)
	}
	again, _ := e.Svc.Get(ctx(t), fin, r.ID)
	if again.FinishedAt == nil || !again.FinishedAt.Equal(*r.FinishedAt) {
		t.Fatalf("a second run redid the report")
	}
}

// TestRequest_RolesAndLimits: only finance and the owner ask; a tenant
// has at most MaxActive reports in the making.
func TestRequest_RolesAndLimits(t *testing.T) {
	e := newEnv(t)
	_, in, queue := e.worker(t)
	// Nobody serves the queue in this test: pause it so reports stay queued.
	if err := in.PauseQueue(queue); err != nil {
		t.Fatal(err)
	}
	owner := e.signup(t, "acme")
	in2 := RequestInput{From: "2026-01-01", To: "2026-01-02"}
	for _, role := range []cic.Role{cic.RoleAdmin, cic.RoleSupervisor, cic.RoleAgent} {
		u := e.user(t, owner, string(role)+"@acme.example", role)
		if _, err := e.Svc.Request(ctx(t), u, in2); cic.ErrorKind(err) != cic.EFORBIDDEN {
			t.Errorf("%s: %v", role, err)
		}
		if _, _, err := e.Svc.List(ctx(t), u, ListFilter{}); cic.ErrorKind(err) != cic.EFORBIDDEN {
			t.Errorf("%s list: %v", role, err)
		}
	}
	for i := range DefaultMaxActive {
		if _, err := e.Svc.Request(ctx(t), owner, in2); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := e.Svc.Request(ctx(t), owner, in2)
	if ce, ok := cic.AsError(err); !ok || ce.Code != "too_many_reports" {
		t.Fatalf("one too many: %v", err)
	}
	// Without a job queue nothing can be asked for, and nothing is left.
	e.Svc.Jobs = nil
	if _, err := e.Svc.Request(ctx(t), owner, in2); cic.ErrorKind(err) != cic.EUNAVAILABLE {
		t.Fatalf("no jobs: %v", err)
	}
}

// TestMonthly_OneReportPerTenantAndMonth: the fan-out on the 1st queues
// one task per tenant with contacts last month, under an id of tenant and
// month; however often it and the tenant task run, there is one report,
// by cost centre, and finance and the owner are told.
func TestMonthly_OneReportPerTenantAndMonth(t *testing.T) {
	e := newEnv(t)
	e.Mail.msgs = make(chan metering.Message, 8)
	client, in, queue := e.worker(t)
	if err := in.PauseQueue(queue); err != nil {
		t.Fatal(err)
	}
	busy := e.signup(t, "busy")
	e.user(t, busy, "finance@busy.example", cic.RoleFinance)
	quiet := e.signup(t, "quiet")
	feb := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	e.seedMany(t, busy.TenantID, feb, 27*24*time.Hour, 50)
	e.Svc.Now = func() time.Time { return time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC) }

	for range 2 {
		if err := e.Svc.HandleMonthly(ctx(t), NewMonthlyTask()); err != nil {
			t.Fatal(err)
		}
	}
	id := TypeMonthlyTenant + ":" + busy.TenantID.String() + ":2026-02"
	if info, err := in.GetTaskInfo(queue, id); err != nil || info.Queue != queue {
		t.Fatalf("task %s: %v", id, err)
	}
	if _, err := in.GetTaskInfo(queue, TypeMonthlyTenant+":"+quiet.TenantID.String()+":2026-02"); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("a tenant without contacts got a monthly report task: %v", err)
	}
	if _, err := client.Enqueue(NewMonthlyTenantTask(busy.TenantID, feb, queue)); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("second enqueue: %v", err)
	}
	// Two workers run the tenant task at once, and once more later.
	task := NewMonthlyTenantTask(busy.TenantID, feb, queue)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The one that finds the other producing it fails, to be retried.
			if err := e.Svc.HandleMonthlyTenant(ctx(t), task); err != nil && !errors.Is(err, errBusy) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := e.Svc.HandleMonthlyTenant(ctx(t), task); err != nil {
		t.Fatal(err)
	}
	rs, _, err := e.Svc.List(ctx(t), busy, ListFilter{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("%d reports (%v)", len(rs), err)
	}
	r, err := e.Svc.Get(ctx(t), busy, rs[0].ID)
	if err != nil || r.Status != StatusDone || r.Trigger != TriggerMonthly || r.Dimension != DimCostCentre || !r.From.Equal(feb) ||
		!r.To.Equal(feb.AddDate(0, 1, 0)) || r.Summary.Totals.Contacts != 50 {
		t.Fatalf("monthly report %+v %v", r, err)
	}
	select {
	case m := <-e.Mail.msgs:
		var to []string
		for _, a := range m.To {
			to = append(to, a.Address)
		}
		if strings.Join(to, ",") != "finance@busy.example,owner@busy.example" || !strings.Contains(m.Subject, "February 2026") {
			t.Fatalf("mail to %v: %s", to, m.Subject)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no mail")
	}
}

// TestPurge_ExpiredReportsGoWithTheirFiles, in PostgreSQL and in a
// folder: a report past its retention is gone, files and all; a younger
// one stays.
func TestPurge_ExpiredReportsGoWithTheirFiles(t *testing.T) {
	for _, store := range []string{"postgres", "dir"} {
		t.Run(store, func(t *testing.T) {
			e := newEnv(t)
			dir := t.TempDir()
			if store == "dir" {
				e.Svc.Store = DirStore{Dir: dir}
			}
			owner := e.signup(t, "acme")
			jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			e.seedMany(t, owner.TenantID, jan, 24*time.Hour, 100)
			old := e.newReport(t, owner.TenantID, jan, jan.AddDate(0, 0, 1), DimQueue)
			young := e.newReport(t, owner.TenantID, jan, jan.AddDate(0, 0, 2), DimQueue)
			for _, id := range []uuid.UUID{old, young} {
				if err := e.Svc.Generate(ctx(t), owner.TenantID, id); err != nil {
					t.Fatal(err)
				}
			}
			e.file(t, owner.TenantID, old, FormatCSV)
			if store == "dir" {
				if _, err := os.Stat(filepath.Join(dir, owner.TenantID.String(), old.String(), "csv.gz")); err != nil {
					t.Fatalf("file not in the folder: %v", err)
				}
				var n int
				if err := e.DB.Owner.QueryRow(ctx(t), `SELECT count(*) FROM report_chunks`).Scan(&n); err != nil || n != 0 {
					t.Fatalf("%d chunks in PostgreSQL with REPORTS_DIR (%v)", n, err)
				}
			}
			if _, err := e.DB.Owner.Exec(ctx(t), `UPDATE reports SET expires_at = now() - interval '1 minute' WHERE id = $1`, old); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Svc.Get(ctx(t), owner, old); cic.ErrorKind(err) != cic.ENOTFOUND {
				t.Fatalf("an expired report is still served: %v", err)
			}
			if n, err := e.Svc.Purge(ctx(t), owner.TenantID); err != nil || n != 1 {
				t.Fatalf("purged %d: %v", n, err)
			}
			var files, chunks int
			if err := e.DB.Owner.QueryRow(ctx(t), `SELECT (SELECT count(*) FROM report_files WHERE report_id = $1),
				(SELECT count(*) FROM report_chunks WHERE report_id = $1)`, old).Scan(&files, &chunks); err != nil || files+chunks != 0 {
				t.Fatalf("left behind: %d files %d chunks (%v)", files, chunks, err)
			}
			if store == "dir" {
				if _, err := os.Stat(filepath.Join(dir, owner.TenantID.String(), old.String())); !os.IsNotExist(err) {
					t.Fatalf("folder left behind: %v", err)
				}
			}
			e.file(t, owner.TenantID, young, FormatPDF)
			if store == "postgres" {
				// REPORTS_DIR set later: reports made before are still read.
				e.Svc.Store = DirStore{Dir: dir}
				e.file(t, owner.TenantID, young, FormatCSV)
			}
		})
	}
}

// TestGenerate_FailureIsRetriedThenFailed: a run that fails leaves the
// report queued for asynq's retry, the last one marks it failed; a run
// after a crash mid-file starts over and ends with whole files.
func TestGenerate_FailureIsRetriedThenFailed(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "acme")
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.seedMany(t, owner.TenantID, jan, time.Hour, 2000)
	id := e.newReport(t, owner.TenantID, jan, jan.AddDate(0, 0, 1), DimChannel)

	// A crash midway: a running report with half a file.
	w, err := e.Svc.store().Create(ctx(t), e.Svc.DB, owner.TenantID, id, FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte(strings.Repeat("half a file\n", 100000)))
	w.Abort()
	if _, err := e.DB.Owner.Exec(ctx(t), `UPDATE reports SET status = 'running' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	// A run whose context ends fails; with retries left it goes back to
	// queued, on the last it is failed.
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Svc.run(dead, owner.TenantID, id); err == nil {
		t.Fatal("a cancelled run succeeded")
	}
	if r, _ := e.Svc.get(ctx(t), owner.TenantID, id); r.Status != StatusFailed || r.Error == "" {
		t.Fatalf("after the last attempt: %s %q", r.Status, r.Error)
	}
	// Asked again (a retry), it starts over and ends whole.
	if err := e.Svc.Generate(ctx(t), owner.TenantID, id); err != nil {
		t.Fatal(err)
	}
	r, _ := e.Svc.get(ctx(t), owner.TenantID, id)
	lines := csvRecords(t, e.file(t, owner.TenantID, id, FormatCSV))
	if r.Status != StatusDone || len(lines) != 2000 || r.Error != "" {
		t.Fatalf("after the retry: %s, %d lines, %q", r.Status, len(lines), r.Error)
	}
	// A report that is gone is not retried.
	err = e.Svc.HandleGenerate(ctx(t), NewGenerateTask(owner.TenantID, uuid.New(), "x"))
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("missing report: %v", err)
	}
	if err := e.Svc.HandleGenerate(ctx(t), asynq.NewTask(TypeGenerate, []byte(`{"tenant_id":"nope"}`))); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("bad payload: %v", err)
	}
}

// TestSnapshot_AReportIsOneInstant: contacts metered while a report is
// being made are either all in it or not at all (the aggregate and the
// stream read one snapshot), so it always adds up.
func TestSnapshot_AReportIsOneInstant(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "acme")
	now := time.Now().UTC()
	from := now.Add(-time.Hour)
	e.seedMany(t, owner.TenantID, from, 30*time.Minute, 20000)
	m := metering.NewMeter(e.Tenants.DB)
	m.Start()
	defer m.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = m.Meter(context.Background(), owner.TenantID, metering.SourceAPI, []metering.HandledContact{{ID: fmt.Sprintf("live-%d", i),
				Channel: "chat", HandledAt: time.Now()}})
		}
	}()
	for range 3 {
		id := e.newReport(t, owner.TenantID, from, now.Add(time.Hour), DimCostCentre)
		if err := e.Svc.Generate(ctx(t), owner.TenantID, id); err != nil {
			t.Fatal(err)
		}
		r, _ := e.Svc.get(ctx(t), owner.TenantID, id)
		lines := csvRecords(t, e.file(t, owner.TenantID, id, FormatCSV))
		if int64(len(lines)) != r.Summary.Totals.Contacts || r.Summary.Reconciliation.LinesMinor != r.Summary.Totals.CostMinor {
			t.Fatalf("%d lines, %d contacts", len(lines), r.Summary.Totals.Contacts)
		}
	}
	close(stop)
	wg.Wait()
	var live int
	_ = e.DB.Owner.QueryRow(ctx(t), `SELECT count(*) FROM meter_records WHERE contact_id LIKE 'live-%'`).Scan(&live)
	t.Logf("%d contacts metered during the reports", live)
}
