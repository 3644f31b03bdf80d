package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func run(t *testing.T, in string) string {
	t.Helper()
	var out bytes.Buffer
	if err := report(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// row finds the report row of figure and metric and returns its fields
// after the metric: value, baseline, ratio...
func row(t *testing.T, report, figure, metric string) []string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(figure) + `\s+` + regexp.QuoteMeta(metric) + `\s+(.*)$`)
	m := re.FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no row for %s %s in:\n%s", figure, metric, report)
	}
	return strings.Fields(m[1])
}

func TestReport_PrintsRatioToBaseline(t *testing.T) {
	got := run(t, `goos: linux
BenchmarkTenantTx/baseline-2         	    5000	    200000 ns/op
BenchmarkTenantTx/rls-2              	    4000	    300000 ns/op
BenchmarkLonely/fast-2               	    4000	    100 ns/op
PASS
`)
	for _, want := range []string{"goos: linux", "PASS"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks go test's own line %q:\n%s", want, got)
		}
	}
	if r := row(t, got, "BenchmarkTenantTx/rls", "ns/op"); r[0] != "300000" || r[1] != "200000" || r[2] != "1.50x" || !strings.Contains(strings.Join(r, " "), "lower is better") {
		t.Errorf("rls row %v", r)
	}
	if r := row(t, got, "BenchmarkLonely/fast", "ns/op"); !strings.Contains(strings.Join(r, " "), "n/a (no baseline)") {
		t.Errorf("lonely row %v", r)
	}
	if strings.Contains(got, "BenchmarkTenantTx/baseline ") {
		t.Errorf("baseline reported against itself:\n%s", got)
	}
}

func TestReport_ComparesCustomMetrics(t *testing.T) {
	got := run(t, `BenchmarkMeter/baseline-2         	       1	230000000000 ns/op	       869.6 contacts/s	       923.7 p99-ms	 1234 B/op	 12 allocs/op
BenchmarkMeter/product-2          	       1	9000000000 ns/op	     22222 contacts/s	        31.18 p99-ms	 999 B/op	 9 allocs/op
BenchmarkMeter/raw_insert-2       	       1	40000000000 ns/op	      5000 contacts/s	        43.59 p99-ms
BenchmarkMeter/odd-2              	       1	40000000000 ns/op	      7 widgets/op
`)
	cases := []struct {
		figure, metric string
		want           []string
	}{
		{"BenchmarkMeter/product", "ns/op", []string{"9000000000", "230000000000", "0.0391x", "(lower", "is", "better)"}},
		{"BenchmarkMeter/product", "contacts/s", []string{"22222", "869.6", "25.55x", "(higher", "is", "better)"}},
		{"BenchmarkMeter/product", "p99-ms", []string{"31.18", "923.7", "0.0338x", "(lower", "is", "better)"}},
		{"BenchmarkMeter/raw_insert", "contacts/s", []string{"5000", "869.6", "5.75x", "(higher", "is", "better)"}},
		{"BenchmarkMeter/odd", "widgets/op", []string{"7", "-", "n/a", "(no", "baseline)"}},
	}
	for _, c := range cases {
		if r := row(t, got, c.figure, c.metric); strings.Join(r, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s %s: got %v, want %v", c.figure, c.metric, r, c.want)
		}
	}
	// -benchmem figures pass through but are not compared.
	if strings.Contains(got, "B/op   ") || regexp.MustCompile(`(?m)^BenchmarkMeter/product\s+allocs/op`).MatchString(got) {
		t.Errorf("benchmem figures compared:\n%s", got)
	}
	if !strings.Contains(got, "1234 B/op") {
		t.Errorf("input line not passed through:\n%s", got)
	}
}
