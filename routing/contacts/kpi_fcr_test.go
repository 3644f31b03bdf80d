package contacts_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/contacts"
)

// First-contact resolution counts the accepted inbound contacts of known
// customers that were not followed by another inbound contact of the
// same customer, on any channel, within 7 days; CSAT averages the survey
// answers of the day's contacts.
func TestKPIs_FCRAndCSAT(t *testing.T) {
	w := newWorld(t)
	co := w.kpiCompany(t, "acme")
	ctx := testenv.Context(t)
	customerOf := func() uuid.UUID {
		id := uuid.New()
		if _, err := w.db.Owner.Exec(ctx, `INSERT INTO customers (tenant_id, id) VALUES ($1, $2)`, co.owner.TenantID, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	add := func(cust *uuid.UUID, channel, direction string, created time.Time, accepted bool, score int) {
		id := uuid.New()
		var acc *time.Time
		if accepted {
			v := created.Add(10 * time.Second)
			acc = &v
		}
		_, err := w.db.Owner.Exec(ctx, `INSERT INTO contacts (tenant_id, id, channel, direction, state, queue_id, customer_id,
				created_at, queued_at, accepted_at, closed_at) VALUES ($1, $2, $3, $4, 'closed', $5, $6, $7, $7, $8, $8)`,
			co.owner.TenantID, id, channel, direction, co.queues["support"].ID, cust, created, acc)
		if err != nil {
			t.Fatal(err)
		}
		if score > 0 {
			if _, err := w.db.Owner.Exec(ctx, `INSERT INTO csat_surveys (tenant_id, contact_id, channel, customer_id, score, answered_at)
				VALUES ($1, $2, $3, $4, $5, now())`, co.owner.TenantID, id, channel, cust, score); err != nil {
				t.Fatal(err)
			}
		}
	}
	retried, back, late, outbound := customerOf(), customerOf(), customerOf(), customerOf()
	add(&retried, "chat", "inbound", day, true, 5)                    // resolved: never came back
	add(&back, "chat", "inbound", day.Add(time.Hour), true, 2)        // not resolved: came back by e-mail in 3 days
	add(&back, "chat", "inbound", day.AddDate(0, 0, 3), true, 0)      // (another day)
	add(&late, "chat", "inbound", day.Add(2*time.Hour), true, 4)      // resolved: came back after 8 days
	add(&late, "chat", "inbound", day.AddDate(0, 0, 8), true, 0)      // (another day)
	add(&outbound, "chat", "outbound", day.Add(3*time.Hour), true, 0) // outbound: not counted
	add(nil, "chat", "inbound", day.Add(4*time.Hour), true, 0)        // unknown customer: not counted
	add(&retried, "chat", "inbound", day.Add(5*time.Hour), false, 0)  // abandoned, so not counted, and...
	// ...it follows the first one within 7 days: that one is not resolved
	// after all. Only contacts that were queued count as a return.

	ks, err := w.contacts.KPIs(ctx, co.owner, contacts.KPIQuery{From: day, To: day})
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 1 {
		t.Fatalf("KPIs: %+v", ks)
	}
	k := ks[0]
	if k.FCREligible != 3 || k.FCRResolved != 1 || k.FCR == nil || *k.FCR != 33.3 {
		t.Errorf("FCR: eligible %d resolved %d (%v); want 3, 1, 33.3", k.FCREligible, k.FCRResolved, k.FCR)
	}
	if k.CSATResponses != 3 || k.CSATSatisfied != 2 || k.CSATAverage == nil || *k.CSATAverage != 3.67 || k.CSAT == nil || *k.CSAT != 66.7 {
		t.Errorf("CSAT: %d answers, %d satisfied, mean %v, %v %%; want 3, 2, 3.67, 66.7", k.CSATResponses, k.CSATSatisfied, k.CSATAverage, k.CSAT)
	}
}
