package chargeback

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/metering"
)

// TestReconcile_LinesSumToTotalAndTotalIsTheConsumedValue is the
// reconciliation property: for random bundles (sizes and prices that do
// not divide), a random overage price, random contacts over two months
// and a random report period and dimension, every time:
//   - the total is the exact value of the period's records rounded once,
//     and equals bundle value drawn + overage;
//   - the per-contact lines (EffectiveCost) sum to the total, each is its
//     exact cost rounded down or up, and BilledCost sums to the overage;
//   - the groups sum to the total, each is the sum of its contacts' lines,
//     and costing the groups without streaming (how the previous period is
//     costed) gives the very same cents;
//   - the previous period's totals are its own exact value rounded once.
func TestReconcile_LinesSumToTotalAndTotalIsTheConsumedValue(t *testing.T) {
	e := newEnv(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	window := 60 * 24 * time.Hour
	rounds := 25
	if testing.Short() {
		rounds = 6
	}
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	for round := range rounds {
		tenantID := e.rawTenant(t, fmt.Sprintf("Round %d", round))
		var bundles []uuid.UUID
		var classes []Class
		for range 1 + rng.IntN(4) {
			size := 1 + rng.Int64N(1_000_000)
			if rng.IntN(4) == 0 {
				size = 1 + rng.Int64N(30)
			}
			price := rng.Int64N(5_000_000)
			if rng.IntN(6) == 0 {
				price = 0 // a trial
			}
			bundles = append(bundles, e.bundle(t, tenantID, size, price, start.Add(-time.Hour)))
			classes = append(classes, Class{price, size})
		}
		overage := Class{rng.Int64N(60), 1}
		n := rng.IntN(400)
		rs := make([]rec, n)
		for i := range rs {
			r := rec{ID: fmt.Sprintf("c-%d-%d", round, i), Channel: pick("chat", "email", "voice", "sms"), Direction: pick("inbound", "outbound"),
				Metered: start.Add(time.Duration(rng.Int64N(int64(window)))).Truncate(time.Microsecond),
				Queue:   pick("", "Support", "Sales", "=cmd()"), Department: pick("", "Support", "Billing, Inc."),
				CostCentre: pick("", "CC-1", "CC-2"), QueueCC: pick("", "", "Q-9"), Campaign: pick("", "", "", "Spring"), Agent: pick("", "a@x", "b@x")}
			// Some records share a metering time: the contact id breaks the tie.
			if i > 0 && rng.IntN(8) == 0 {
				r.Metered = rs[i-1].Metered
			}
			if k := rng.IntN(len(bundles) + 1); k < len(bundles) {
				r.Bundle, r.Num, r.Den = &bundles[k], classes[k].Num, classes[k].Den
			} else {
				r.Num, r.Den = overage.Num, overage.Den
			}
			rs[i] = r
		}
		e.insert(t, tenantID, rs)
		// Billing has charged January's overage for some tenants.
		if rng.IntN(2) == 0 {
			if _, err := e.DB.Owner.Exec(ctx(t), `INSERT INTO overage_charges (tenant_id, period, contacts, amount_minor, currency, mode)
				SELECT tenant_id, '2026-01-01', count(*), sum(cost_num), 'EUR', 'local' FROM meter_records
				WHERE tenant_id = $1 AND bundle_id IS NULL AND metered_at >= '2026-01-01' AND metered_at < '2026-02-01'
				GROUP BY tenant_id`, tenantID); err != nil {
				t.Fatal(err)
			}
		}

		from := start.Add(time.Duration(rng.Int64N(int64(window)))).Truncate(time.Second)
		to := from.Add(time.Duration(1 + rng.Int64N(int64(window)))).Truncate(time.Second)
		if rng.IntN(4) == 0 {
			from, to = start, start.AddDate(0, 1, 0)
		}
		dim := Dimensions[rng.IntN(len(Dimensions))]
		t.Run(fmt.Sprintf("round%d_%s_%d_contacts", round, dim, n), func(t *testing.T) {
			id := e.newReport(t, tenantID, from, to, dim)
			if err := e.Svc.Generate(ctx(t), tenantID, id); err != nil {
				t.Fatal(err)
			}
			r, err := e.Svc.get(ctx(t), tenantID, id)
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, e, r, rs)
		})
	}
}

// checkReport checks a done report against the records it was made from,
// recomputing everything the slow way.
func checkReport(t *testing.T, e *env, r Report, rs []rec) {
	t.Helper()
	if r.Status != StatusDone || r.Progress != 100 || r.Summary == nil {
		t.Fatalf("report %s progress %d", r.Status, r.Progress)
	}
	exact, bundleExact := new(big.Rat), new(big.Rat)
	prevExact := new(big.Rat)
	var contacts, prevContacts, overageMinor int64
	byID := map[string]rec{}
	prevFrom, _ := PreviousPeriod(r.From, r.To)
	for _, x := range rs {
		c := big.NewRat(x.Num, x.Den)
		switch {
		case !x.Metered.Before(r.From) && x.Metered.Before(r.To):
			exact.Add(exact, c)
			contacts++
			byID[x.ID] = x
			if x.Bundle == nil {
				overageMinor += x.Num / x.Den
			} else {
				bundleExact.Add(bundleExact, c)
			}
		case !x.Metered.Before(prevFrom) && x.Metered.Before(r.From):
			prevExact.Add(prevExact, c)
			prevContacts++
		}
	}
	tot, rc := r.Summary.Totals, r.Summary.Reconciliation
	if tot.Contacts != contacts || tot.CostMinor != RoundHalfUp(exact) {
		t.Fatalf("totals %d contacts %d minor, want %d and %s rounded", tot.Contacts, tot.CostMinor, contacts, exact.FloatString(4))
	}
	if rc.BundleMinor != RoundHalfUp(bundleExact) || rc.OverageMinor != overageMinor || rc.BundleMinor+rc.OverageMinor != tot.CostMinor {
		t.Fatalf("bundle %d (exact %s) + overage %d (want %d) != total %d", rc.BundleMinor, bundleExact.FloatString(4), rc.OverageMinor,
			overageMinor, tot.CostMinor)
	}
	if tot.Previous.Contacts != prevContacts || tot.Previous.CostMinor != RoundHalfUp(prevExact) {
		t.Fatalf("previous %d/%d, want %d/%s", tot.Previous.Contacts, tot.Previous.CostMinor, prevContacts, prevExact.FloatString(4))
	}

	lines := csvRecords(t, e.file(t, r.TenantID, r.ID, FormatCSV))
	if int64(len(lines)) != contacts {
		t.Fatalf("%d CSV lines, %d contacts", len(lines), contacts)
	}
	var sum, billed int64
	groups := map[string]int64{}
	var last rec
	for _, l := range lines {
		x, ok := byID[l["ResourceId"]]
		if !ok {
			t.Fatalf("line for %q, not a contact of the period", l["ResourceId"])
		}
		delete(byID, x.ID)
		v := cents(t, l["EffectiveCost"])
		if f := x.Num / x.Den; v != f && v != f+1 {
			t.Fatalf("%s: %d cents for %d/%d", x.ID, v, x.Num, x.Den)
		}
		b := cents(t, l["BilledCost"])
		if (x.Bundle == nil && b != v) || (x.Bundle != nil && b != 0) {
			t.Fatalf("%s: billed %d of %d (bundle %v)", x.ID, b, v, x.Bundle)
		}
		if x.Bundle != nil && l["CommitmentDiscountId"] != x.Bundle.String() || x.Bundle == nil && l["PricingCategory"] != "Standard" {
			t.Fatalf("%s: bundle %q pricing %q", x.ID, l["CommitmentDiscountId"], l["PricingCategory"])
		}
		if x.Metered.Before(last.Metered) || x.Metered.Equal(last.Metered) && x.ID < last.ID {
			t.Fatalf("lines out of stream order: %s at %s after %s at %s", x.ID, x.Metered, last.ID, last.Metered)
		}
		last = x
		sum += v
		billed += b
		groups[keyOf(r.Dimension, x)] += v
	}
	if sum != tot.CostMinor || rc.LinesMinor != sum || billed != rc.OverageMinor || rc.BilledMinor != billed {
		t.Fatalf("lines sum %d billed %d; total %d overage %d", sum, billed, tot.CostMinor, rc.OverageMinor)
	}
	var gsum int64
	for _, g := range r.Summary.Groups {
		if g.Contacts == 0 {
			continue // a group of the previous period only
		}
		if groups[g.Key] != g.CostMinor {
			t.Fatalf("group %q: %d, its lines sum to %d", g.Key, g.CostMinor, groups[g.Key])
		}
		gsum += g.CostMinor
	}
	if gsum != tot.CostMinor || rc.GroupsMinor != gsum {
		t.Fatalf("groups sum %d, total %d", gsum, tot.CostMinor)
	}
	// Each whole month's overage is what metering counts for billing, and
	// is set beside what billing recorded for it.
	err := e.Svc.DB.Tx(ctx(t), r.TenantID, func(tx pgx.Tx) error {
		got := map[string]InvoicedMonth{}
		for _, m := range rc.Invoiced {
			got[m.Month] = m
		}
		for m := monthOf(r.From); !m.AddDate(0, 1, 0).After(r.To); m = m.AddDate(0, 1, 0) {
			if m.Before(r.From) {
				continue
			}
			_, want, err := metering.Overage(ctx(t), tx, r.TenantID, m, m.AddDate(0, 1, 0))
			if err != nil {
				return err
			}
			var billed *int64
			var amount int64
			if err := tx.QueryRow(ctx(t), `SELECT amount_minor FROM overage_charges WHERE tenant_id = $1 AND period = $2`,
				r.TenantID, m).Scan(&amount); err == nil {
				billed = &amount
			}
			g, ok := got[m.Format("2006-01")]
			if (want > 0 || billed != nil) != ok || g.ReportMinor != want || (billed == nil) != (g.InvoiceMinor == nil) ||
				billed != nil && *billed != *g.InvoiceMinor {
				return fmt.Errorf("month %s: report says %+v, metering %d, billing %v", m.Format("2006-01"), g, want, billed)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The aggregate costing agrees with the stream, group for group.
	err = e.Svc.DB.Tx(ctx(t), r.TenantID, func(tx pgx.Tx) error {
		agg, _, err := groupCosts(ctx(t), tx, period{r.TenantID, r.From, r.To}, r.Dimension)
		if err != nil {
			return err
		}
		for k, a := range agg {
			if groups[k] != a.cost {
				return fmt.Errorf("group %q: aggregate %d cents, stream %d", k, a.cost, groups[k])
			}
		}
		if len(agg) != len(groups) {
			return fmt.Errorf("aggregate has %d groups, stream %d", len(agg), len(groups))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The groups CSV ends with the reconciliation: bundle + overage = total.
	grows := csvRecords(t, e.file(t, r.TenantID, r.ID, FormatGroups))
	foot := grows[len(grows)-1]
	if foot["x_RowType"] != "reconciliation" || cents(t, foot["EffectiveCost"]) != tot.CostMinor {
		t.Fatalf("groups CSV footer %v, total %d", foot, tot.CostMinor)
	}
	if pdf := e.file(t, r.TenantID, r.ID, FormatPDF); string(pdf[:5]) != "%PDF-" {
		t.Fatalf("pdf starts %q", pdf[:8])
	}
}

// keyOf is the group key of a record, computed independently of the code
// under test.
func keyOf(d Dimension, x rec) string {
	switch d {
	case DimCostCentre:
		for _, v := range []string{x.Campaign, x.QueueCC, x.CostCentre} {
			if v != "" {
				return v
			}
		}
		return ""
	case DimDepartment:
		return x.Department
	case DimQueue:
		return x.Queue
	case DimChannel:
		return x.Channel
	case DimDirection:
		return x.Direction
	case DimCampaign:
		return x.Campaign
	case DimAgentTeam:
		if x.Agent == "" {
			return ""
		}
		return x.Department
	}
	panic(d)
}
