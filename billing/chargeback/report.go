package chargeback

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Report is one chargeback report as finance sees it.
type Report struct {
	TenantID  uuid.UUID  `json:"-"`
	ID        uuid.UUID  `json:"id"`
	Kind      string     `json:"kind"`
	Trigger   string     `json:"trigger"`
	From      time.Time  `json:"from"`
	To        time.Time  `json:"to"`
	Dimension Dimension  `json:"dimension"`
	Currency  string     `json:"currency"`
	Status    string     `json:"status"`
	Progress  int        `json:"progress"`
	RowsDone  int64      `json:"rows_done"`
	RowsTotal int64      `json:"rows_total"`
	Error     string     `json:"error,omitempty"`
	CreatedBy *uuid.UUID `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	// FinishedAt is when it was done (or failed for good).
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	ExpiresAt  time.Time  `json:"expires_at"`
	// Summary is there once the report is done (in lists: the totals only).
	*Summary
}

// Summary is what a finished report found.
type Summary struct {
	Company        string         `json:"company,omitempty"`
	Totals         Totals         `json:"totals"`
	Groups         []Group        `json:"groups,omitempty"`
	Bundles        []BundleLine   `json:"bundles,omitempty"`
	Reconciliation Reconciliation `json:"reconciliation"`
	AllocationRule string         `json:"allocation_rule,omitempty"`
}

// Totals are the report's sums, in minor units of its currency.
type Totals struct {
	Contacts  int64 `json:"contacts"`
	CostMinor int64 `json:"cost_minor"`
	// Cost is CostMinor in major units ("1234.56").
	Cost string `json:"cost"`
	// CostPerContactMinor is exact cost / contacts, 4 decimals.
	CostPerContactMinor string `json:"cost_per_contact_minor"`
	// BundleMinor (value drawn from prepaid bundles) + OverageMinor
	// (contacts beyond the bundles, billed at the overage price) = CostMinor.
	BundleMinor  int64        `json:"bundle_minor"`
	OverageMinor int64        `json:"overage_minor"`
	Previous     PeriodTotals `json:"previous"`
}

// PeriodTotals are the totals of the comparison period (PreviousPeriod).
type PeriodTotals struct {
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Contacts  int64     `json:"contacts"`
	CostMinor int64     `json:"cost_minor"`
}

// Group is one line of the report's table.
type Group struct {
	// Key is the dimension's value ("" for none); Label names it.
	Key       string `json:"key"`
	Label     string `json:"label"`
	Contacts  int64  `json:"contacts"`
	CostMinor int64  `json:"cost_minor"`
	// BilledMinor is the part of CostMinor invoiced as overage.
	BilledMinor         int64  `json:"billed_minor"`
	CostPerContactMinor string `json:"cost_per_contact_minor"`
	// SharePercent is the group's share of the total cost, 2 decimals.
	SharePercent      string `json:"share_percent"`
	PreviousContacts  int64  `json:"previous_contacts"`
	PreviousCostMinor int64  `json:"previous_cost_minor"`
}

// BundleLine is what the period drew from one prepaid bundle.
type BundleLine struct {
	ID             uuid.UUID `json:"id"`
	Source         string    `json:"source"`
	BundleContacts int64     `json:"bundle_contacts"`
	PriceMinor     int64     `json:"price_minor"`
	Contacts       int64     `json:"contacts"`
	CostMinor      int64     `json:"cost_minor"`
}

// Reconciliation shows the report adds up: lines = groups = total =
// bundle value drawn + overage.
type Reconciliation struct {
	BundleContacts int64 `json:"bundle_contacts"`
	// BundleExactMinor is the exact value drawn, before the one rounding.
	BundleExactMinor string `json:"bundle_exact_minor"`
	BundleMinor      int64  `json:"bundle_minor"`
	OverageContacts  int64  `json:"overage_contacts"`
	OverageMinor     int64  `json:"overage_minor"`
	TotalMinor       int64  `json:"total_minor"`
	// LinesMinor is the sum of the per-contact lines, GroupsMinor of the
	// groups; both equal TotalMinor.
	LinesMinor  int64 `json:"lines_minor"`
	GroupsMinor int64 `json:"groups_minor"`
	// BilledMinor is the sum of the lines' BilledCost: the overage.
	BilledMinor int64 `json:"billed_minor"`
	// Invoiced compares the overage of each whole calendar month in the
	// period with what billing invoiced for it.
	Invoiced []InvoicedMonth `json:"invoiced,omitempty"`
}

// InvoicedMonth is one month's overage: in the report and as invoiced.
type InvoicedMonth struct {
	Month        string `json:"month"` // YYYY-MM
	ReportMinor  int64  `json:"report_minor"`
	InvoiceMinor *int64 `json:"invoiced_minor"` // nil: not invoiced yet
	Status       string `json:"status,omitempty"`
}

// RequestInput is what finance asks for. From and To are dates
// (YYYY-MM-DD, midnight UTC) or RFC 3339 times; the period is [From, To).
type RequestInput struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Dimension string `json:"dimension"`
}

func parseWhen(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if s == "" {
		return time.Time{}, cic.Codef(cic.EINVALID, "missing_"+field, "%s is required: a date (YYYY-MM-DD) or an RFC 3339 time.", field)
	}
	return time.Time{}, cic.Codef(cic.EINVALID, "invalid_"+field, "%s must be a date (YYYY-MM-DD) or an RFC 3339 time.", field)
}

// ParseRequest validates a request: a known dimension, from before to, at
// most MaxPeriod, started by now.
func ParseRequest(in RequestInput, now time.Time) (from, to time.Time, dim Dimension, err error) {
	if from, err = parseWhen("from", in.From); err != nil {
		return
	}
	if to, err = parseWhen("to", in.To); err != nil {
		return
	}
	dim = Dimension(strings.TrimSpace(in.Dimension))
	if dim == "" {
		dim = DimCostCentre
	}
	switch {
	case !dim.Valid():
		names := make([]string, len(Dimensions))
		for i, d := range Dimensions {
			names[i] = string(d)
		}
		err = cic.Codef(cic.EINVALID, "invalid_dimension", "dimension must be one of %s.", strings.Join(names, ", "))
	case !from.Before(to):
		err = cic.Codef(cic.EINVALID, "invalid_period", "from must be before to (the period is [from, to)).")
	case to.Sub(from) > MaxPeriod:
		err = cic.Codef(cic.EINVALID, "period_too_long", "A report covers at most a year (366 days).")
	case from.Year() < 2000:
		err = cic.Codef(cic.EINVALID, "invalid_from", "from must be in the year 2000 or later.")
	case from.After(now):
		err = cic.Codef(cic.EINVALID, "period_in_future", "The period has not started yet.")
	}
	return
}

// Request records a report for a and queues its generation on the
// billing worker.
func (s *Service) Request(ctx context.Context, a tenant.Actor, in RequestInput) (Report, error) {
	if err := requireUse(a); err != nil {
		return Report{}, err
	}
	from, to, dim, err := ParseRequest(in, s.now())
	if err != nil {
		return Report{}, err
	}
	if s.Jobs == nil {
		return Report{}, errNoJobs
	}
	id := uuid.New()
	var r Report
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		// One request at a time per tenant, so the cap below holds.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7320))`, "reports:"+a.TenantID.String()); err != nil {
			return err
		}
		var active int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM reports WHERE tenant_id = $1 AND status IN ('queued', 'running')`,
			a.TenantID).Scan(&active); err != nil {
			return err
		}
		if active >= s.maxActive() {
			return cic.Codef(cic.ERATELIMIT, "too_many_reports",
				"%d reports are already being produced; wait for one to finish.", active)
		}
		t, err := tenant.Get(ctx, tx, a.TenantID)
		if err != nil {
			return err
		}
		if r, err = insertReport(ctx, tx, a.TenantID, id, TriggerRequest, from, to, dim, t.Currency, &a.UserID, s.now().Add(s.retention())); err != nil {
			return err
		}
		return tenant.Audit(ctx, tx, a, "report.request", "report", id.String(),
			map[string]any{"from": from, "to": to, "dimension": dim})
	})
	if err != nil {
		return Report{}, fmt.Errorf("request report: %w", err)
	}
	if err := s.enqueue(ctx, NewGenerateTask(a.TenantID, id, s.queue())); err != nil {
		// Nothing will produce it: take the request back.
		_ = s.DB.Tx(context.WithoutCancel(ctx), a.TenantID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM reports WHERE tenant_id = $1 AND id = $2`, a.TenantID, id)
			return err
		})
		s.logger().ErrorContext(ctx, "enqueue report", "tenant_id", a.TenantID, "report_id", id, "err", err)
		return Report{}, errNoJobs
	}
	return r, nil
}

var errNoJobs = cic.Codef(cic.EUNAVAILABLE, "reports_unavailable", "Reports cannot be queued right now; try again in a moment.")

func insertReport(ctx context.Context, tx pgx.Tx, tenantID, id uuid.UUID, trigger string, from, to time.Time, dim Dimension,
	currency string, by *uuid.UUID, expires time.Time) (Report, error) {
	var r Report
	if by != nil && *by == uuid.Nil {
		by = nil
	}
	row := tx.QueryRow(ctx, `INSERT INTO reports (tenant_id, id, trigger, period_from, period_to, dimension, currency, created_by, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+reportColumns, tenantID, id, trigger, from, to, dim, currency, by, expires)
	r, err := scanReport(row)
	if err != nil {
		return r, fmt.Errorf("insert report: %w", err)
	}
	return r, nil
}

const reportColumns = `tenant_id, id, kind, trigger, period_from, period_to, dimension, currency, status, progress, rows_done, rows_total,
	error, created_by, created_at, started_at, finished_at, expires_at, summary`

func scanReport(row pgx.Row) (Report, error) {
	var r Report
	var summary []byte
	err := row.Scan(&r.TenantID, &r.ID, &r.Kind, &r.Trigger, &r.From, &r.To, &r.Dimension, &r.Currency, &r.Status, &r.Progress,
		&r.RowsDone, &r.RowsTotal, &r.Error, &r.CreatedBy, &r.CreatedAt, &r.StartedAt, &r.FinishedAt, &r.ExpiresAt, &summary)
	if err != nil {
		return r, err
	}
	r.From, r.To, r.CreatedAt, r.ExpiresAt = r.From.UTC(), r.To.UTC(), r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	if len(summary) > 0 {
		r.Summary = &Summary{}
		if err := json.Unmarshal(summary, r.Summary); err != nil {
			return r, fmt.Errorf("report summary: %w", err)
		}
	}
	return r, nil
}

var errNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "No such report.")

// Get returns one report of a's tenant. Another tenant's report, like a
// report that never existed or has expired, is not found.
func (s *Service) Get(ctx context.Context, a tenant.Actor, id uuid.UUID) (Report, error) {
	if err := requireUse(a); err != nil {
		return Report{}, err
	}
	return s.get(ctx, a.TenantID, id)
}

func (s *Service) get(ctx context.Context, tenantID, id uuid.UUID) (Report, error) {
	var r Report
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) (err error) {
		r, err = getReport(ctx, tx, tenantID, id)
		return err
	})
	if err != nil {
		return Report{}, err
	}
	if !r.ExpiresAt.After(s.now()) {
		return Report{}, errNotFound
	}
	return r, nil
}

func getReport(ctx context.Context, tx pgx.Tx, tenantID, id uuid.UUID) (Report, error) {
	r, err := scanReport(tx.QueryRow(ctx, `SELECT `+reportColumns+` FROM reports WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Report{}, errNotFound
	}
	if err != nil {
		return Report{}, fmt.Errorf("get report: %w", err)
	}
	return r, nil
}

// ListFilter pages through a tenant's reports, newest first.
type ListFilter struct {
	Cursor string // opaque, from the previous page
	Limit  int    // 1..100, default 20
}

type cursor struct {
	At time.Time `json:"at"`
	ID uuid.UUID `json:"id"`
}

// List returns one page of a's tenant's reports (without their groups)
// and the cursor of the next page ("" at the end).
func (s *Service) List(ctx context.Context, a tenant.Actor, f ListFilter) ([]Report, string, error) {
	if err := requireUse(a); err != nil {
		return nil, "", err
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = 20
	case limit > 100:
		limit = 100
	}
	after := cursor{At: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ID: uuid.Max}
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || json.Unmarshal(raw, &after) != nil || after.ID == uuid.Nil {
			return nil, "", cic.Codef(cic.EINVALID, "invalid_cursor", "The page cursor is invalid.")
		}
	}
	out := []Report{}
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+strings.Replace(reportColumns, "summary",
			`CASE WHEN summary IS NULL THEN NULL ELSE jsonb_build_object('totals', summary->'totals') END`, 1)+`
			FROM reports WHERE tenant_id = $1 AND expires_at > $2 AND (created_at, id) < ($3, $4)
			ORDER BY created_at DESC, id DESC LIMIT $5`, a.TenantID, s.now(), after.At, after.ID, limit+1)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Report, error) { return scanReport(row) })
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list reports: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		raw, _ := json.Marshal(cursor{At: last.CreatedAt, ID: last.ID})
		next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return out, next, nil
}
