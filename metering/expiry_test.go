package metering_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/metering"
)

// forfeit reads one bundle's forfeit as the owner; ok is false when none.
func (e *env) forfeit(t testing.TB, tenantID, bundleID uuid.UUID) (f metering.Forfeit, ok bool) {
	t.Helper()
	err := e.DB.Owner.QueryRow(context.Background(), `SELECT bundle_id, contacts, value_num, value_den, currency, expired_at, recorded_at
		FROM forfeits WHERE tenant_id = $1 AND bundle_id = $2`, tenantID, bundleID).
		Scan(&f.BundleID, &f.Contacts, &f.ValueNum, &f.ValueDen, &f.Currency, &f.ExpiredAt, &f.RecordedAt)
	if err == pgx.ErrNoRows {
		return f, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return f, true
}

func (e *env) remaining(t testing.TB, tenantID, bundleID uuid.UUID) int64 {
	t.Helper()
	var r int64
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT remaining FROM bundles WHERE tenant_id = $1 AND id = $2`, tenantID, bundleID).Scan(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// drawn counts the meter records drawn from a bundle.
func (e *env) drawn(t testing.TB, tenantID, bundleID uuid.UUID) int64 {
	t.Helper()
	var n int64
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM meter_records WHERE tenant_id = $1 AND bundle_id = $2`, tenantID, bundleID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// use records n contacts drawn from a bundle while it was valid, as the
// Meter would have (a fixture: records and remaining move together).
func (e *env) use(t testing.TB, tenantID, bundleID uuid.UUID, n int) {
	t.Helper()
	if n == 0 {
		return
	}
	c := context.Background()
	if _, err := e.DB.Owner.Exec(c, `INSERT INTO meter_records (tenant_id, contact_id, bundle_id, cost_num, cost_den, currency, channel, direction, handled_at, source)
		SELECT b.tenant_id, 'fixture-' || gen_random_uuid(), b.id, b.price_minor, b.contacts, b.currency, 'chat', 'inbound', b.valid_from, 'api'
		FROM bundles b, generate_series(1, $3) g WHERE b.tenant_id = $1 AND b.id = $2`, tenantID, bundleID, n); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.Owner.Exec(c, `UPDATE bundles SET remaining = remaining - $3 WHERE tenant_id = $1 AND id = $2`, tenantID, bundleID, n); err != nil {
		t.Fatal(err)
	}
}

func TestExpireBundles(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	other := e.newTenant(t, "other")
	now := time.Now()

	// Four bundles, each drawn from while it was valid; three have since
	// expired.
	type bundle struct {
		name            string
		contacts, price int64
		use             int
		expired         bool
		wantForfeit     int64 // contacts; 0 means no forfeit
		wantNum         int64
	}
	bundles := []*bundle{
		{name: "partially used", contacts: 1000, price: 2000, use: 300, expired: true, wantForfeit: 700, wantNum: 700 * 2000},
		{name: "unused", contacts: 10, price: 7, use: 0, expired: true, wantForfeit: 10, wantNum: 70},
		{name: "used up", contacts: 5, price: 100, use: 5, expired: true},
		{name: "not yet expired", contacts: 50, price: 100, use: 10, expired: false},
	}
	ids := map[*bundle]uuid.UUID{}
	for _, b := range bundles {
		until := now.Add(24 * time.Hour)
		if b.expired {
			until = now.Add(-time.Minute)
		}
		ids[b] = e.addBundle(t, tid, b.contacts, b.price, now.Add(-48*time.Hour), until)
		e.use(t, tid, ids[b], b.use)
	}
	// The other tenant's expired bundle must not be touched by acme's run.
	otherB := e.addBundle(t, other, 20, 20, now.Add(-48*time.Hour), now.Add(-time.Minute))

	n, err := metering.ExpireBundles(c, e.Tenants.DB, tid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("ExpireBundles recorded %d forfeits, want 2", n)
	}
	for _, b := range bundles {
		f, ok := e.forfeit(t, tid, ids[b])
		if b.wantForfeit == 0 {
			if ok {
				t.Errorf("%s: unexpected forfeit %+v", b.name, f)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no forfeit", b.name)
			continue
		}
		if f.Contacts != b.wantForfeit || f.ValueNum != b.wantNum || f.ValueDen != b.contacts || f.Currency != "EUR" {
			t.Errorf("%s: forfeit %d contacts worth %d/%d %s, want %d worth %d/%d EUR",
				b.name, f.Contacts, f.ValueNum, f.ValueDen, f.Currency, b.wantForfeit, b.wantNum, b.contacts)
		}
		if !f.ExpiredAt.Equal(now.Add(-time.Minute).Truncate(time.Microsecond)) {
			t.Errorf("%s: expired_at %v, want the bundle's valid_until %v", b.name, f.ExpiredAt, now.Add(-time.Minute))
		}
		// Expiry never changes remaining.
		if r := e.remaining(t, tid, ids[b]); r != b.contacts-int64(b.use) {
			t.Errorf("%s: remaining %d, want %d", b.name, r, b.contacts-int64(b.use))
		}
	}
	if _, ok := e.forfeit(t, other, otherB); ok {
		t.Error("another tenant's bundle was forfeited")
	}

	// Again: nothing new, no duplicate.
	n, err = metering.ExpireBundles(c, e.Tenants.DB, tid, time.Now())
	if err != nil || n != 0 {
		t.Fatalf("second run: %d, %v; want 0, nil", n, err)
	}
	// A cutoff before the expiry forfeits nothing (now is respected).
	if n, err := metering.ExpireBundles(c, e.Tenants.DB, other, now.Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("early cutoff: %d, %v; want 0, nil", n, err)
	}
	// The draw-down skips the expired bundles: 100 new contacts take the
	// live bundle's 40, then the trial's.
	if res, err := e.Meter.Meter(c, tid, metering.SourceAPI, contacts("after", 100)); err != nil || len(res.Accepted) != 100 {
		t.Fatalf("meter after expiry: %+v %v", res, err)
	}
	for _, b := range bundles {
		want := int64(b.use)
		if !b.expired {
			want = b.contacts
		}
		if d := e.drawn(t, tid, ids[b]); d != want {
			t.Errorf("%s: %d drawn, want %d", b.name, d, want)
		}
	}
	fs, err := metering.Forfeits(c, e.Tenants.DB, tid)
	if err != nil || len(fs) != 2 {
		t.Fatalf("Forfeits: %v %v", fs, err)
	}
	e.checkInvariants(t)
}

// TestExpireBundles_ConcurrentRunsForfeitOnce: replicas expiring the same
// tenant at once record each forfeit exactly once.
func TestExpireBundles_ConcurrentRunsForfeitOnce(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	now := time.Now()
	for range 5 {
		e.addBundle(t, tid, 10, 10, now.Add(-48*time.Hour), now.Add(-time.Hour))
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := metering.ExpireBundles(c, e.Tenants.DB, tid, time.Now())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != 5 {
		t.Fatalf("concurrent runs recorded %d forfeits in all, want 5", total)
	}
}

// orderedTenants signs up n tenants and returns them in the order group
// commit visits tenants (by id string).
func (e *env) orderedTenants(t testing.TB, n int) []uuid.UUID {
	t.Helper()
	out := make([]uuid.UUID, n)
	for i := range out {
		out[i] = e.newTenant(t, "tenant-"+itoa(i))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// holdLock takes a tenant's metering lock in a transaction of its own
// and returns the function that releases it.
func (e *env) holdLock(t testing.TB, tenantID uuid.UUID) (release func()) {
	t.Helper()
	tx, err := e.DB.Owner.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := metering.LockTenant(context.Background(), tx, tenantID); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(context.Background()) }) }
	t.Cleanup(release)
	return release
}

// waitLockWaiters waits until n transactions wait for an advisory lock.
func (e *env) waitLockWaiters(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		if err := e.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions wait for an advisory lock, want %d", waiting, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestExpireBundles_GroupCommitStartedBeforeExpiry pins the race down: a
// group commit whose transaction began while a bundle was still valid,
// but which reaches the tenant only after ExpireBundles has recorded the
// bundle's forfeit, must not draw from that bundle.
func TestExpireBundles_GroupCommitStartedBeforeExpiry(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	ts := e.orderedTenants(t, 3)
	// The group commit visits first, then last: it begins, blocks on
	// first's lock, and only then comes to last.
	first, mid, last := ts[0], ts[1], ts[2]

	m := metering.NewMeter(e.Meter.DB)
	m.Flushers = 1
	m.Start()
	t.Cleanup(m.Close)

	now := time.Now()
	b := e.addBundle(t, last, 100, 100, now.Add(-time.Hour), now.Add(time.Hour))

	releaseMid := e.holdLock(t, mid)
	releaseFirst := e.holdLock(t, first)

	meter := func(tid uuid.UUID, prefix string, n int) <-chan error {
		done := make(chan error, 1)
		go func() {
			res, err := m.Meter(c, tid, metering.SourceAPI, contacts(prefix, n))
			if err == nil && len(res.Accepted) != n {
				t.Errorf("%s: %+v", prefix, res)
			}
			done <- err
		}()
		return done
	}
	// The only flusher blocks on mid's lock ...
	r0 := meter(mid, "r0", 1)
	e.waitLockWaiters(t, 1)
	// ... while first's and last's requests queue up behind it, so the
	// next group commit holds both.
	r1 := meter(first, "r1", 1)
	r2 := meter(last, "r2", 5)
	time.Sleep(200 * time.Millisecond)
	releaseMid()
	if err := <-r0; err != nil {
		t.Fatal(err)
	}
	// That group commit has begun (bundle b still valid) and waits for
	// first's lock. Now b expires and its forfeit is recorded.
	e.waitLockWaiters(t, 1)
	if _, err := e.DB.Owner.Exec(c, `UPDATE bundles SET valid_until = clock_timestamp() + interval '20 milliseconds' WHERE tenant_id = $1 AND id = $2`, last, b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	n, err := metering.ExpireBundles(c, e.Tenants.DB, last, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("ExpireBundles: %d, %v; want 1 forfeit", n, err)
	}
	releaseFirst()
	if err := <-r1; err != nil {
		t.Fatal(err)
	}
	if err := <-r2; err != nil {
		t.Fatal(err)
	}
	f, ok := e.forfeit(t, last, b)
	if !ok || f.Contacts != 100 {
		t.Fatalf("forfeit %+v (%v), want 100 contacts", f, ok)
	}
	if d := e.drawn(t, last, b); d != 0 {
		t.Errorf("%d contacts drawn from bundle after its forfeit was recorded", d)
	}
	if r := e.remaining(t, last, b); r != f.Contacts {
		t.Errorf("remaining %d, forfeit %d: they must agree", r, f.Contacts)
	}
	e.checkInvariants(t)
}

// TestExpireBundles_RacingMeter: producers meter without pause while a
// bundle expires a few milliseconds ahead and ExpireBundles runs in a
// loop. Whatever the interleaving, nothing is drawn from the bundle after
// its forfeit: the forfeit equals the bundle's final remaining.
func TestExpireBundles_RacingMeter(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	for round := range 5 {
		b := e.addBundle(t, tid, 1_000_000, 20_000_00, time.Now().Add(-time.Hour), time.Now().Add(time.Duration(20+10*round)*time.Millisecond))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for p := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					prefix := "r" + itoa(round) + "-p" + itoa(p) + "-" + itoa(i)
					if _, err := e.Meter.Meter(c, tid, metering.SourceAPI, contacts(prefix, 3)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		deadline := time.Now().Add(5 * time.Second)
		got := 0
		for got == 0 && time.Now().Before(deadline) {
			n, err := metering.ExpireBundles(c, e.Tenants.DB, tid, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
		// Keep metering a little after the forfeit.
		time.Sleep(30 * time.Millisecond)
		close(stop)
		wg.Wait()
		if got != 1 {
			t.Fatalf("round %d: %d forfeits, want 1", round, got)
		}
		f, ok := e.forfeit(t, tid, b)
		if !ok {
			t.Fatalf("round %d: no forfeit", round)
		}
		if r := e.remaining(t, tid, b); r != f.Contacts {
			t.Errorf("round %d: bundle has %d remaining but forfeited %d: drawn after its forfeit", round, r, f.Contacts)
		}
	}
	e.checkInvariants(t)
}
