package metering_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/metering"
)

// setBlock puts the tenant on the block policy.
func (e *env) setBlock(t testing.TB, tid uuid.UUID) {
	t.Helper()
	st := metering.DefaultSettings("EUR")
	st.Policy = metering.PolicyBlock
	if _, err := metering.UpdateSettings(ctx(t), e.Tenants.DB, ownerOf(tid), st); err != nil {
		t.Fatal(err)
	}
}

// recordCounts counts the tenant's records drawn from a bundle and those
// that are overage.
func (e *env) recordCounts(t testing.TB, tid uuid.UUID) (drawn, overage int) {
	t.Helper()
	if err := e.DB.Owner.QueryRow(ctx(t), `SELECT count(*) FILTER (WHERE bundle_id IS NOT NULL), count(*) FILTER (WHERE bundle_id IS NULL)
		FROM meter_records WHERE tenant_id = $1`, tid).Scan(&drawn, &overage); err != nil {
		t.Fatal(err)
	}
	return drawn, overage
}

// tally is what concurrent Meter calls answered, summed.
type tally struct {
	mu                           sync.Mutex
	accepted, noCredit, otherErr int
	dups                         int
	ids                          map[string]bool
}

func (ta *tally) add(t testing.TB, res metering.Result, err error) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	if err != nil {
		t.Errorf("meter: %v", err)
		return
	}
	ta.accepted += len(res.Accepted)
	ta.dups += len(res.Duplicates)
	for _, id := range res.Accepted {
		if ta.ids[id] {
			t.Errorf("%s accepted twice", id)
		}
		ta.ids[id] = true
	}
	for _, ie := range res.Errors {
		if ie.Code == "no_credit" {
			ta.noCredit++
		} else {
			ta.otherErr++
		}
	}
}

// The attack of the issue: 250 contacts left, block, 8 batches of 50 at
// once. Exactly 250 are accepted, 150 refused no_credit, none is overage.
func TestMeter_BlockHoldsUnderConcurrentIngest(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant(t, "acme") // the 250-contact trial
	e.setBlock(t, tid)
	ta := &tally{ids: map[string]bool{}}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := e.Meter.Meter(ctx(t), tid, metering.SourceAPI, contacts(fmt.Sprintf("b%d", g), 50))
			if err == nil && len(res.Accepted)+len(res.Errors) != 50 {
				t.Errorf("batch %d: %d accepted + %d errors, want 50 answers", g, len(res.Accepted), len(res.Errors))
			}
			ta.add(t, res, err)
		}()
	}
	close(start)
	wg.Wait()
	if ta.accepted != 250 || ta.noCredit != 150 || ta.otherErr != 0 {
		t.Fatalf("accepted %d, no_credit %d, other errors %d; want 250, 150, 0", ta.accepted, ta.noCredit, ta.otherErr)
	}
	if drawn, overage := e.recordCounts(t, tid); drawn != 250 || overage != 0 {
		t.Fatalf("%d drawn and %d overage records, want 250 and 0", drawn, overage)
	}
	e.checkInvariants(t)

	// A refused contact was not metered: once a bundle is bought, sending
	// it again meters it.
	e.addBundle(t, tid, 10, 100, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	var refused []metering.HandledContact
	for g := range 8 {
		for _, c := range contacts(fmt.Sprintf("b%d", g), 50) {
			if !ta.ids[c.ID] {
				refused = append(refused, c)
			}
		}
	}
	res, err := e.Meter.Meter(ctx(t), tid, metering.SourceAPI, refused[:12])
	if err != nil || len(res.Accepted) != 10 || len(res.Errors) != 2 || res.Errors[0].Code != "no_credit" {
		t.Fatalf("re-sent after a purchase: %+v, %v", res, err)
	}
}

// Under overage the same race serves everyone (the policy's promise).
func TestMeter_OverageServesTheSameRace(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant(t, "acme")
	ta := &tally{ids: map[string]bool{}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.Meter.Meter(ctx(t), tid, metering.SourceAPI, contacts(fmt.Sprintf("o%d", g), 50))
			ta.add(t, res, err)
		}()
	}
	wg.Wait()
	if drawn, overage := e.recordCounts(t, tid); ta.accepted != 400 || drawn != 250 || overage != 150 {
		t.Fatalf("accepted %d, drawn %d, overage %d; want 400, 250, 150", ta.accepted, drawn, overage)
	}
}

// Contacts routing handled were authorized when they arrived and are in
// progress: block never drops them, they are recorded (as overage when
// nothing is left). A repeat of a refused id inside one batch is refused
// too, not called a duplicate.
func TestMeter_BlockKeepsRoutedContactsAndRefusesRepeats(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")
	e.setBlock(t, tid)
	if res, err := e.Meter.Meter(c, tid, metering.SourceAPI, contacts("a", 249)); err != nil || len(res.Accepted) != 249 {
		t.Fatalf("%+v %v", res, err)
	}
	batch := append(contacts("x", 2), contacts("x", 2)...)
	res, err := e.Meter.Meter(c, tid, metering.SourceAPI, batch)
	if err != nil || len(res.Accepted) != 1 || len(res.Duplicates) != 1 || len(res.Errors) != 2 {
		t.Fatalf("repeats: %+v %v", res, err)
	}
	for _, ie := range res.Errors {
		if ie.Code != "no_credit" || ie.ID != "x-1" {
			t.Fatalf("repeats: %+v", res.Errors)
		}
	}
	res, err = e.Meter.Meter(c, tid, metering.SourceRouting, contacts("r", 3))
	if err != nil || len(res.Accepted) != 3 || len(res.Errors) != 0 {
		t.Fatalf("routed contacts under block: %+v %v", res, err)
	}
	if drawn, overage := e.recordCounts(t, tid); drawn != 250 || overage != 3 {
		t.Fatalf("%d drawn, %d overage; want 250 and 3", drawn, overage)
	}
	e.checkInvariants(t)
}

// The property: whatever the balance, the batch sizes and how many run at
// once, under block the ingest accepts exactly min(balance, requested),
// refuses the rest with no_credit, and writes no overage.
func TestMeter_PropertyBlockNeverExceedsBalance(t *testing.T) {
	seed := propertySeed(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	e := newEnv(t)
	now := time.Now()
	rounds := 10
	if testing.Short() {
		rounds = 4
	}
	for round := range rounds {
		tid := e.newTenant(t, fmt.Sprintf("blk-%d", round))
		e.setBlock(t, tid)
		// Replace the trial by random bundles, some not valid now.
		if _, err := e.DB.Owner.Exec(ctx(t), `DELETE FROM bundles WHERE tenant_id = $1`, tid); err != nil {
			t.Fatal(err)
		}
		var balance int64
		for range rng.IntN(4) {
			size := int64(1 + rng.IntN(200))
			switch rng.IntN(4) {
			case 0: // expired
				e.addBundle(t, tid, size, size, now.Add(-48*time.Hour), now.Add(-time.Hour))
			case 1: // not yet valid
				e.addBundle(t, tid, size, size, now.Add(time.Hour), now.Add(48*time.Hour))
			default:
				e.addBundle(t, tid, size, size*2, now.Add(-time.Hour), now.Add(time.Duration(1+rng.IntN(100))*time.Hour))
				balance += size
			}
		}
		workers := 1 + rng.IntN(12)
		sizes := make([]int, workers)
		requested := 0
		for i := range sizes {
			sizes[i] = 1 + rng.IntN(120)
			requested += sizes[i]
		}
		ta := &tally{ids: map[string]bool{}}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g, n := range sizes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := e.Meter.Meter(ctx(t), tid, metering.SourceAPI, contacts(fmt.Sprintf("p%d", g), n))
				ta.add(t, res, err)
			}()
		}
		close(start)
		wg.Wait()
		want := int(min(balance, int64(requested)))
		if ta.accepted != want || ta.noCredit != requested-want || ta.otherErr != 0 || ta.dups != 0 {
			t.Fatalf("round %d: balance %d, %d workers asking %v: accepted %d, no_credit %d, other %d, dups %d; want accepted %d",
				round, balance, workers, sizes, ta.accepted, ta.noCredit, ta.otherErr, ta.dups, want)
		}
		if drawn, overage := e.recordCounts(t, tid); drawn != want || overage != 0 {
			t.Fatalf("round %d: %d drawn, %d overage records; want %d and 0", round, drawn, overage, want)
		}
	}
	e.checkInvariants(t)
}
