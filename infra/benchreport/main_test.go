package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestReport_PrintsRatioToBaseline(t *testing.T) {
	in := `goos: linux
BenchmarkTenantTx/baseline-2         	    5000	    200000 ns/op
BenchmarkTenantTx/rls-2              	    4000	    300000 ns/op
BenchmarkLonely/fast-2               	    4000	    100 ns/op
PASS
`
	var out bytes.Buffer
	if err := report(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"BenchmarkTenantTx/rls", "1.50x", "BenchmarkLonely/fast", "n/a (no baseline)", "goos: linux"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "BenchmarkTenantTx/baseline ") && strings.Count(got, "1.00x") > 0 {
		t.Errorf("baseline reported against itself:\n%s", got)
	}
}
