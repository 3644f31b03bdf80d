package chargeback

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

// BenchmarkChargeback produces the per-contact CSV of a 1,000,000-contact
// month of one tenant (CIC_BENCH_CHARGEBACK_CONTACTS to change it) and
// compares it with the raw read of the same rows:
//
//   - baseline: COPY (SELECT <the report's columns> ... ORDER BY <the
//     report's order>) TO STDOUT, as CSV, read and thrown away;
//   - product: Generate for a cost-centre report of the month, the whole
//     of it: the aggregate pass, the streaming pass writing the gzip CSV
//     into PostgreSQL, the previous month, the groups CSV and the PDF.
//
// Each runs in a child process (this test binary, see
// TestChargebackBenchChild), so peak-rss-MB is that process's own peak
// resident memory (getrusage's maxrss), not the benchmark's: the target is
// at most twice the COPY's time and under 100 MB. Seeding (generate_series
// in the server) takes a minute and is not timed.
func BenchmarkChargeback(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("CIC_BENCH_CHARGEBACK_CONTACTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("CIC_BENCH_CHARGEBACK_CONTACTS=%q: want a positive integer", s)
		}
		n = v
	}
	db := testenv.NewDB(b)
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tenantID := seedMonth(b, db, month, n)
	svc := &Service{DB: &tenant.DB{Pool: db.App}}

	child := func(b *testing.B, mode string, report uuid.UUID) {
		b.Helper()
		var rssKB int64
		b.ResetTimer()
		for range b.N {
			cmd := exec.Command(os.Args[0], "-test.run=^TestChargebackBenchChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "CIC_CHARGEBACK_CHILD="+mode, "CIC_CHARGEBACK_DSN="+db.AppURL,
				"CIC_CHARGEBACK_TENANT="+tenantID.String(), "CIC_CHARGEBACK_REPORT="+report.String(),
				"CIC_CHARGEBACK_FROM="+month.Format(time.RFC3339), "CIC_CHARGEBACK_TO="+month.AddDate(0, 1, 0).Format(time.RFC3339))
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("%s child: %v\n%s", mode, err, out)
			}
			if !strings.Contains(string(out), "child ok") {
				b.Fatalf("%s child did not finish:\n%s", mode, out)
			}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				rssKB = max(rssKB, ru.Maxrss)
			}
			b.StopTimer()
			if mode == "generate" {
				// Next iteration starts over; the files of this one go.
				if _, err := db.Owner.Exec(context.Background(), `UPDATE reports SET status = 'queued' WHERE id = $1`, report); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "contacts/s")
		b.ReportMetric(float64(rssKB)/1024, "peak-rss-MB")
	}
	b.Run("baseline", func(b *testing.B) { child(b, "copy", uuid.Nil) })
	b.Run("product", func(b *testing.B) {
		var id uuid.UUID
		err := svc.DB.Tx(context.Background(), tenantID, func(tx pgx.Tx) error {
			r, err := insertReport(context.Background(), tx, tenantID, uuid.New(), TriggerRequest, month, month.AddDate(0, 1, 0),
				DimCostCentre, "EUR", nil, time.Now().Add(time.Hour))
			id = r.ID
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		child(b, "generate", id)
		r, err := svc.get(context.Background(), tenantID, id)
		if err != nil || r.Summary == nil || r.Summary.Totals.Contacts != int64(n) {
			b.Fatalf("report after the run: %+v, %v", r, err)
		}
		b.Logf("report: %d contacts, total %s EUR, %d groups", r.Summary.Totals.Contacts, FormatMinor(r.Summary.Totals.CostMinor), len(r.Summary.Groups))
	})
}

// seedMonth makes a tenant with n contacts metered in month: 80% from a
// 1,000,000-contact bundle (1.9 cents), 10% from a 100,000-contact one
// (3.5 cents), 10% overage (5 cents); 6 channels, 20 queues (a third with
// a cost centre), 12 departments, campaigns on one in seven, 500 agents.
// It runs in the server (generate_series), as the owner, with foreign
// keys unchecked for speed.
func seedMonth(tb testing.TB, db *testenv.DB, month time.Time, n int) uuid.UUID {
	ctx := context.Background()
	start := time.Now()
	tid, big, small := uuid.New(), uuid.New(), uuid.New()
	conn, err := db.Owner.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// Superuser only; without it the foreign keys are checked (slower).
	_, _ = tx.Exec(ctx, `SAVEPOINT s`)
	if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		_, _ = tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`)
	}
	steps := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO tenants (tenant_id, slug, name, currency) VALUES ($1, 'bench', 'Bench Company', 'EUR')`, []any{tid}},
		{`INSERT INTO bundles (tenant_id, id, source, contacts, remaining, price_minor, currency, valid_from, valid_until) VALUES
			($1, $2, 'purchase', 1000000, 0, 1900000, 'EUR', $4::timestamptz - interval '10 days', $4::timestamptz + interval '1 year'),
			($1, $3, 'purchase', 100000, 0, 350000, 'EUR', $4::timestamptz - interval '10 days', $4::timestamptz + interval '1 year')`,
			[]any{tid, big, small, month}},
		{`INSERT INTO meter_records (tenant_id, contact_id, bundle_id, cost_num, cost_den, currency, channel, direction, handled_at,
				queue, department, cost_centre, queue_cost_centre, campaign, agent, source, metered_at)
			SELECT $1, md5(g::text)::uuid::text,
				CASE WHEN g % 10 < 8 THEN $2::uuid WHEN g % 10 = 8 THEN $3::uuid END,
				CASE WHEN g % 10 < 8 THEN 1900000 WHEN g % 10 = 8 THEN 350000 ELSE 5 END,
				CASE WHEN g % 10 < 8 THEN 1000000 WHEN g % 10 = 8 THEN 100000 ELSE 1 END,
				'EUR', (ARRAY['chat', 'email', 'voice', 'sms', 'social', 'fax'])[1 + g % 6],
				CASE WHEN g % 4 = 0 THEN 'outbound' ELSE 'inbound' END,
				t - interval '5 seconds', 'Queue ' || (g % 20), 'Department ' || (g % 12), 'CC-' || (100 + g % 12),
				CASE WHEN g % 3 = 0 THEN 'QCC-' || (g % 20) ELSE '' END, CASE WHEN g % 7 = 0 THEN 'Campaign ' || (g % 5) ELSE '' END,
				'agent' || (g % 500) || '@bench.example', 'routing', t
			FROM generate_series(1, $5::int) g,
				LATERAL (SELECT $4::timestamptz + (g::float8 / $5 * 31 * 86400 - 1) * interval '1 second' AS t) s`,
			[]any{tid, big, small, month, n}},
	}
	for _, s := range steps {
		if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
			tb.Fatalf("seed: %v", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `VACUUM ANALYZE meter_records`); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("seeded %d contacts in %s", n, time.Since(start).Round(time.Millisecond))
	return tid
}

// TestChargebackBenchChild is BenchmarkChargeback's child process; it does
// nothing in a normal test run.
func TestChargebackBenchChild(t *testing.T) {
	mode := os.Getenv("CIC_CHARGEBACK_CHILD")
	if mode == "" {
		t.Skip("only run by BenchmarkChargeback")
	}
	ctx := context.Background()
	tenantID := uuid.MustParse(os.Getenv("CIC_CHARGEBACK_TENANT"))
	from, _ := time.Parse(time.RFC3339, os.Getenv("CIC_CHARGEBACK_FROM"))
	to, _ := time.Parse(time.RFC3339, os.Getenv("CIC_CHARGEBACK_TO"))
	pool, err := pgxpool.New(ctx, os.Getenv("CIC_CHARGEBACK_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	switch mode {
	case "copy":
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `SELECT set_config('app.tenant_id', $1, false)`, tenantID.String()); err != nil {
			t.Fatal(err)
		}
		q := strings.NewReplacer("$1", "'"+tenantID.String()+"'", "$2", "'"+from.Format(time.RFC3339)+"'",
			"$3", "'"+to.Format(time.RFC3339)+"'").Replace(StreamSQL())
		tag, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, `COPY (`+q+`) TO STDOUT WITH (FORMAT csv)`)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("copied %d rows\n", tag.RowsAffected())
	case "generate":
		svc := &Service{DB: &tenant.DB{Pool: pool}}
		if err := svc.Generate(ctx, tenantID, uuid.MustParse(os.Getenv("CIC_CHARGEBACK_REPORT"))); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("mode %q", mode)
	}
	fmt.Println("child ok")
}
