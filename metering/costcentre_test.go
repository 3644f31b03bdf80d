package metering_test

import (
	"testing"
	"time"

	"github.com/cic-platform/cic/metering"
)

// TestMeter_SnapshotsTheQueueCostCentre: chargeback allocates by the
// queue's cost centre, so each record keeps the one it was metered with:
// the caller's, else the cost centre of the tenant's queue of that name.
func TestMeter_SnapshotsTheQueueCostCentre(t *testing.T) {
	e := newEnv(t)
	id := e.newTenant(t, "acme")
	if _, err := e.DB.Owner.Exec(ctx(t), `INSERT INTO queues (tenant_id, id, name, channels, cost_centre)
		VALUES ($1, gen_random_uuid(), 'Support', '{chat}', 'CC-Q1')`, id); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute)
	res, err := e.Meter.Meter(ctx(t), id, metering.SourceAPI, []metering.HandledContact{
		{ID: "by-name", Channel: "chat", HandledAt: at, Queue: "support"},
		{ID: "given", Channel: "chat", HandledAt: at, Queue: "Support", QueueCostCentre: "CC-X"},
		{ID: "unknown-queue", Channel: "chat", HandledAt: at, Queue: "Sales"},
		{ID: "no-queue", Channel: "chat", HandledAt: at},
	})
	if err != nil || len(res.Accepted) != 4 {
		t.Fatalf("%+v, %v", res, err)
	}
	// A later change of the queue's cost centre does not rewrite history.
	if _, err := e.DB.Owner.Exec(ctx(t), `UPDATE queues SET cost_centre = 'CC-NEW' WHERE tenant_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"by-name": "CC-Q1", "given": "CC-X", "unknown-queue": "", "no-queue": ""}
	for cid, cc := range want {
		var got string
		if err := e.DB.Owner.QueryRow(ctx(t), `SELECT queue_cost_centre FROM meter_records WHERE tenant_id = $1 AND contact_id = $2`,
			id, cid).Scan(&got); err != nil || got != cc {
			t.Errorf("%s: queue cost centre %q (%v), want %q", cid, got, err, cc)
		}
	}
}
