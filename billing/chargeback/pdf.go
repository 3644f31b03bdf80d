package chargeback

import (
	"bytes"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
)

// PDFChartGroups is how many groups the PDF's chart shows (the largest);
// the table lists them all.
const PDFChartGroups = 12

// PDF is the report's summary: company, period, totals against the
// previous period, a bar chart and the table of groups, and the
// reconciliation of the total with the bundles drawn and the overage.
// Text is in the PDF core fonts (Windows-1252); other characters show as
// ".".
func PDF(r Report, now time.Time) ([]byte, error) {
	s := r.Summary
	if s == nil {
		return nil, fmt.Errorf("pdf: report %s has no summary", r.ID)
	}
	p := fpdf.New("P", "mm", "A4", "")
	tr := p.UnicodeTranslatorFromDescriptor("")
	p.SetCreationDate(now)
	p.SetModificationDate(now)
	p.SetTitle("Chargeback report "+periodText(r), true)
	p.SetAuthor(s.Company, true)
	p.SetCreator("CIC", true)
	p.SetMargins(15, 15, 15)
	p.SetAutoPageBreak(true, 18)
	p.AliasNbPages("")
	p.SetFooterFunc(func() {
		p.SetY(-12)
		p.SetFont("Helvetica", "", 8)
		p.SetTextColor(110, 110, 110)
		p.CellFormat(0, 5, tr(fmt.Sprintf("%s - chargeback report %s - page %d of {nb}", s.Company, r.ID, p.PageNo())), "", 0, "C", false, 0, "")
	})
	p.AddPage()
	money := func(m int64) string { return thousands(FormatMinor(m)) + " " + r.Currency }

	p.SetFont("Helvetica", "B", 18)
	p.SetTextColor(20, 20, 20)
	p.CellFormat(0, 9, tr("Chargeback report"), "", 1, "L", false, 0, "")
	p.SetFont("Helvetica", "B", 12)
	p.CellFormat(0, 7, tr(s.Company), "", 1, "L", false, 0, "")
	p.SetFont("Helvetica", "", 10)
	p.CellFormat(0, 5.5, tr("Period: "+periodText(r)+" (UTC, by metering time)"), "", 1, "L", false, 0, "")
	p.CellFormat(0, 5.5, tr("By: "+r.Dimension.Label()+"     Currency: "+r.Currency+"     Produced: "+now.UTC().Format("2006-01-02 15:04 UTC")), "", 1, "L", false, 0, "")
	p.Ln(3)

	// Totals.
	t := s.Totals
	p.SetFillColor(240, 243, 248)
	p.SetFont("Helvetica", "B", 11)
	p.CellFormat(0, 7, tr("Totals"), "", 1, "L", true, 0, "")
	p.SetFont("Helvetica", "", 10)
	kv := func(k, v string) {
		p.CellFormat(70, 6, tr(k), "", 0, "L", false, 0, "")
		p.CellFormat(0, 6, tr(v), "", 1, "L", false, 0, "")
	}
	kv("Contacts", thousands(strconv.FormatInt(t.Contacts, 10)))
	kv("Total cost", money(t.CostMinor))
	kv("Cost per contact", minorToMajorExact(t.CostPerContactMinor)+" "+r.Currency)
	prevText := fmt.Sprintf("%s contacts, %s (%s to %s)", thousands(strconv.FormatInt(t.Previous.Contacts, 10)), money(t.Previous.CostMinor),
		t.Previous.From.Format("2006-01-02"), t.Previous.To.Add(-time.Nanosecond).Format("2006-01-02"))
	kv("Previous period", prevText)
	kv("Change in cost", change(t.CostMinor, t.Previous.CostMinor))
	p.Ln(3)

	// Chart: cost per group, this period and the previous one.
	chartGroups(p, tr, r)

	// Table.
	p.SetFont("Helvetica", "B", 11)
	p.CellFormat(0, 7, tr("Cost by "+strings.ToLower(r.Dimension.Label())), "", 1, "L", true, 0, "")
	widths := []float64{52, 20, 28, 22, 16, 20, 22}
	heads := []string{r.Dimension.Label(), "Contacts", "Cost", "Per contact", "Share", "Prev. cont.", "Prev. cost"}
	p.SetFont("Helvetica", "B", 8.5)
	for i, h := range heads {
		align := "R"
		if i == 0 {
			align = "L"
		}
		p.CellFormat(widths[i], 6, tr(h), "B", 0, align, false, 0, "")
	}
	p.Ln(-1)
	p.SetFont("Helvetica", "", 8.5)
	for _, g := range s.Groups {
		cells := []string{clip(g.Label, 34), thousands(strconv.FormatInt(g.Contacts, 10)), thousands(FormatMinor(g.CostMinor)),
			minorToMajorExact(g.CostPerContactMinor), g.SharePercent + "%", thousands(strconv.FormatInt(g.PreviousContacts, 10)),
			thousands(FormatMinor(g.PreviousCostMinor))}
		for i, c := range cells {
			align := "R"
			if i == 0 {
				align = "L"
			}
			p.CellFormat(widths[i], 5.5, tr(c), "", 0, align, false, 0, "")
		}
		p.Ln(-1)
	}
	p.SetFont("Helvetica", "B", 8.5)
	totals := []string{"Total", thousands(strconv.FormatInt(t.Contacts, 10)), thousands(FormatMinor(t.CostMinor)),
		minorToMajorExact(t.CostPerContactMinor), share(t.CostMinor, t.CostMinor) + "%", thousands(strconv.FormatInt(t.Previous.Contacts, 10)),
		thousands(FormatMinor(t.Previous.CostMinor))}
	for i, c := range totals {
		align := "R"
		if i == 0 {
			align = "L"
		}
		p.CellFormat(widths[i], 6, tr(c), "T", 0, align, false, 0, "")
	}
	p.Ln(9)

	// Reconciliation.
	rec := s.Reconciliation
	p.SetFont("Helvetica", "B", 11)
	p.CellFormat(0, 7, tr("Reconciliation"), "", 1, "L", true, 0, "")
	p.SetFont("Helvetica", "", 9.5)
	line := func(k, v string, bold bool) {
		if bold {
			p.SetFont("Helvetica", "B", 9.5)
		}
		p.CellFormat(120, 5.5, tr(k), "", 0, "L", false, 0, "")
		p.CellFormat(0, 5.5, tr(v), "", 1, "R", false, 0, "")
		if bold {
			p.SetFont("Helvetica", "", 9.5)
		}
	}
	line(fmt.Sprintf("Bundle value drawn (%s contacts), exact %s %s", thousands(strconv.FormatInt(rec.BundleContacts, 10)),
		thousands(minorToMajorExact(rec.BundleExactMinor)), r.Currency), money(rec.BundleMinor), false)
	line(fmt.Sprintf("Overage (%s contacts at the overage price)", thousands(strconv.FormatInt(rec.OverageContacts, 10))), money(rec.OverageMinor), false)
	line("Total = bundle value drawn + overage", money(rec.BundleMinor+rec.OverageMinor), true)
	line("Sum of the per-contact lines (EffectiveCost)", money(rec.LinesMinor), false)
	line("Sum of the groups", money(rec.GroupsMinor), false)
	line("Of which invoiced as usage (BilledCost: the overage)", money(rec.BilledMinor), false)
	line("Difference", money(rec.TotalMinor-rec.LinesMinor), true)
	p.SetFont("Helvetica", "", 8)
	p.MultiCell(0, 4.2, tr("The total is the exact value of the period's contacts rounded once to cents; each contact and group "+
		"gets whole cents by largest-remainder allocation, so lines and groups add up to the total exactly."), "", "L", false)
	if len(rec.Invoiced) > 0 {
		p.Ln(2)
		p.SetFont("Helvetica", "B", 9)
		p.CellFormat(0, 6, tr("Overage invoiced by billing, per whole month"), "", 1, "L", false, 0, "")
		p.SetFont("Helvetica", "", 9)
		for _, m := range rec.Invoiced {
			inv := "not invoiced yet"
			if m.InvoiceMinor != nil {
				inv = "invoiced " + money(*m.InvoiceMinor)
				if *m.InvoiceMinor == m.ReportMinor {
					inv += " - matches"
				} else {
					inv += " - DIFFERS"
				}
			}
			line(m.Month+": overage in this report "+money(m.ReportMinor), inv, false)
		}
	}
	if len(s.Bundles) > 0 {
		p.Ln(2)
		p.SetFont("Helvetica", "B", 9)
		p.CellFormat(0, 6, tr("Prepaid bundles drawn from"), "", 1, "L", false, 0, "")
		bw := []float64{62, 22, 28, 30, 20, 18}
		for i, h := range []string{"Bundle", "Source", "Price", "Per contact", "Drawn", "Value"} {
			align := "R"
			if i < 2 {
				align = "L"
			}
			p.CellFormat(bw[i], 5.5, tr(h), "B", 0, align, false, 0, "")
		}
		p.Ln(-1)
		p.SetFont("Helvetica", "", 8.5)
		for _, b := range s.Bundles {
			cells := []string{b.ID.String(), b.Source, thousands(FormatMinor(b.PriceMinor)) + " / " + thousands(strconv.FormatInt(b.BundleContacts, 10)),
				unitPrice(Class{b.PriceMinor, b.BundleContacts}), thousands(strconv.FormatInt(b.Contacts, 10)), thousands(FormatMinor(b.CostMinor))}
			for i, c := range cells {
				align := "R"
				if i < 2 {
					align = "L"
				}
				p.CellFormat(bw[i], 5, tr(c), "", 0, align, false, 0, "")
			}
			p.Ln(-1)
		}
	}
	p.Ln(3)
	p.SetFont("Helvetica", "", 8)
	note := "Allocation: " + AllocationRule
	if r.Dimension == DimAgentTeam {
		note += " Agent team is the handling agent's department; contacts no agent handled have none."
	}
	p.MultiCell(0, 4.2, tr(note), "", "L", false)

	var buf bytes.Buffer
	if err := p.Output(&buf); err != nil {
		return nil, fmt.Errorf("pdf: %w", err)
	}
	return buf.Bytes(), nil
}

// chartGroups draws horizontal bars of the largest groups' cost, the
// previous period's as a thinner grey bar under each.
func chartGroups(p *fpdf.Fpdf, tr func(string) string, r Report) {
	groups := r.Summary.Groups
	if len(groups) > PDFChartGroups {
		groups = groups[:PDFChartGroups]
	}
	if len(groups) == 0 {
		return
	}
	var top int64 = 1
	for _, g := range groups {
		top = max(top, g.CostMinor, g.PreviousCostMinor)
	}
	p.SetFont("Helvetica", "B", 11)
	p.CellFormat(0, 7, tr("Cost by "+strings.ToLower(r.Dimension.Label())+" (largest "+strconv.Itoa(len(groups))+")"), "", 1, "L", true, 0, "")
	p.Ln(1)
	const labelW, barMax, rowH = 50.0, 100.0, 7.0
	left, _, _, _ := p.GetMargins()
	p.SetFont("Helvetica", "", 8)
	for _, g := range groups {
		if p.GetY()+rowH > 280 {
			p.AddPage()
		}
		y := p.GetY()
		p.SetXY(left, y)
		p.CellFormat(labelW, 4.5, tr(clip(g.Label, 30)), "", 0, "L", false, 0, "")
		w := barMax * float64(g.CostMinor) / float64(top)
		p.SetFillColor(37, 99, 235)
		if w > 0 {
			p.Rect(left+labelW, y+0.5, w, 3.5, "F")
		}
		pw := barMax * float64(g.PreviousCostMinor) / float64(top)
		p.SetFillColor(170, 170, 170)
		if pw > 0 {
			p.Rect(left+labelW, y+4.3, pw, 1.6, "F")
		}
		p.SetXY(left+labelW+w+1.5, y)
		p.CellFormat(30, 4.5, tr(thousands(FormatMinor(g.CostMinor))), "", 0, "L", false, 0, "")
		p.SetXY(left, y+rowH)
	}
	p.SetFont("Helvetica", "", 7.5)
	p.SetTextColor(90, 90, 90)
	p.CellFormat(0, 5, tr("Blue: this period. Grey: the previous period."), "", 1, "L", false, 0, "")
	p.SetTextColor(20, 20, 20)
	p.SetFillColor(240, 243, 248)
	p.Ln(2)
}

func periodText(r Report) string {
	return r.From.Format("2006-01-02") + " to " + r.To.Add(-time.Nanosecond).Format("2006-01-02")
}

// thousands puts commas in a decimal's whole part: 1234567.89 -> 1,234,567.89.
func thousands(s string) string {
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
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// change is the relative change from prev to cur, for people.
func change(cur, prev int64) string {
	if prev == 0 {
		if cur == 0 {
			return "none"
		}
		return "new (nothing in the previous period)"
	}
	pct := new(big.Rat).SetFrac64((cur-prev)*100, prev).FloatString(1)
	if !strings.HasPrefix(pct, "-") {
		pct = "+" + pct
	}
	return pct + "%"
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "..."
}
