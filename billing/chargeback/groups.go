package chargeback

import (
	"math/big"
	"strconv"
	"strings"
	"time"
)

// GroupsCSV is the report's table as CSV (GroupColumns): a row per group,
// a total row, and the reconciliation footer: bundle value drawn, overage,
// and their sum, which is the total.
func GroupsCSV(r Report) []byte {
	s := r.Summary
	var b []byte
	b = append(b, strings.Join(GroupColumns, ",")...)
	b = append(b, '\r', '\n')
	from, to := r.From.Format(time.RFC3339), r.To.Format(time.RFC3339)
	row := func(kind, group string, contacts, cost, billed int64, perContact, share string, prevContacts, prevCost *int64) {
		b = appendStringField(b, kind, false)
		b = append(b, ',')
		b = appendStringField(b, string(r.Dimension), false)
		b = append(b, ',')
		b = appendStringField(b, group, true)
		b = append(b, ',')
		b = strconv.AppendInt(b, contacts, 10)
		b = append(b, ',')
		b = appendMinor(b, cost)
		b = append(b, ',')
		b = appendMinor(b, billed)
		b = append(b, ',')
		b = append(b, perContact...)
		b = append(b, ',')
		b = append(b, share...)
		b = append(b, ',')
		if prevContacts != nil {
			b = strconv.AppendInt(b, *prevContacts, 10)
		}
		b = append(b, ',')
		if prevCost != nil {
			b = appendMinor(b, *prevCost)
		}
		b = append(b, ',')
		b = append(b, r.Currency...)
		b = append(b, ',')
		b = append(b, from...)
		b = append(b, ',')
		b = append(b, to...)
		b = append(b, '\r', '\n')
	}
	for _, g := range s.Groups {
		pc, pm := g.PreviousContacts, g.PreviousCostMinor
		row("group", g.Label, g.Contacts, g.CostMinor, g.BilledMinor, majorPerContact(g.CostMinor, g.Contacts), g.SharePercent, &pc, &pm)
	}
	t, rec := s.Totals, s.Reconciliation
	pc, pm := t.Previous.Contacts, t.Previous.CostMinor
	row("total", "Total", t.Contacts, t.CostMinor, rec.BilledMinor, majorPerContact(t.CostMinor, t.Contacts), share(t.CostMinor, t.CostMinor), &pc, &pm)
	row("reconciliation", "Bundle value drawn (exact "+minorToMajorExact(rec.BundleExactMinor)+")", rec.BundleContacts, rec.BundleMinor, 0,
		majorPerContact(rec.BundleMinor, rec.BundleContacts), share(rec.BundleMinor, t.CostMinor), nil, nil)
	row("reconciliation", "Overage", rec.OverageContacts, rec.OverageMinor, rec.OverageMinor,
		majorPerContact(rec.OverageMinor, rec.OverageContacts), share(rec.OverageMinor, t.CostMinor), nil, nil)
	row("reconciliation", "Bundle value drawn + overage = total", rec.BundleContacts+rec.OverageContacts, rec.BundleMinor+rec.OverageMinor,
		rec.BilledMinor, majorPerContact(rec.BundleMinor+rec.OverageMinor, rec.BundleContacts+rec.OverageContacts),
		share(rec.BundleMinor+rec.OverageMinor, t.CostMinor), nil, nil)
	return b
}

// majorPerContact is cost/contacts in major units, 6 decimals.
func majorPerContact(cost, contacts int64) string {
	if contacts == 0 {
		return "0.000000"
	}
	return ratString(cost, contacts*100, 6)
}

func ratString(a, b int64, decimals int) string {
	return new(big.Rat).SetFrac64(a, b).FloatString(decimals)
}

// minorToMajorExact turns an exact minor-unit decimal ("123.456789")
// into major units ("1.23456789").
func minorToMajorExact(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	for len(whole) < 3 {
		whole = "0" + whole
	}
	out := whole[:len(whole)-2] + "." + whole[len(whole)-2:] + frac
	out = strings.TrimRight(out, "0")
	if strings.HasSuffix(out, ".") {
		out += "00"
	} else if i := strings.IndexByte(out, '.'); len(out)-i-1 < 2 {
		out += strings.Repeat("0", 2-(len(out)-i-1))
	}
	if neg {
		out = "-" + out
	}
	return out
}
