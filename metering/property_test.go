package metering_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/metering"
)

// The pure draw-down rules have their fuzz test (FuzzDrawDown, in
// drawdown_test.go, which sees the unexported drawDown). This is the same
// idea end to end: random bundle sets and random concurrent batches
// through Meter and PostgreSQL, then the invariants checked on what was
// written.

// propertySeed is fixed so a failure can be replayed; CIC_PROPERTY_SEED
// picks another.
func propertySeed(t *testing.T) uint64 {
	seed := uint64(20250301)
	if s := os.Getenv("CIC_PROPERTY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CIC_PROPERTY_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: replay with CIC_PROPERTY_SEED=%d go test -run %s ./metering/", seed, seed, t.Name())
		}
	})
	return seed
}

type propBundle struct {
	tenant                         uuid.UUID
	id                             uuid.UUID
	contacts, remaining, price     int64
	validFrom, validUntil, created time.Time
}

// before is the draw-down order: earliest expiry, then oldest, then id.
func (a propBundle) before(b propBundle) bool {
	if !a.validUntil.Equal(b.validUntil) {
		return a.validUntil.Before(b.validUntil)
	}
	if !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	return bytes.Compare(a.id[:], b.id[:]) < 0
}

// validOver: usable at every instant of [from, to].
func (a propBundle) validOver(from, to time.Time) bool {
	return !a.validFrom.After(from) && a.validUntil.After(to)
}

type propRecord struct {
	tenant           uuid.UUID
	id               string
	bundle           *uuid.UUID
	meteredAt        time.Time
	costNum, costDen int64
}

func TestMeter_PropertyRandomBundlesAndConcurrentBatches(t *testing.T) {
	seed := propertySeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newEnv(t)
	c := ctx(t)

	const (
		nTenants  = 3
		producers = 8
		runFor    = 3 * time.Second
	)
	now := time.Now()
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Millisecond }
	tenants := make([]uuid.UUID, nTenants)
	for i := range tenants {
		tenants[i] = e.newTenant(t, fmt.Sprintf("prop-%d", i))
		for range 2 + rng.IntN(5) {
			var from, until time.Time
			switch rng.IntN(6) {
			case 0: // valid throughout
				from, until = now.Add(-time.Hour), now.Add(24*time.Hour)
			case 1: // expires while the producers run
				from, until = now.Add(-time.Hour), now.Add(ms(100, 2500))
			case 2: // becomes valid while they run
				from, until = now.Add(ms(100, 2000)), now.Add(24*time.Hour)
			case 3: // a short window inside the run
				from = now.Add(ms(100, 1500))
				until = from.Add(ms(200, 1200))
			case 4: // expired already
				from, until = now.Add(-2*time.Hour), now.Add(-time.Hour)
			default: // valid only after the run
				from, until = now.Add(time.Hour), now.Add(2*time.Hour)
			}
			size := 1 + rng.IntN(50)
			if rng.IntN(3) > 0 {
				size = 200 + rng.IntN(2000)
			}
			e.addBundle(t, tenants[i], int64(size), int64(rng.IntN(50000)), from, until)
		}
	}

	type call struct {
		tenant uuid.UUID
		ids    []string
		res    metering.Result
		acked  time.Time
	}
	var (
		mu    sync.Mutex
		calls []call
		wg    sync.WaitGroup
		// next[i] is the number of ids tenant i has been sent so far.
		next = make([]atomic.Int64, nTenants)
	)
	deadline := time.Now().Add(runFor)
	for p := range producers {
		prng := rand.New(rand.NewPCG(seed, uint64(p)+100))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && !t.Failed() {
				ti := prng.IntN(len(tenants))
				tid := tenants[ti]
				n := 1 + prng.IntN(30)
				batch := make([]metering.HandledContact, n)
				ids := make([]string, n)
				for k := range batch {
					// Half new ids, half repeats (inside the batch,
					// across batches and producers); the same id strings
					// in every tenant.
					j := next[ti].Load()
					if prng.IntN(2) == 0 {
						j = next[ti].Add(1)
					} else {
						j = prng.Int64N(j + 1)
					}
					ids[k] = "c-" + strconv.FormatInt(j, 10)
					batch[k] = metering.HandledContact{ID: ids[k], Channel: "chat", HandledAt: time.Now().Add(-time.Minute)}
				}
				res, err := e.Meter.Meter(c, tid, metering.SourceAPI, batch)
				acked := time.Now()
				if err != nil {
					t.Errorf("meter: %v", err)
					return
				}
				mu.Lock()
				calls = append(calls, call{tid, ids, res, acked})
				mu.Unlock()
				time.Sleep(time.Duration(prng.IntN(30)) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Answers: every item either accepted or a duplicate, and each id
	// accepted by exactly one call over the whole run.
	type key struct {
		tenant uuid.UUID
		id     string
	}
	sent := map[key]bool{}
	acceptedAt := map[key]time.Time{}
	for _, cl := range calls {
		if len(cl.res.Errors) != 0 || len(cl.res.Accepted)+len(cl.res.Duplicates) != len(cl.ids) {
			t.Fatalf("call of %d ids: %d accepted, %d duplicates, errors %v", len(cl.ids), len(cl.res.Accepted), len(cl.res.Duplicates), cl.res.Errors)
		}
		for _, id := range cl.ids {
			sent[key{cl.tenant, id}] = true
		}
		for _, id := range cl.res.Accepted {
			k := key{cl.tenant, id}
			if _, twice := acceptedAt[k]; twice {
				t.Fatalf("%s/%s accepted twice", k.tenant, k.id)
			}
			acceptedAt[k] = cl.acked
		}
	}
	if len(acceptedAt) != len(sent) {
		t.Fatalf("%d distinct ids sent, %d accepted", len(sent), len(acceptedAt))
	}
	t.Logf("%d calls, %d distinct ids over %d tenants", len(calls), len(sent), nTenants)

	bundles := map[uuid.UUID]propBundle{}
	rows, err := e.DB.Owner.Query(c, `SELECT tenant_id, id, contacts, remaining, price_minor, valid_from, valid_until, created_at FROM bundles`)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (propBundle, error) {
		var b propBundle
		return b, r.Scan(&b.tenant, &b.id, &b.contacts, &b.remaining, &b.price, &b.validFrom, &b.validUntil, &b.created)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bl {
		bundles[b.id] = b
	}
	rows, err = e.DB.Owner.Query(c, `SELECT tenant_id, contact_id, bundle_id, metered_at, cost_num, cost_den FROM meter_records`)
	if err != nil {
		t.Fatal(err)
	}
	records, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (propRecord, error) {
		var x propRecord
		return x, r.Scan(&x.tenant, &x.id, &x.bundle, &x.meteredAt, &x.costNum, &x.costDen)
	})
	if err != nil {
		t.Fatal(err)
	}

	// Exactly the ids sent, each once.
	if len(records) != len(sent) {
		t.Fatalf("%d records for %d distinct ids", len(records), len(sent))
	}
	nErr := 0
	errorf := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		if nErr++; nErr >= 20 {
			t.Fatal("too many errors")
		}
	}
	drawn := map[uuid.UUID]int64{}
	var overage, fromExpiring, fromStarting int
	for _, r := range records {
		k := key{r.tenant, r.id}
		acked, ok := acceptedAt[k]
		if !ok {
			t.Fatalf("record %s/%s was never accepted", r.tenant, r.id)
		}
		// The draw happened at some instant in [metered_at (its
		// transaction's start), acked]; a bundle is only known usable or
		// unusable for certain over that whole interval.
		if r.bundle == nil {
			overage++
			if r.costDen != 1 {
				errorf("overage %s: cost %d/%d", r.id, r.costNum, r.costDen)
			}
			for _, b := range bundles {
				if b.tenant == r.tenant && b.remaining > 0 && b.validOver(r.meteredAt, acked) {
					errorf("%s/%s metered as overage at %s while bundle %s (valid %s to %s) still has %d",
						r.tenant, r.id, r.meteredAt, b.id, b.validFrom, b.validUntil, b.remaining)
				}
			}
			continue
		}
		b, ok := bundles[*r.bundle]
		if !ok || b.tenant != r.tenant {
			t.Fatalf("record %s/%s drawn from unknown or foreign bundle %s", r.tenant, r.id, *r.bundle)
		}
		drawn[b.id]++
		if b.validUntil.After(now) && b.validUntil.Before(deadline) {
			fromExpiring++
		}
		if b.validFrom.After(now) && b.validFrom.Before(deadline) {
			fromStarting++
		}
		if r.costNum != b.price || r.costDen != b.contacts {
			errorf("record %s from bundle %s: cost %d/%d, want %d/%d", r.id, b.id, r.costNum, r.costDen, b.price, b.contacts)
		}
		if !r.meteredAt.Before(b.validUntil) {
			errorf("record %s/%s drawn from bundle %s after it expired: metered at %s, valid until %s", r.tenant, r.id, b.id, r.meteredAt, b.validUntil)
		}
		if acked.Before(b.validFrom) {
			errorf("record %s/%s drawn from bundle %s before it was valid: acknowledged at %s, valid from %s", r.tenant, r.id, b.id, acked, b.validFrom)
		}
		for _, a := range bundles {
			if a.id != b.id && a.tenant == r.tenant && a.remaining > 0 && a.before(b) && a.validOver(r.meteredAt, acked) {
				errorf("record %s/%s drawn from bundle %s (until %s) while %s (until %s) still has %d",
					r.tenant, r.id, b.id, b.validUntil, a.id, a.validUntil, a.remaining)
			}
		}
	}
	t.Logf("%d records: %d overage, %d from bundles that expired during the run, %d from bundles that became valid during it",
		len(records), overage, fromExpiring, fromStarting)
	for _, b := range bundles {
		if b.remaining < 0 || drawn[b.id] != b.contacts-b.remaining {
			errorf("bundle %s: contacts %d remaining %d but %d records drawn", b.id, b.contacts, b.remaining, drawn[b.id])
		}
	}
	e.checkInvariants(t)
}
