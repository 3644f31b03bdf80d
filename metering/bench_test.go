package metering_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// benchConfig is BenchmarkMeter's workload; every figure can be changed
// from the environment for a quick run (CIC_BENCH_CONTACTS=20000 ...).
type benchConfig struct {
	Contacts  int // contacts metered per iteration (CIC_BENCH_CONTACTS, 200000)
	Tenants   int // tenants they are spread over, round robin (CIC_BENCH_TENANTS, 10)
	Producers int // concurrent producers (CIC_BENCH_PRODUCERS, 64)
	PerCall   int // contacts per call in product (CIC_BENCH_PER_CALL, 1: routing meters each contact as it is accepted)
	Ingest    int // contacts per call in product_ingest (CIC_BENCH_INGEST_BATCH, 100: an integrator's API batch)
	History   int // contacts each tenant metered before the run (CIC_BENCH_HISTORY, 10000)
	Flushers  int // Meter.Flushers for the product (CIC_BENCH_FLUSHERS, default: the production value)
	MaxBatch  int // Meter.MaxBatch for the product (CIC_BENCH_MAX_BATCH, NewMeter's default)
}

func loadBenchConfig(b *testing.B) benchConfig {
	// One flusher: every batch holds all ten tenants' locks until its
	// COMMIT, so more flushers only queue behind each other with smaller
	// batches (measured: 4 flushers, NewMeter's default, halve the rate).
	c := benchConfig{Contacts: 200000, Tenants: 10, Producers: 64, PerCall: 1, Ingest: 100, History: 10000,
		Flushers: metering.NewMeter(nil).Flushers, MaxBatch: metering.NewMeter(nil).MaxBatch}
	for _, v := range []struct {
		key string
		dst *int
	}{
		{"CIC_BENCH_CONTACTS", &c.Contacts}, {"CIC_BENCH_TENANTS", &c.Tenants}, {"CIC_BENCH_PRODUCERS", &c.Producers},
		{"CIC_BENCH_PER_CALL", &c.PerCall}, {"CIC_BENCH_INGEST_BATCH", &c.Ingest}, {"CIC_BENCH_HISTORY", &c.History},
		{"CIC_BENCH_FLUSHERS", &c.Flushers}, {"CIC_BENCH_MAX_BATCH", &c.MaxBatch},
	} {
		if s := os.Getenv(v.key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 && !(n == 0 && v.dst == &c.History) {
				b.Fatalf("%s=%q: want a positive integer", v.key, s)
			}
			*v.dst = n
		}
	}
	c.PerCall = min(c.PerCall, metering.MaxContactsPerCall)
	c.Ingest = min(c.Ingest, metering.MaxContactsPerCall)
	return c
}

// BenchmarkMeter meters a fixed workload — 200,000 handled contacts for 10
// tenants from 64 concurrent producers — against the real PostgreSQL, on
// one database, four ways:
//
//   - baseline: the naive path, one transaction per contact (app role,
//     set_config for RLS, UPDATE the tenant's earliest-expiring bundle
//     row, INSERT the record, COMMIT), one contact per call;
//   - product: Meter (group commit), one contact per call, as routing
//     meters each contact when it is accepted;
//   - product_ingest: Meter, 100 contacts per call, as an integrator's
//     batch through the ingest API;
//   - raw_insert: single-row autocommit INSERTs into a scratch table, the
//     rate of commits this database can do one row at a time.
//
// Each tenant has the 250-contact trial bundle and a purchased bundle far
// larger than the workload: the trial is used up first, then every
// contact is drawn from the big bundle (no overage), so every call
// contends for the same ten bundle rows. Before the run each tenant has
// 10,000 metered contacts of history and the planner statistics are fresh
// (ANALYZE before each sub-benchmark), as in a database in use.
//
// One iteration is the whole workload: run it with -benchtime 1x (make
// bench does). Reported per sub-benchmark: contacts/s over the workload,
// and p99-ms, the 99th percentile of a call's acknowledgement latency
// (call to durable answer). Sizes come from CIC_BENCH_* (see benchConfig).
func BenchmarkMeter(b *testing.B) {
	cfg := loadBenchConfig(b)
	e := newEnv(b)
	bg := context.Background()
	tenants := make([]uuid.UUID, cfg.Tenants)
	for i := range tenants {
		tenants[i] = e.newTenant(b, fmt.Sprintf("bench-%d", i))
		e.addBundle(b, tenants[i], 1_000_000_000, 100_000_000, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour))
	}
	if _, err := e.DB.Owner.Exec(bg, `INSERT INTO meter_records (tenant_id, contact_id, cost_num, cost_den, currency,
			channel, direction, handled_at, source, metered_at)
		SELECT t, 'history-' || g, 5, 1, 'EUR', 'chat', 'inbound', now() - interval '1 day', 'api', now() - interval '1 day'
		FROM unnest($1::uuid[]) AS t, generate_series(1, $2) AS g`, tenants, cfg.History); err != nil {
		b.Fatal(err)
	}
	if _, err := e.DB.Owner.Exec(bg, `CREATE TABLE bench_raw_insert (
			tenant_id uuid NOT NULL, contact_id text NOT NULL, at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (tenant_id, contact_id))`); err != nil {
		b.Fatal(err)
	}
	b.Logf("workload: %d contacts, %d tenants, %d producers; product %d contact(s) per call, product_ingest %d; Flushers=%d MaxBatch=%d",
		cfg.Contacts, cfg.Tenants, cfg.Producers, cfg.PerCall, cfg.Ingest, cfg.Flushers, cfg.MaxBatch)

	analyze := func(b *testing.B) {
		if _, err := e.DB.Owner.Exec(bg, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
	var run atomic.Int64 // keeps contact ids unique across iterations and sub-benchmarks
	b.Run("baseline", func(b *testing.B) {
		analyze(b)
		db := &tenant.DB{Pool: benchPool(b, e.DB.AppURL, cfg.Producers)}
		runWorkload(b, cfg, 1, tenants, &run, func(ctx context.Context, tid uuid.UUID, cs []metering.HandledContact) error {
			for _, c := range cs {
				if err := naiveMeter(ctx, db, tid, c); err != nil {
					return err
				}
			}
			return nil
		})
	})
	product := func(perCall int, source string) func(b *testing.B) {
		return func(b *testing.B) {
			analyze(b)
			m := metering.NewMeter(&tenant.DB{Pool: benchPool(b, e.DB.AppURL, cfg.Flushers+2)})
			m.Flushers, m.MaxBatch = cfg.Flushers, cfg.MaxBatch
			m.Start()
			defer m.Close()
			runWorkload(b, cfg, perCall, tenants, &run, func(ctx context.Context, tid uuid.UUID, cs []metering.HandledContact) error {
				res, err := m.Meter(ctx, tid, source, cs)
				if err == nil && len(res.Accepted) != len(cs) {
					err = fmt.Errorf("%d of %d accepted (%d duplicates, errors %v)", len(res.Accepted), len(cs), len(res.Duplicates), res.Errors)
				}
				return err
			})
		}
	}
	b.Run("product", product(cfg.PerCall, metering.SourceRouting))
	b.Run("product_ingest", product(cfg.Ingest, metering.SourceAPI))
	b.Run("raw_insert", func(b *testing.B) {
		analyze(b)
		owner := benchPool(b, e.DB.OwnerURL, cfg.Producers)
		runWorkload(b, cfg, 1, tenants, &run, func(ctx context.Context, tid uuid.UUID, cs []metering.HandledContact) error {
			for _, c := range cs {
				if _, err := owner.Exec(ctx, `INSERT INTO bench_raw_insert (tenant_id, contact_id) VALUES ($1, $2)`, tid, c.ID); err != nil {
					return err
				}
			}
			return nil
		})
	})
	e.checkInvariants(b)
}

// benchPool opens a pool of at most size connections (and never more than
// 64: the server is shared and allows 200), closed when b ends.
func benchPool(b *testing.B, url string, size int) *pgxpool.Pool {
	b.Helper()
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	pc.MaxConns = int32(min(size, 64))
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// naiveMeter is the baseline: one transaction per contact, drawing one
// contact from the tenant's earliest-expiring bundle row.
func naiveMeter(ctx context.Context, db *tenant.DB, tid uuid.UUID, c metering.HandledContact) error {
	return db.Tx(ctx, tid, func(tx pgx.Tx) error {
		var bundle uuid.UUID
		var price, size int64
		err := tx.QueryRow(ctx, `UPDATE bundles SET remaining = remaining - 1
			WHERE tenant_id = $1 AND id = (SELECT id FROM bundles WHERE tenant_id = $1 AND remaining > 0
				AND valid_from <= now() AND valid_until > now() ORDER BY valid_until, created_at, id LIMIT 1 FOR UPDATE)
			RETURNING id, price_minor, contacts`, tid).Scan(&bundle, &price, &size)
		if err != nil {
			return fmt.Errorf("draw bundle: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO meter_records (tenant_id, contact_id, bundle_id, cost_num, cost_den, currency,
				channel, direction, handled_at, queue, source)
			VALUES ($1, $2, $3, $4, $5, 'EUR', $6, $7, $8, $9, 'routing')`,
			tid, c.ID, bundle, price, size, c.Channel, c.Direction, c.HandledAt, c.Queue)
		if err != nil {
			return fmt.Errorf("insert record: %w", err)
		}
		return nil
	})
}

// runWorkload meters cfg.Contacts contacts per iteration through call,
// perCall contacts a call, from cfg.Producers goroutines, and reports
// contacts/s and p99-ms.
func runWorkload(b *testing.B, cfg benchConfig, perCall int, tenants []uuid.UUID, run *atomic.Int64,
	call func(context.Context, uuid.UUID, []metering.HandledContact) error) {
	ctx := context.Background()
	var elapsed time.Duration
	var lat []time.Duration
	total := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// The calls, prepared outside the clock: call k is for tenant k
		// mod Tenants, with perCall fresh contact ids.
		r := run.Add(1)
		handled := time.Now().Add(-time.Minute)
		var calls [][]metering.HandledContact
		for start := 0; start < cfg.Contacts; start += perCall {
			n := min(perCall, cfg.Contacts-start)
			cs := make([]metering.HandledContact, n)
			for j := range cs {
				cs[j] = metering.HandledContact{ID: "r" + strconv.FormatInt(r, 10) + "-" + strconv.Itoa(start+j),
					Channel: "voice", Direction: "inbound", HandledAt: handled, Queue: "support"}
			}
			calls = append(calls, cs)
		}
		perProducer := make([][]time.Duration, cfg.Producers)
		var next atomic.Int64
		var failed atomic.Pointer[error]
		var wg sync.WaitGroup
		b.StartTimer()
		began := time.Now()
		for p := range cfg.Producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k := int(next.Add(1) - 1)
					if k >= len(calls) || failed.Load() != nil {
						return
					}
					t := time.Now()
					if err := call(ctx, tenants[k%len(tenants)], calls[k]); err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
					perProducer[p] = append(perProducer[p], time.Since(t))
				}
			}()
		}
		wg.Wait()
		elapsed += time.Since(began)
		b.StopTimer()
		if err := failed.Load(); err != nil {
			b.Fatal(*err)
		}
		for _, l := range perProducer {
			lat = append(lat, l...)
		}
		total += cfg.Contacts
		b.StartTimer()
	}
	slices.Sort(lat)
	p99 := lat[min(len(lat)-1, len(lat)*99/100)]
	b.ReportMetric(float64(total)/elapsed.Seconds(), "contacts/s")
	b.ReportMetric(float64(p99)/float64(time.Millisecond), "p99-ms")
}
