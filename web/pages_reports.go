package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/billing/chargeback"
)

// reportsPageData is /reports: the request form and the tenant's reports.
type reportsPageData struct {
	Reports    []reportRow
	Dimensions []dimensionOption
	NextCursor string
}

type dimensionOption struct {
	Value, Label string
}

func dimensionOptions() []dimensionOption {
	out := make([]dimensionOption, len(chargeback.Dimensions))
	for i, d := range chargeback.Dimensions {
		out[i] = dimensionOption{string(d), d.Label()}
	}
	return out
}

// reportRow is one report as the pages show it.
type reportRow struct {
	ID, Period, Dimension, Trigger, Status string
	Progress                               int
	Contacts, Total                        string
	Created                                time.Time
}

func newReportRow(r chargeback.Report) reportRow {
	row := reportRow{ID: r.ID.String(), Period: periodLabel(r), Dimension: r.Dimension.Label(), Trigger: "requested",
		Status: r.Status, Progress: r.Progress, Created: r.CreatedAt}
	if r.Trigger == chargeback.TriggerMonthly {
		row.Trigger = "monthly"
	}
	if r.Summary != nil {
		row.Contacts = groupDigits(strconv.FormatInt(r.Summary.Totals.Contacts, 10))
		row.Total = money(r.Summary.Totals.CostMinor, r.Currency)
	}
	return row
}

// periodLabel names a period by its first and last day, or its month.
func periodLabel(r chargeback.Report) string {
	last := r.To.Add(-time.Nanosecond)
	if r.From.Day() == 1 && r.From.Equal(r.From.Truncate(24*time.Hour)) && r.To.Equal(r.From.AddDate(0, 1, 0)) {
		return r.From.Format("January 2006")
	}
	return r.From.Format("2006-01-02") + " to " + last.Format("2006-01-02")
}

// money formats minor units as "1,234.56 EUR".
func money(minor int64, currency string) string {
	return groupDigits(chargeback.FormatMinor(minor)) + " " + currency
}

// groupDigits puts thousands separators in a decimal's whole part.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func (s *Server) reportsPage(c *fiber.Ctx) error {
	now := time.Now().UTC()
	lastMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	return s.renderReports(c, pageData{Form: map[string]string{"period": "month", "month": lastMonth.Format("2006-01"),
		"from": lastMonth.Format("2006-01-02"), "to": lastMonth.AddDate(0, 1, -1).Format("2006-01-02"), "dimension": "cost_centre"}}, nil)
}

func (s *Server) renderReports(c *fiber.Ctx, d pageData, err error) error {
	a, _ := actor(c)
	if !chargeback.CanUse(a.Role) {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only finance and the owner may use chargeback reports.")
	}
	rs, next, lerr := s.cfg.Reports.List(c.UserContext(), a, chargeback.ListFilter{Cursor: c.Query("cursor"), Limit: 50})
	if lerr != nil {
		return lerr
	}
	v := reportsPageData{Dimensions: dimensionOptions(), NextCursor: next}
	for _, r := range rs {
		v.Reports = append(v.Reports, newReportRow(r))
	}
	d.Title, d.Data = "Chargeback reports", v
	if err != nil {
		return s.pageError(c, "reports", d, err)
	}
	return s.render(c, "reports", d)
}

// reportsSubmit asks for a report: a month, or first and last day
// (inclusive, as people say it; the API's "to" is the day after).
func (s *Server) reportsSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	form := formValues(c, "period", "month", "from", "to", "dimension")
	in := chargeback.RequestInput{Dimension: form["dimension"]}
	if form["period"] == "range" {
		in.From = form["from"]
		last, err := time.Parse("2006-01-02", strings.TrimSpace(form["to"]))
		if err != nil {
			return s.renderReports(c, pageData{Form: form}, cic.Codef(cic.EINVALID, "invalid_to", "Choose the last day of the period."))
		}
		in.To = last.AddDate(0, 0, 1).Format("2006-01-02")
	} else {
		m, err := time.Parse("2006-01", strings.TrimSpace(form["month"]))
		if err != nil {
			return s.renderReports(c, pageData{Form: form}, cic.Codef(cic.EINVALID, "invalid_month", "Choose a month."))
		}
		in.From, in.To = m.Format("2006-01-02"), m.AddDate(0, 1, 0).Format("2006-01-02")
	}
	r, err := s.cfg.Reports.Request(c.UserContext(), a, in)
	if err != nil {
		return s.renderReports(c, pageData{Form: form}, err)
	}
	return c.Redirect("/reports/"+r.ID.String(), fiber.StatusSeeOther)
}

// reportView is one report's page.
type reportView struct {
	Report    chargeback.Report
	Row       reportRow
	Working   bool
	Totals    []stat
	Groups    []groupRow
	Total     groupRow
	Recon     []reconRow
	Invoiced  []reconRow
	Bundles   []bundleRow
	Chart     *reportChart
	Downloads []download
	Rule      string
}

type stat struct{ ID, Label, Value, Hint string }

type groupRow struct {
	Label, Contacts, Cost, PerContact, Share, PrevContacts, PrevCost, Change string
}

type reconRow struct {
	ID, Label, Value string
	Strong           bool
}

type bundleRow struct{ ID, Source, Price, PerContact, Drawn, Value string }

type download struct{ ID, Path, Label string }

func (s *Server) reportPage(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "report")
	if err != nil {
		return err
	}
	r, err := s.cfg.Reports.Get(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	v := reportView{Report: r, Row: newReportRow(r), Working: r.Status == chargeback.StatusQueued || r.Status == chargeback.StatusRunning}
	if sum := r.Summary; sum != nil && r.Status == chargeback.StatusDone {
		t, rec := sum.Totals, sum.Reconciliation
		cur := r.Currency
		v.Totals = []stat{
			{"report-contacts", "Contacts", groupDigits(strconv.FormatInt(t.Contacts, 10)), ""},
			{"report-total", "Total cost", money(t.CostMinor, cur), ""},
			{"report-per-contact", "Cost per contact", perContactText(t.CostMinor, t.Contacts, cur), ""},
			{"report-previous", "Previous period", money(t.Previous.CostMinor, cur),
				fmt.Sprintf("%s contacts, %s to %s", groupDigits(strconv.FormatInt(t.Previous.Contacts, 10)),
					t.Previous.From.Format("2006-01-02"), t.Previous.To.Add(-time.Nanosecond).Format("2006-01-02"))},
		}
		for _, g := range sum.Groups {
			v.Groups = append(v.Groups, groupRow{Label: g.Label, Contacts: groupDigits(strconv.FormatInt(g.Contacts, 10)),
				Cost: money(g.CostMinor, cur), PerContact: perContactText(g.CostMinor, g.Contacts, cur), Share: g.SharePercent + " %",
				PrevContacts: groupDigits(strconv.FormatInt(g.PreviousContacts, 10)), PrevCost: money(g.PreviousCostMinor, cur),
				Change: changeText(g.CostMinor, g.PreviousCostMinor)})
		}
		v.Total = groupRow{Label: "Total", Contacts: groupDigits(strconv.FormatInt(t.Contacts, 10)), Cost: money(t.CostMinor, cur),
			PerContact: perContactText(t.CostMinor, t.Contacts, cur), Share: "100.00 %",
			PrevContacts: groupDigits(strconv.FormatInt(t.Previous.Contacts, 10)), PrevCost: money(t.Previous.CostMinor, cur),
			Change: changeText(t.CostMinor, t.Previous.CostMinor)}
		v.Recon = []reconRow{
			{"recon-bundle", fmt.Sprintf("Bundle value drawn (%s contacts; exact %s minor units)",
				groupDigits(strconv.FormatInt(rec.BundleContacts, 10)), rec.BundleExactMinor), money(rec.BundleMinor, cur), false},
			{"recon-overage", fmt.Sprintf("Overage (%s contacts)", groupDigits(strconv.FormatInt(rec.OverageContacts, 10))),
				money(rec.OverageMinor, cur), false},
			{"recon-total", "Total = bundle value drawn + overage", money(rec.BundleMinor+rec.OverageMinor, cur), true},
			{"recon-lines", "Sum of the per-contact lines", money(rec.LinesMinor, cur), false},
			{"recon-groups", "Sum of the groups", money(rec.GroupsMinor, cur), false},
			{"recon-difference", "Difference", money(rec.TotalMinor-rec.LinesMinor, cur), true},
		}
		for _, m := range rec.Invoiced {
			val := "not invoiced yet"
			if m.InvoiceMinor != nil {
				val = "invoiced " + money(*m.InvoiceMinor, cur)
				if *m.InvoiceMinor == m.ReportMinor {
					val += " (matches)"
				} else {
					val += " (differs)"
				}
			}
			v.Invoiced = append(v.Invoiced, reconRow{Label: m.Month + ": overage in this report " + money(m.ReportMinor, cur), Value: val})
		}
		for _, b := range sum.Bundles {
			v.Bundles = append(v.Bundles, bundleRow{ID: b.ID.String(), Source: b.Source,
				Price:      money(b.PriceMinor, cur) + " for " + groupDigits(strconv.FormatInt(b.BundleContacts, 10)),
				PerContact: perContactText(b.PriceMinor, b.BundleContacts, cur), Drawn: groupDigits(strconv.FormatInt(b.Contacts, 10)),
				Value: money(b.CostMinor, cur)})
		}
		v.Chart = newReportChart(sum.Groups, cur)
		base := "/reports/" + r.ID.String() + "/download/"
		v.Downloads = []download{
			{"download-csv", base + chargeback.FormatCSV, "Per-contact CSV"},
			{"download-groups", base + chargeback.FormatGroups, "Groups CSV"},
			{"download-pdf", base + chargeback.FormatPDF, "PDF summary"},
		}
		v.Rule = sum.AllocationRule
	}
	return s.render(c, "report", pageData{Title: "Chargeback report: " + v.Row.Period, Data: v})
}

// perContactText is cost/contacts in major units, to a tenth of a cent.
func perContactText(cost, contacts int64, currency string) string {
	if contacts == 0 {
		return "-"
	}
	// Thousandths of a major unit, rounded half up.
	th := (cost*10*2 + contacts) / (2 * contacts)
	return fmt.Sprintf("%d.%03d %s", th/1000, th%1000, currency)
}

func changeText(cur, prev int64) string {
	if prev == 0 {
		if cur == 0 {
			return "-"
		}
		return "new"
	}
	pct := float64(cur-prev) * 100 / float64(prev)
	return fmt.Sprintf("%+.1f %%", pct)
}

// reportChart is a server-rendered SVG of the cost per group: a bar for
// this period and a thin one under it for the previous period.
type reportChart struct {
	Width, Height int
	Left          int
	Rows          []reportChartRow
	Total         int
}

type reportChartRow struct {
	Label      string
	Y, TextY   int
	W, PrevW   string
	PrevY      int
	ValueX     string
	Value      string
	Title      string
	BarH, Prev int
}

// reportChartGroups is how many groups the chart shows (the largest).
const reportChartGroups = 15

func newReportChart(groups []chargeback.Group, currency string) *reportChart {
	if len(groups) > reportChartGroups {
		groups = groups[:reportChartGroups]
	}
	ch := &reportChart{Width: 760, Left: 190, Total: len(groups)}
	const rowH, barH, prevH = 26, 14, 5
	var top int64 = 1
	for _, g := range groups {
		top = max(top, g.CostMinor, g.PreviousCostMinor)
	}
	plot := float64(ch.Width - ch.Left - 110)
	for i, g := range groups {
		y := 6 + i*rowH
		w := plot * float64(g.CostMinor) / float64(top)
		pw := plot * float64(g.PreviousCostMinor) / float64(top)
		label := g.Label
		if r := []rune(label); len(r) > 26 {
			label = string(r[:25]) + "…"
		}
		ch.Rows = append(ch.Rows, reportChartRow{Label: label, Y: y, TextY: y + 12, W: f1(max(w, 0.5)), PrevW: f1(pw), PrevY: y + barH + 1,
			ValueX: f1(float64(ch.Left) + w + 6), Value: money(g.CostMinor, currency), BarH: barH, Prev: prevH,
			Title: fmt.Sprintf("%s: %s (%d contacts); previous period %s (%d contacts)", g.Label, money(g.CostMinor, currency), g.Contacts,
				money(g.PreviousCostMinor, currency), g.PreviousContacts)})
	}
	ch.Height = 12 + len(groups)*rowH
	return ch
}
