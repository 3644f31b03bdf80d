package chargeback

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ledongthuc/pdf"
)

func sampleReport() Report {
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inv := int64(1500)
	return Report{ID: uuid.New(), From: jan, To: jan.AddDate(0, 1, 0), Dimension: DimCostCentre, Currency: "EUR", Status: StatusDone,
		Summary: &Summary{Company: "Société Générale Łódź", AllocationRule: AllocationRule,
			Totals: Totals{Contacts: 1234567, CostMinor: 2345678, CostPerContactMinor: "1.9000", BundleMinor: 2344178, OverageMinor: 1500,
				Previous: PeriodTotals{From: jan.AddDate(0, 0, -31), To: jan, Contacts: 1000, CostMinor: 1900}},
			Groups: []Group{{Key: "CC-100", Label: "CC-100", Contacts: 1234000, CostMinor: 2344600, SharePercent: "99.95", CostPerContactMinor: "1.9000"},
				{Key: "", Label: "unallocated", Contacts: 567, CostMinor: 1078, SharePercent: "0.05", CostPerContactMinor: "1.9012"}},
			Bundles: []BundleLine{{ID: uuid.New(), Source: "purchase", BundleContacts: 1000000, PriceMinor: 1900000, Contacts: 1233867, CostMinor: 2344178}},
			Reconciliation: Reconciliation{BundleContacts: 1233867, BundleExactMinor: "2344177.300000", BundleMinor: 2344178, OverageContacts: 300,
				OverageMinor: 1500, TotalMinor: 2345678, LinesMinor: 2345678, GroupsMinor: 2345678, BilledMinor: 1500,
				Invoiced: []InvoicedMonth{{Month: "2026-01", ReportMinor: 1500, InvoiceMinor: &inv, Status: "charged"}}}}}
}

// TestPDF_TextHasCompanyPeriodTotalsAndReconciliation reads the PDF back
// with a PDF text extractor, as finance's tools would.
func TestPDF_TextHasCompanyPeriodTotalsAndReconciliation(t *testing.T) {
	raw, err := PDF(sampleReport(), time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	r, err := pdf.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := r.GetPlainText()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(tr)
	text := strings.Join(strings.Fields(string(b)), " ")
	for _, want := range []string{"Chargeback report", "Société Générale .ód.", "2026-01-01 to 2026-01-31", "Cost centre",
		"1,234,567", "23,456.78 EUR", "0.019 EUR", "CC-100", "unallocated", "99.95%", "exact 23,441.773 EUR", "23,441.78 EUR",
		"15.00 EUR", "Total = bundle value drawn + overage", "2026-01: overage in this report 15.00 EUR", "matches", "Difference",
		"0.00 EUR", "campaign", "page 1 of"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("text: %s", text)
	}
}

func TestGroupsCSV_EndsWithTheReconciliation(t *testing.T) {
	rows := csvRecords(t, GroupsCSV(sampleReport()))
	var kinds []string
	for _, r := range rows {
		kinds = append(kinds, r["x_RowType"]+":"+r["x_Group"]+":"+r["EffectiveCost"])
	}
	want := []string{"group:CC-100:23446.00", "group:unallocated:10.78", "total:Total:23456.78",
		"reconciliation:Bundle value drawn (exact 23441.773):23441.78", "reconciliation:Overage:15.00",
		"reconciliation:Bundle value drawn + overage = total:23456.78"}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Fatalf("rows:\n%s\nwant\n%s", strings.Join(kinds, "\n"), strings.Join(want, "\n"))
	}
}
