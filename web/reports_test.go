package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/cic-platform/cic/billing/chargeback"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/web"
)

// reportServer is a server on ts's database with chargeback reports on:
// generation goes through asynq to a worker of the test's own, serving a
// queue of the test's own (no other test's worker takes its tasks).
type reportServer struct {
	*testServer
	Reports *chargeback.Service
	Mail    chan metering.Message
}

type chanMailer chan metering.Message

func (m chanMailer) Send(_ context.Context, msg metering.Message) error {
	select {
	case m <- msg:
	default:
	}
	return nil
}

func (ts *testServer) withReports(t *testing.T) *reportServer {
	t.Helper()
	opt, err := asynq.ParseRedisURI(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	queue := strings.TrimSuffix(testenv.Prefix(), ":") + "-reports"
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mail := make(chan metering.Message, 16)
	svc := &chargeback.Service{DB: ts.Tenants.DB, Jobs: client, Queue: queue, PublicURL: "http://cic.test", Mailer: chanMailer(mail),
		ProgressEvery: 50 * time.Millisecond, Logger: quiet}
	worker := asynq.NewServer(opt, asynq.Config{Queues: map[string]int{queue: 1}, Concurrency: 2, LogLevel: asynq.ErrorLevel,
		Logger: asynqQuiet{}})
	mux := asynq.NewServeMux()
	mux.HandleFunc(chargeback.TypeGenerate, svc.HandleGenerate)
	if err := worker.Start(mux); err != nil {
		t.Fatal(err)
	}
	in := asynq.NewInspector(opt)
	t.Cleanup(func() {
		worker.Shutdown()
		_ = in.DeleteQueue(queue, true)
		in.Close()
	})
	srv, err := web.New(web.Config{Tenants: ts.Tenants, Pool: ts.DB.App, Redis: ts.Rdb, PublicURL: "http://cic.test",
		RedisPrefix: testenv.Prefix(), Meter: ts.Meter, Seats: ts.Seats, Billing: ts.Billing, Reports: svc, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return &reportServer{testServer: &testServer{Server: srv, Tenants: ts.Tenants, DB: ts.DB, Rdb: ts.Rdb, Meter: ts.Meter,
		Seats: ts.Seats, Billing: ts.Billing}, Reports: svc, Mail: mail}
}

type asynqQuiet struct{}

func (asynqQuiet) Debug(...any) {}
func (asynqQuiet) Info(...any)  {}
func (asynqQuiet) Warn(...any)  {}
func (asynqQuiet) Error(...any) {}
func (asynqQuiet) Fatal(...any) {}

// lastMonth is the first instant of the previous calendar month (UTC).
func lastMonth() time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
}

// seedMonth meters 15 contacts in month for the company, as the Meter
// would have: 7 from a bundle of 10,000 for 490.00 (4.9 cents each), 5
// from a bundle of 3 for 1.00 (33 1/3 cents each), 3 overage at 5 cents.
// Exactly 34.3 + 166.67 (5 x 100/3) + 15 = 215.9666... cents: the total
// is 2.16 EUR. And 2 contacts in the month before, for the comparison.
func (ts *testServer) seedMonth(t *testing.T, c company, month time.Time) (totalMinor int64) {
	t.Helper()
	ctx := context.Background()
	big, odd := uuid.New(), uuid.New()
	if _, err := ts.DB.Owner.Exec(ctx, `INSERT INTO bundles (tenant_id, id, source, contacts, remaining, price_minor, currency, valid_from, valid_until)
		VALUES ($1, $2, 'purchase', 10000, 9993, 49000, 'EUR', $4::timestamptz - interval '40 days', $4::timestamptz + interval '1 year'),
		       ($1, $3, 'purchase', 3, 0, 100, 'EUR', $4::timestamptz - interval '40 days', $4::timestamptz + interval '1 year')`,
		c.TenantID, big, odd, month); err != nil {
		t.Fatal(err)
	}
	type row struct {
		bundle     *uuid.UUID
		num, den   int64
		queue, dep string
		qcc, camp  string
		agent      string
	}
	var rows []row
	for i := range 7 {
		rows = append(rows, row{&big, 49000, 10000, "Support", "Support", "", "", "a" + strconv.Itoa(i%2) + "@x"})
	}
	for i := range 5 {
		rows = append(rows, row{&odd, 100, 3, "Sales", "Sales", "Q-SALES", "", "b" + strconv.Itoa(i) + "@x"})
	}
	for range 3 {
		rows = append(rows, row{nil, 5, 1, "Support", "Support", "", "Spring", ""})
	}
	for i, r := range rows {
		at := month.Add(time.Duration(i+1) * 37 * time.Hour)
		cc := map[string]string{"Support": "CC-100", "Sales": "CC-200"}[r.dep]
		if _, err := ts.DB.Owner.Exec(ctx, `INSERT INTO meter_records (tenant_id, contact_id, bundle_id, cost_num, cost_den, currency, channel,
			direction, handled_at, queue, department, cost_centre, queue_cost_centre, campaign, agent, source, metered_at)
			VALUES ($1, $2, $3, $4, $5, 'EUR', 'chat', 'inbound', $6, $7, $8, $9, $10, $11, $12, 'routing', $6)`,
			c.TenantID, "contact-"+strconv.Itoa(i), r.bundle, r.num, r.den, at, r.queue, r.dep, cc, r.qcc, r.camp, r.agent); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if _, err := ts.DB.Owner.Exec(ctx, `INSERT INTO meter_records (tenant_id, contact_id, bundle_id, cost_num, cost_den, currency, channel,
			direction, handled_at, department, cost_centre, source, metered_at)
			VALUES ($1, $2, $3, 49000, 10000, 'EUR', 'email', 'inbound', $4, 'Support', 'CC-100', 'api', $4)`,
			c.TenantID, "before-"+strconv.Itoa(i), big, month.Add(-time.Duration(i+1)*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return 216
}

// waitReport polls the report until it is done (or failed).
func (ts *reportServer) waitReport(t *testing.T, who company, id string) answer {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := ts.call(t, "GET", "/api/v1/reports/"+id, who.Token, nil).mustStatus(t, http.StatusOK)
		switch a.str("status") {
		case "done":
			return a
		case "failed":
			t.Fatalf("report failed: %s", a.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("report not done after 30 s: %s", a.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fetch GETs a URL through the Fiber stack with extra headers.
func (ts *reportServer) fetch(t *testing.T, rawURL string, header http.Header) answer {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	req := newRequest("GET", u.RequestURI(), nil)
	for k, v := range header {
		req.Header[k] = v
	}
	return ts.do(t, req)
}

func jsonInt(a answer, path ...string) int64 {
	var v any = a.JSON
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	f, _ := v.(float64)
	return int64(f)
}

func sumColumn(t *testing.T, body []byte, col string) (n int, cents int64) {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v: %.200s", err, body)
	}
	idx := -1
	for i, h := range rows[0] {
		if h == col {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatalf("no column %s in %v", col, rows[0])
	}
	for _, r := range rows[1:] {
		whole, frac, _ := strings.Cut(r[idx], ".")
		w, _ := strconv.ParseInt(whole, 10, 64)
		f, _ := strconv.ParseInt(frac, 10, 64)
		cents += w*100 + f
	}
	return len(rows) - 1, cents
}

func TestReports_FinanceAsksWaitsAndDownloadsAReportThatAddsUp(t *testing.T) {
	ts := newServer(t).withReports(t)
	owner := ts.signup(t, "acme")
	fin := ts.createUser(t, owner, "finance@acme.example", "finance")
	month := lastMonth()
	total := ts.seedMonth(t, owner, month)

	a := ts.call(t, "POST", "/api/v1/reports/chargeback", fin.Token, map[string]any{
		"from": month.Format("2006-01-02"), "to": month.AddDate(0, 1, 0).Format("2006-01-02"), "dimension": "cost_centre",
	}).mustStatus(t, http.StatusAccepted)
	id := a.str("id")
	if a.Header.Get("Location") != "/api/v1/reports/"+id || a.str("status") != "queued" {
		t.Fatalf("202: %s %s", a.Header.Get("Location"), a.Body)
	}
	done := ts.waitReport(t, fin, id)
	if jsonInt(done, "progress") != 100 || jsonInt(done, "totals", "contacts") != 15 || jsonInt(done, "totals", "cost_minor") != total ||
		jsonInt(done, "totals", "bundle_minor")+jsonInt(done, "totals", "overage_minor") != total || jsonInt(done, "totals", "overage_minor") != 15 ||
		jsonInt(done, "totals", "previous", "contacts") != 2 || jsonInt(done, "totals", "previous", "cost_minor") != 10 {
		t.Fatalf("done report: %s", done.Body)
	}
	// Cost centres by precedence: Spring (campaign), Q-SALES (queue's),
	// CC-100 (the agent's department's).
	groups := map[string]int64{}
	for _, g := range done.JSON["groups"].([]any) {
		m := g.(map[string]any)
		groups[m["key"].(string)] = int64(m["cost_minor"].(float64))
	}
	if len(groups) != 3 || groups["Spring"] != 15 || groups["Q-SALES"]+groups["CC-100"]+groups["Spring"] != total || groups["CC-100"] != 35 {
		t.Fatalf("groups %v", groups)
	}

	// The signed links work without a token; the CSV adds up.
	links := done.JSON["downloads"].(map[string]any)
	csvAns := ts.fetch(t, links["csv"].(string), nil)
	if csvAns.Status != http.StatusOK || !strings.HasPrefix(csvAns.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(csvAns.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv download %d %v", csvAns.Status, csvAns.Header)
	}
	n, sum := sumColumn(t, csvAns.Body, "EffectiveCost")
	if n != 15 || sum != total {
		t.Fatalf("CSV: %d lines summing to %d, want 15 and %d", n, sum, total)
	}
	if _, billed := sumColumn(t, csvAns.Body, "BilledCost"); billed != 15 {
		t.Fatalf("BilledCost sums to %d, want the overage 15", billed)
	}
	// Asked with gzip, it comes as stored, and is the same file.
	gz := ts.fetch(t, links["csv"].(string), http.Header{"Accept-Encoding": {"gzip, deflate"}})
	if gz.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip download: %v", gz.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.Body))
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := io.ReadAll(zr); !bytes.Equal(plain, csvAns.Body) {
		t.Fatal("the gzip download differs from the plain one")
	}
	groupsAns := ts.fetch(t, links["groups"].(string), nil)
	if !bytes.Contains(groupsAns.Body, []byte("reconciliation,cost_centre,Bundle value drawn + overage = total,15,2.16,0.15")) {
		t.Fatalf("groups CSV footer:\n%s", groupsAns.Body)
	}
	pdf := ts.fetch(t, links["pdf"].(string), nil)
	if pdf.Status != http.StatusOK || pdf.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf.Body, []byte("%PDF-")) {
		t.Fatalf("pdf %d %v %.20q", pdf.Status, pdf.Header, pdf.Body)
	}
	// With the token instead of a link.
	byToken := ts.call(t, "GET", "/api/v1/reports/"+id+"/download?format=groups", fin.Token, nil)
	if byToken.Status != http.StatusOK || !bytes.Equal(byToken.Body, groupsAns.Body) {
		t.Fatalf("download by token: %d", byToken.Status)
	}
	// Every download is in the audit log.
	var downloads int
	if err := ts.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'report.download'
		AND target_id = $2`, owner.TenantID, id).Scan(&downloads); err != nil || downloads != 5 {
		t.Fatalf("%d downloads audited (%v), want 5", downloads, err)
	}
	// The list shows it, with its totals; the requester got an e-mail.
	list := ts.call(t, "GET", "/api/v1/reports", owner.Token, nil).mustStatus(t, http.StatusOK)
	if rs := list.JSON["reports"].([]any); len(rs) != 1 || rs[0].(map[string]any)["id"] != id {
		t.Fatalf("list: %s", list.Body)
	}
	select {
	case m := <-ts.Mail:
		if len(m.To) != 1 || m.To[0].Address != "finance@acme.example" || !strings.Contains(m.Body, "http://cic.test/reports/"+id) ||
			!strings.Contains(m.Body, "2.16 EUR") {
			t.Fatalf("mail %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no e-mail")
	}
}

func TestReports_OnlyFinanceAndOwner(t *testing.T) {
	ts := newServer(t).withReports(t)
	owner := ts.signup(t, "acme")
	ts.seedMonth(t, owner, lastMonth())
	body := map[string]any{"from": lastMonth().Format("2006-01-02"), "to": lastMonth().AddDate(0, 1, 0).Format("2006-01-02")}
	id := ts.call(t, "POST", "/api/v1/reports/chargeback", owner.Token, body).mustStatus(t, http.StatusAccepted).str("id")
	ts.waitReport(t, owner, id)
	for _, role := range []string{"admin", "supervisor", "agent"} {
		u := ts.createUser(t, owner, role+"@acme.example", role)
		for _, r := range []route{
			{"POST", "/api/v1/reports/chargeback", body},
			{"GET", "/api/v1/reports", nil},
			{"GET", "/api/v1/reports/" + id, nil},
			{"GET", "/api/v1/reports/" + id + "/download?format=csv", nil},
		} {
			ts.call(t, r.Method, r.Path, u.Token, r.Body).mustStatus(t, http.StatusForbidden)
		}
	}
	// Without a token: 401, not the file.
	ts.call(t, "GET", "/api/v1/reports/"+id+"/download?format=csv", "", nil).mustStatus(t, http.StatusUnauthorized)
}

func TestReports_BadInputIs400WithACode(t *testing.T) {
	ts := newServer(t).withReports(t)
	owner := ts.signup(t, "acme")
	next := time.Now().UTC().AddDate(0, 2, 0).Format("2006-01-02")
	for _, tt := range []struct {
		name string
		body any
		code string
	}{
		{"no from", map[string]any{"to": "2026-02-01"}, "missing_from"},
		{"from not a date", map[string]any{"from": "March", "to": "2026-02-01"}, "invalid_from"},
		{"to not a date", map[string]any{"from": "2026-01-01", "to": "2026-02-30"}, "invalid_to"},
		{"to before from", map[string]any{"from": "2026-02-01", "to": "2026-01-01"}, "invalid_period"},
		{"empty period", map[string]any{"from": "2026-02-01", "to": "2026-02-01"}, "invalid_period"},
		{"over a year", map[string]any{"from": "2024-01-01", "to": "2025-01-03"}, "period_too_long"},
		{"unknown dimension", map[string]any{"from": "2026-01-01", "to": "2026-02-01", "dimension": "colour"}, "invalid_dimension"},
		{"not started", map[string]any{"from": next, "to": next + "T23:00:00Z"}, "period_in_future"},
		{"unknown field", map[string]any{"from": "2026-01-01", "to": "2026-02-01", "dimensions": "queue"}, "invalid_json"},
		{"not JSON", "{from:", "invalid_json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := ts.call(t, "POST", "/api/v1/reports/chargeback", owner.Token, tt.body).mustStatus(t, http.StatusBadRequest)
			if a.errCode() != tt.code {
				t.Fatalf("code %q, want %q: %s", a.errCode(), tt.code, a.Body)
			}
		})
	}
	ts.call(t, "GET", "/api/v1/reports?cursor=bm90IGEgY3Vyc29y", owner.Token, nil).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "GET", "/api/v1/reports?limit=0", owner.Token, nil).mustStatus(t, http.StatusBadRequest)
	ts.seedMonth(t, owner, lastMonth())
	id := ts.call(t, "POST", "/api/v1/reports/chargeback", owner.Token, map[string]any{"from": lastMonth().Format("2006-01-02"),
		"to": lastMonth().AddDate(0, 1, 0).Format("2006-01-02"), "dimension": "queue"}).mustStatus(t, http.StatusAccepted).str("id")
	ts.waitReport(t, owner, id)
	if a := ts.call(t, "GET", "/api/v1/reports/"+id+"/download?format=xlsx", owner.Token, nil).mustStatus(t, http.StatusBadRequest); a.errCode() != "invalid_format" {
		t.Fatalf("format: %s", a.Body)
	}
	ts.call(t, "GET", "/api/v1/reports/not-a-uuid", owner.Token, nil).mustStatus(t, http.StatusNotFound)
}

func TestReports_ListPagesWithACursor(t *testing.T) {
	ts := newServer(t).withReports(t)
	owner := ts.signup(t, "acme")
	ts.Reports.MaxActive = 10
	seen := map[string]bool{}
	for i := range 5 {
		from := lastMonth().AddDate(0, 0, i)
		ts.call(t, "POST", "/api/v1/reports/chargeback", owner.Token, map[string]any{"from": from.Format("2006-01-02"),
			"to": from.AddDate(0, 0, 1).Format("2006-01-02")}).mustStatus(t, http.StatusAccepted)
	}
	cursor, pages := "", 0
	for {
		a := ts.call(t, "GET", "/api/v1/reports?limit=2&cursor="+url.QueryEscape(cursor), owner.Token, nil).mustStatus(t, http.StatusOK)
		for _, r := range a.JSON["reports"].([]any) {
			seen[r.(map[string]any)["id"].(string)] = true
		}
		pages++
		if cursor = a.str("next_cursor"); cursor == "" {
			break
		}
	}
	if len(seen) != 5 || pages != 3 {
		t.Fatalf("%d reports over %d pages", len(seen), pages)
	}
}
