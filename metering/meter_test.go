package metering_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cic-platform/cic/metering"
)

func TestMeter_DrawsTrialThenOverageAndKnowsDuplicates(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tid := e.newTenant(t, "acme")

	res, err := e.Meter.Meter(c, tid, metering.SourceAPI, contacts("a", 200))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accepted) != 200 || len(res.Duplicates) != 0 || len(res.Errors) != 0 {
		t.Fatalf("first batch: %d accepted %d dup %d err", len(res.Accepted), len(res.Duplicates), len(res.Errors))
	}
	// 100 more: 50 from the trial, 50 overage; 200 re-sent are duplicates.
	batch := append(contacts("a", 200)[:100], contacts("b", 100)...)
	res, err = e.Meter.Meter(c, tid, metering.SourceAPI, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accepted) != 100 || len(res.Duplicates) != 100 {
		t.Fatalf("second batch: %d accepted %d dup", len(res.Accepted), len(res.Duplicates))
	}
	var overage, drawn int
	if err := e.DB.Owner.QueryRow(c, `SELECT count(*) FILTER (WHERE bundle_id IS NULL), count(*) FILTER (WHERE bundle_id IS NOT NULL)
		FROM meter_records WHERE tenant_id = $1`, tid).Scan(&overage, &drawn); err != nil {
		t.Fatal(err)
	}
	if overage != 50 || drawn != 250 {
		t.Fatalf("overage %d drawn %d, want 50 and 250", overage, drawn)
	}
	e.checkInvariants(t)
}

func TestMeter_InvalidItemsAreRefusedOneByOne(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant(t, "acme")
	batch := contacts("ok", 3)
	batch = append(batch,
		metering.HandledContact{ID: "", Channel: "chat", HandledAt: time.Now()},
		metering.HandledContact{ID: "bad-channel", Channel: "pigeon", HandledAt: time.Now()},
		metering.HandledContact{ID: "no-time", Channel: "chat"},
		metering.HandledContact{ID: "future", Channel: "chat", HandledAt: time.Now().Add(48 * time.Hour)},
		metering.HandledContact{ID: "bad-dir", Channel: "chat", Direction: "sideways", HandledAt: time.Now()},
	)
	res, err := e.Meter.Meter(ctx(t), tid, metering.SourceAPI, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accepted) != 3 || len(res.Errors) != 5 {
		t.Fatalf("accepted %v errors %v", res.Accepted, res.Errors)
	}
	codes := map[string]string{}
	for _, e := range res.Errors {
		codes[e.ID] = e.Code
	}
	want := map[string]string{"": "invalid_id", "bad-channel": "invalid_channel", "no-time": "missing_handled_at", "future": "invalid_handled_at", "bad-dir": "invalid_direction"}
	for id, code := range want {
		if codes[id] != code {
			t.Errorf("%q: code %q, want %q", id, codes[id], code)
		}
	}
}

func TestMeter_ConcurrentCallersSameIDsMeterEachOnce(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	tenants := []interface{ String() string }{}
	_ = tenants
	a := e.newTenant(t, "acme")
	b := e.newTenant(t, "bravo")
	e.addBundle(t, a, 100, 2000, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))

	var mu sync.Mutex
	accepted := map[string]int{}
	var wg sync.WaitGroup
	for p := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tid := a
			if p%2 == 1 {
				tid = b
			}
			// Every producer of a tenant sends the same 300 ids, in 30 calls.
			all := contacts(fmt.Sprintf("t%d", p%2), 300)
			for i := 0; i < 300; i += 10 {
				res, err := e.Meter.Meter(c, tid, metering.SourceRouting, all[i:i+10])
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, id := range res.Accepted {
					accepted[tid.String()+id]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(accepted) != 600 {
		t.Fatalf("%d distinct ids accepted, want 600", len(accepted))
	}
	for id, n := range accepted {
		if n != 1 {
			t.Fatalf("%s accepted %d times", id, n)
		}
	}
	var records int
	if err := e.DB.Owner.QueryRow(c, `SELECT count(*) FROM meter_records`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	if records != 600 {
		t.Fatalf("%d records, want 600", records)
	}
	e.checkInvariants(t)
}
