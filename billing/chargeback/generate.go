package chargeback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/mail"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// Progress milestones: the aggregate pass, the stream (most of the work),
// the small files.
const (
	progressPlanned  = 2
	progressStreamed = 95
	progressFiles    = 99
)

// errBusy: another worker is producing the report right now (a
// duplicate delivery); asynq retries later, and by then it is done.
var errBusy = errors.New("report is being produced by another worker")

// Generate produces one report: the plan from an aggregate pass, the
// per-contact CSV from a streaming pass (both in one snapshot), the
// comparison period, the groups CSV and the PDF; then it marks the report
// done and tells whoever is waiting. It starts over from nothing when run
// again on a report that is not done (a retry after a crash), and does
// nothing on one that is. Two runs of one report never overlap: each
// holds the report's advisory lock in its snapshot transaction.
func (s *Service) Generate(ctx context.Context, tenantID, id uuid.UUID) error {
	var r Report
	produced := false
	err := s.DB.SnapshotTx(ctx, tenantID, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7321))`, "report:"+id.String()).Scan(&locked); err != nil {
			return err
		}
		if !locked {
			return errBusy
		}
		var err error
		if r, err = s.claim(ctx, tenantID, id); err != nil || r.Status == StatusDone {
			return err
		}
		if err := s.produce(ctx, tx, &r); err != nil {
			return err
		}
		produced = true
		return nil
	})
	if err != nil || !produced {
		return err
	}
	s.notify(ctx, r)
	return nil
}

// produce makes a claimed report's files and marks it done; tx is the
// snapshot every read of the report's data goes through.
func (s *Service) produce(ctx context.Context, tx pgx.Tx, r *Report) error {
	tenantID, id := r.TenantID, r.ID
	st := s.store()
	if err := st.Delete(ctx, s.DB, tenantID, id); err != nil {
		return err
	}
	t, err := tenant.Get(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	prog := s.startProgress(ctx, tenantID, id)
	defer prog.stop()

	cur := period{tenantID: tenantID, from: r.From, to: r.To}
	prevFrom, prevTo := PreviousPeriod(r.From, r.To)
	prev := period{tenantID: tenantID, from: prevFrom, to: prevTo}
	var sum *Summary
	err = func() error {
		agg, err := readAggregate(ctx, tx, cur)
		if err != nil {
			return err
		}
		plan, err := NewPlan(agg.classes)
		if err != nil {
			return err
		}
		prog.plan(plan.Contacts)
		w, err := st.Create(ctx, s.DB, tenantID, id, FormatCSV)
		if err != nil {
			return err
		}
		res, err := streamContacts(ctx, tx, cur, r.Dimension, r.Currency, plan, w, prog.rows)
		if err != nil {
			w.Abort()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		prevGroups, prevPlan, err := groupCosts(ctx, tx, prev, r.Dimension)
		if err != nil {
			return err
		}
		bundles, err := bundleLines(ctx, tx, tenantID, res.bundles)
		if err != nil {
			return err
		}
		invoiced, err := invoicedMonths(ctx, tx, cur, res.overage)
		if err != nil {
			return err
		}
		sum, err = summarize(*r, t.Name, plan, agg, res, prevGroups, prevPlan, prev, bundles, invoiced)
		return err
	}()
	if err != nil {
		return err
	}
	prog.set(progressStreamed)
	r.Summary = sum
	if err := writeSmall(ctx, st, s.DB, tenantID, id, FormatGroups, GroupsCSV(*r)); err != nil {
		return err
	}
	pdf, err := PDF(*r, s.now())
	if err != nil {
		return err
	}
	if err := writeSmall(ctx, st, s.DB, tenantID, id, FormatPDF, pdf); err != nil {
		return err
	}
	prog.set(progressFiles)
	prog.stop()
	return s.finish(ctx, *r)
}

// claim marks the report running; a report already done is returned as is.
func (s *Service) claim(ctx context.Context, tenantID, id uuid.UUID) (Report, error) {
	var r Report
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if r, err = getReport(ctx, tx, tenantID, id); err != nil || r.Status == StatusDone {
			return err
		}
		r, err = scanReport(tx.QueryRow(ctx, `UPDATE reports SET status = 'running', progress = 0, rows_done = 0, rows_total = 0,
			started_at = now(), finished_at = NULL, summary = NULL WHERE tenant_id = $1 AND id = $2 RETURNING `+reportColumns, tenantID, id))
		return err
	})
	if err != nil {
		return Report{}, fmt.Errorf("claim report: %w", err)
	}
	return r, nil
}

func (s *Service) finish(ctx context.Context, r Report) error {
	raw, err := json.Marshal(r.Summary)
	if err != nil {
		return err
	}
	t := r.Summary.Totals
	return s.DB.Tx(ctx, r.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE reports SET status = 'done', progress = 100, rows_done = $3, rows_total = $3, contacts = $3,
			total_minor = $4, bundle_minor = $5, overage_minor = $6, summary = $7, error = '', finished_at = now()
			WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.ID, t.Contacts, t.CostMinor, t.BundleMinor, t.OverageMinor, raw)
		return err
	})
}

// markFailed records a failed run: for good after the last retry, else
// back to queued for the retry. The message is for people; the cause is
// in the worker's log.
func (s *Service) markFailed(ctx context.Context, tenantID, id uuid.UUID, final bool) error {
	status, msg := StatusQueued, "The report hit an error; it is being tried again."
	if final {
		status, msg = StatusFailed, "The report could not be produced; the error has been logged. Ask for it again, or contact support."
	}
	return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE reports SET status = $3, error = $4, progress = 0,
			finished_at = CASE WHEN $3 = 'failed' THEN now() END WHERE tenant_id = $1 AND id = $2 AND status <> 'done'`,
			tenantID, id, status, msg)
		return err
	})
}

// progress stores a running report's progress from a goroutine of its
// own, at most every ProgressEvery, so the stream never waits for it.
type progress struct {
	total, done atomic.Int64
	fixed       atomic.Int32
	stopOnce    sync.Once
	quit        chan struct{}
	wg          sync.WaitGroup
}

func (s *Service) startProgress(ctx context.Context, tenantID, id uuid.UUID) *progress {
	p := &progress{quit: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(s.progressEvery())
		defer t.Stop()
		last := int64(-1)
		write := func() {
			pct, done, total := p.percent()
			key := int64(pct)<<48 | done
			if key == last {
				return
			}
			last = key
			err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE reports SET progress = $3, rows_done = $4, rows_total = $5
					WHERE tenant_id = $1 AND id = $2 AND status = 'running'`, tenantID, id, pct, done, total)
				return err
			})
			if err != nil && ctx.Err() == nil {
				s.logger().WarnContext(ctx, "report progress", "report_id", id, "err", err)
			}
		}
		for {
			select {
			case <-t.C:
				write()
			case <-p.quit:
				write()
				return
			}
		}
	}()
	return p
}

func (p *progress) plan(total int64) {
	p.total.Store(total)
	p.fixed.Store(progressPlanned)
}

func (p *progress) rows(done int64) { p.done.Store(done) }

func (p *progress) set(pct int32) { p.fixed.Store(pct) }

func (p *progress) percent() (int, int64, int64) {
	done, total, fixed := p.done.Load(), p.total.Load(), p.fixed.Load()
	pct := int(fixed)
	if fixed == progressPlanned && total > 0 {
		pct = progressPlanned + int((progressStreamed-progressPlanned)*done/total)
	}
	return pct, done, total
}

func (p *progress) stop() {
	p.stopOnce.Do(func() { close(p.quit) })
	p.wg.Wait()
}

// bundleLines describes the bundles the period drew from.
func bundleLines(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, acc map[uuid.UUID]*groupAcc) ([]BundleLine, error) {
	var ids []uuid.UUID
	for id := range acc {
		if id != uuid.Nil {
			ids = append(ids, id)
		}
	}
	out := []BundleLine{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, source, contacts, price_minor FROM bundles WHERE tenant_id = $1 AND id = ANY($2)
		ORDER BY valid_until, created_at, id`, tenantID, ids)
	if err != nil {
		return nil, fmt.Errorf("bundles: %w", err)
	}
	out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (BundleLine, error) {
		var b BundleLine
		err := r.Scan(&b.ID, &b.Source, &b.BundleContacts, &b.PriceMinor)
		b.Contacts, b.CostMinor = acc[b.ID].contacts, acc[b.ID].cost
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("bundles: %w", err)
	}
	return out, nil
}

// invoicedMonths compares the overage of every whole calendar month of
// the period (from the stream: overage lines are whole cents, never
// rounded) with what billing recorded for it.
func invoicedMonths(ctx context.Context, tx pgx.Tx, p period, overage map[time.Time]int64) ([]InvoicedMonth, error) {
	type charge struct {
		amount int64
		status string
	}
	charges := map[time.Time]charge{}
	rows, err := tx.Query(ctx, `SELECT period, amount_minor, status FROM overage_charges WHERE tenant_id = $1 AND period >= $2 AND period < $3`,
		p.tenantID, p.from, p.to)
	if err != nil {
		return nil, fmt.Errorf("overage charges: %w", err)
	}
	for rows.Next() {
		var m time.Time
		var c charge
		if err := rows.Scan(&m, &c.amount, &c.status); err != nil {
			rows.Close()
			return nil, fmt.Errorf("overage charges: %w", err)
		}
		charges[monthOf(m)] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("overage charges: %w", err)
	}
	var out []InvoicedMonth
	for m := monthOf(p.from); !m.AddDate(0, 1, 0).After(p.to); m = m.AddDate(0, 1, 0) {
		if m.Before(p.from) {
			continue
		}
		im := InvoicedMonth{Month: m.Format("2006-01"), ReportMinor: overage[m]}
		if c, ok := charges[m]; ok {
			amount := c.amount
			im.InvoiceMinor, im.Status = &amount, c.status
		}
		if im.ReportMinor > 0 || im.InvoiceMinor != nil {
			out = append(out, im)
		}
	}
	return out, nil
}

// PreviousPeriod is what a period is compared with: as many calendar
// months just before when it is whole months (March against February),
// else the same length just before.
func PreviousPeriod(from, to time.Time) (time.Time, time.Time) {
	if from.Equal(monthOf(from)) && to.Equal(monthOf(to)) {
		months := (to.Year()-from.Year())*12 + int(to.Month()) - int(from.Month())
		return from.AddDate(0, -months, 0), from
	}
	return from.Add(-to.Sub(from)), from
}

// perContact is cost/contacts in minor units, 4 decimals.
func perContact(cost, contacts int64) string {
	if contacts == 0 {
		return "0.0000"
	}
	return big.NewRat(cost, contacts).FloatString(4)
}

func share(cost, total int64) string {
	if total == 0 {
		return "0.00"
	}
	return big.NewRat(cost*100, total).FloatString(2)
}

// summarize builds what the page, the API, the groups CSV and the PDF
// show, and checks the invariants before anything is marked done.
func summarize(r Report, company string, plan *Plan, agg aggregate, res streamResult, prevGroups map[string]*groupAcc,
	prevPlan *Plan, prev period, bundles []BundleLine, invoiced []InvoicedMonth) (*Summary, error) {
	sum := &Summary{Company: company, Bundles: bundles, AllocationRule: AllocationRule}
	overage := res.bundles[uuid.Nil]
	if overage == nil {
		overage = &groupAcc{}
	}
	bundleExact := new(big.Rat)
	var bundleContacts int64
	for id, classes := range agg.bundles {
		if id == uuid.Nil {
			continue
		}
		for c, n := range classes {
			bundleExact.Add(bundleExact, new(big.Rat).Mul(c.Rat(), new(big.Rat).SetInt64(n)))
			bundleContacts += n
		}
	}
	var groupsTotal int64
	keys := make(map[string]bool, len(res.groups)+len(prevGroups))
	for k := range res.groups {
		keys[k] = true
	}
	for k := range prevGroups {
		keys[k] = true
	}
	for k := range keys {
		g := Group{Key: k, Label: k}
		if k == "" {
			g.Label = r.Dimension.emptyLabel()
		}
		if a := res.groups[k]; a != nil {
			g.Contacts, g.CostMinor, g.BilledMinor = a.contacts, a.cost, a.billed
			groupsTotal += a.cost
		}
		if a := prevGroups[k]; a != nil {
			g.PreviousContacts, g.PreviousCostMinor = a.contacts, a.cost
		}
		g.CostPerContactMinor = perContact(g.CostMinor, g.Contacts)
		g.SharePercent = share(g.CostMinor, plan.Total)
		sum.Groups = append(sum.Groups, g)
	}
	sort.Slice(sum.Groups, func(i, j int) bool {
		a, b := sum.Groups[i], sum.Groups[j]
		if a.CostMinor != b.CostMinor {
			return a.CostMinor > b.CostMinor
		}
		if a.Contacts != b.Contacts {
			return a.Contacts > b.Contacts
		}
		return a.Key < b.Key
	})
	sum.Totals = Totals{
		Contacts: plan.Contacts, CostMinor: plan.Total, Cost: FormatMinor(plan.Total),
		CostPerContactMinor: perContact(plan.Total, plan.Contacts),
		BundleMinor:         res.lines.cost - overage.cost, OverageMinor: overage.cost,
		Previous: PeriodTotals{From: prev.from, To: prev.to, Contacts: prevPlan.Contacts, CostMinor: prevPlan.Total},
	}
	sum.Reconciliation = Reconciliation{
		BundleContacts: bundleContacts, BundleExactMinor: bundleExact.FloatString(6), BundleMinor: sum.Totals.BundleMinor,
		OverageContacts: overage.contacts, OverageMinor: overage.cost, TotalMinor: plan.Total,
		LinesMinor: res.lines.cost, GroupsMinor: groupsTotal, BilledMinor: res.lines.billed, Invoiced: invoiced,
	}
	// The invariants, checked on every report: a report that does not add
	// up is a bug, and is never handed out.
	rec := sum.Reconciliation
	switch {
	case res.lines.contacts != plan.Contacts:
		return nil, fmt.Errorf("reconcile: %d lines, %d contacts planned", res.lines.contacts, plan.Contacts)
	case rec.LinesMinor != rec.TotalMinor || rec.GroupsMinor != rec.TotalMinor:
		return nil, fmt.Errorf("reconcile: lines %d, groups %d, total %d", rec.LinesMinor, rec.GroupsMinor, rec.TotalMinor)
	case rec.BundleMinor+rec.OverageMinor != rec.TotalMinor:
		return nil, fmt.Errorf("reconcile: bundle %d + overage %d != total %d", rec.BundleMinor, rec.OverageMinor, rec.TotalMinor)
	case rec.BundleMinor != RoundHalfUp(bundleExact):
		return nil, fmt.Errorf("reconcile: bundle lines %d, bundle value %s", rec.BundleMinor, bundleExact.FloatString(6))
	case rec.BilledMinor != rec.OverageMinor:
		return nil, fmt.Errorf("reconcile: billed %d, overage %d", rec.BilledMinor, rec.OverageMinor)
	}
	return sum, nil
}

// notify tells whoever is waiting that the report is ready: the requester,
// or for the monthly report the tenant's finance users and owner.
func (s *Service) notify(ctx context.Context, r Report) {
	if s.Mailer == nil {
		return
	}
	var to []mail.Address
	err := s.DB.Tx(ctx, r.TenantID, func(tx pgx.Tx) error {
		q := `SELECT name, email FROM users WHERE tenant_id = $1 AND status = 'active' AND role IN ('finance', 'owner')`
		args := []any{r.TenantID}
		if r.CreatedBy != nil {
			q += ` AND id = $2`
			args = append(args, *r.CreatedBy)
		}
		rows, err := tx.Query(ctx, q+` ORDER BY email`, args...)
		if err != nil {
			return err
		}
		to, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (mail.Address, error) {
			var a mail.Address
			return a, row.Scan(&a.Name, &a.Address)
		})
		return err
	})
	if err != nil || len(to) == 0 {
		if err != nil {
			s.logger().WarnContext(ctx, "report e-mail recipients", "report_id", r.ID, "err", err)
		}
		return
	}
	link := s.PublicURL + "/reports/" + r.ID.String()
	last := r.To.Add(-time.Nanosecond)
	msg := metering.Message{To: to,
		Subject: fmt.Sprintf("Chargeback report ready: %s to %s by %s", r.From.Format("2006-01-02"), last.Format("2006-01-02"),
			r.Dimension.Label()),
		Body: fmt.Sprintf("Your chargeback report for %s to %s (by %s) is ready.\n\nContacts: %d\nTotal: %s %s\n\nOpen it to see the table and download the CSV and PDF:\n%s\n",
			r.From.Format("2006-01-02"), last.Format("2006-01-02"), r.Dimension.Label(), r.Summary.Totals.Contacts,
			FormatMinor(r.Summary.Totals.CostMinor), r.Currency, link)}
	if r.Trigger == TriggerMonthly {
		msg.Subject = "Monthly chargeback report: " + r.From.Format("January 2006")
	}
	if err := s.Mailer.Send(ctx, msg); err != nil {
		s.logger().WarnContext(ctx, "report e-mail", "report_id", r.ID, "err", err)
		return
	}
	_ = s.DB.Tx(ctx, r.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE reports SET notified_at = now() WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.ID)
		return err
	})
}

// auditSystem records what the worker did on its own (no user).
func auditSystem(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, action string, id uuid.UUID, details map[string]any) error {
	return tenant.Audit(ctx, tx, tenant.Actor{TenantID: tenantID}, action, "report", id.String(), details)
}
