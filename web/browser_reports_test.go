package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"
	"github.com/ledongthuc/pdf"

	"github.com/cic-platform/cic/infra/testenv"
)

// TestBrowser_FinanceMakesAReportWatchesItAndDownloadsCSVAndPDF: a finance
// user asks for last month by cost centre on /reports, watches the
// report's progress bar while the worker makes it (the queue is held
// until the page shows it waiting), sees the totals, table and chart, and
// downloads the per-contact CSV and the PDF. The test opens both: the
// CSV's lines sum to the total the page shows, and the PDF's text holds
// the company, the total and the reconciliation.
func TestBrowser_FinanceMakesAReportWatchesItAndDownloadsCSVAndPDF(t *testing.T) {
	ts := newServer(t).withReports(t)
	owner := ts.signup(t, "acme")
	ts.createUser(t, owner, "finance@acme.example", "finance")
	month := lastMonth()
	total := ts.seedMonth(t, owner, month)
	// Enough contacts that the progress bar has something to show.
	if _, err := ts.DB.Owner.Exec(context.Background(), `INSERT INTO meter_records (tenant_id, contact_id, bundle_id, cost_num, cost_den,
			currency, channel, direction, handled_at, queue, department, cost_centre, source, metered_at)
		SELECT $1, 'bulk-' || g, NULL, 0, 1, 'EUR', 'email', 'inbound', $2::timestamptz + g * interval '1 second', 'Support', 'Support',
			'CC-100', 'api', $2::timestamptz + g * interval '1 second'
		FROM generate_series(1, 20000) g`, owner.TenantID, month.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	contacts := 15 + 20000
	opt, _ := asynq.ParseRedisURI(testenv.RedisURL())
	in := asynq.NewInspector(opt)
	defer in.Close()
	if err := in.PauseQueue(ts.Reports.Queue); err != nil {
		t.Fatal(err)
	}

	base := ts.listen(t)
	b := newBrowser(t)
	dir := t.TempDir()
	downloaded := make(chan string, 4)
	if err := chromedp.ListenBrowser(b, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			downloaded <- e.GUID
		}
	}); err != nil {
		t.Fatal(err)
	}
	events := true
	if _, err := chromedp.CallBrowser(b, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &events}); err != nil {
		t.Fatal(err)
	}

	run(t, b, "finance asks for last month", append(loginSteps(base, "acme", "finance@acme.example"),
		click(`header nav a[href="/reports"]`), visible("#report-form"),
		choose(`#report-form select[name=dimension]`, "cost_centre"),
		click(`#report-form button[type=submit]`), visible("#report-progress"))...)
	if s := read(t, b, "#report-progress-text"); !strings.Contains(s, "Waiting") {
		t.Fatalf("queued report reads %q", s)
	}
	// The worker takes it; the page follows it to the end by itself.
	if err := in.UnpauseQueue(ts.Reports.Queue); err != nil {
		t.Fatal(err)
	}
	seen := []string{"queued"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b, 2*time.Second)
		res, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#report-status"), "data-status"))
		cancel()
		v := res.Value
		if err == nil && (len(seen) == 0 || seen[len(seen)-1] != v) {
			seen = append(seen, v)
		}
		if v == "done" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	run(t, b, "the report is done", visible("#report-total"), visible("#report-chart"), visible("#report-groups"))
	t.Logf("statuses the page went through: %v", seen)
	if seen[len(seen)-1] != "done" {
		t.Fatalf("the page did not follow the report: %v", seen)
	}
	shown := read(t, b, "#report-total")
	if shown != "2.16 EUR" || read(t, b, "#report-contacts") != "20,015" || read(t, b, "#recon-difference") != "0.00 EUR" {
		t.Fatalf("page shows total %q contacts %q", shown, read(t, b, "#report-contacts"))
	}
	if groups := read(t, b, "#report-groups"); !strings.Contains(groups, "Q-SALES") || !strings.Contains(groups, "Spring") {
		t.Fatalf("table: %s", groups)
	}

	fetch := func(sel string) []byte {
		t.Helper()
		run(t, b, "download "+sel, click(sel))
		select {
		case guid := <-downloaded:
			raw, err := os.ReadFile(filepath.Join(dir, guid))
			if err != nil {
				t.Fatal(err)
			}
			return raw
		case <-time.After(20 * time.Second):
			t.Fatalf("download %s did not finish", sel)
		}
		return nil
	}
	// The CSV: one line per contact, EffectiveCost summing to the total.
	rows, err := csv.NewReader(bytes.NewReader(fetch("#download-csv"))).ReadAll()
	if err != nil {
		t.Fatalf("the downloaded CSV does not parse: %v", err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var sum int64
	ids := map[string]bool{}
	for _, r := range rows[1:] {
		whole, frac, _ := strings.Cut(r[col["EffectiveCost"]], ".")
		w, _ := strconv.ParseInt(whole, 10, 64)
		f, _ := strconv.ParseInt(frac, 10, 64)
		sum += w*100 + f
		ids[r[col["ResourceId"]]] = true
	}
	if len(rows)-1 != contacts || len(ids) != contacts || sum != total {
		t.Fatalf("CSV: %d lines (%d ids) summing to %d cents, want %d and %d", len(rows)-1, len(ids), sum, contacts, total)
	}
	// The PDF: its text names the company and shows the total, reconciled.
	raw := fetch("#download-pdf")
	r, err := pdf.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("the downloaded PDF does not open: %v", err)
	}
	tr, err := r.GetPlainText()
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(tr)
	flat := strings.Join(strings.Fields(string(text)), " ")
	for _, want := range []string{"Chargeback report", "Company acme", "Total cost", "2.16 EUR", "20,015",
		"Total = bundle value drawn + overage", "Difference", "0.00 EUR", "Q-SALES"} {
		if !strings.Contains(flat, want) {
			t.Fatalf("the PDF's text lacks %q:\n%s", want, flat)
		}
	}
}
