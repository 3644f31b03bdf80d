// Command benchreport reads `go test -bench` output on stdin, passes it
// through, and then prints each measured figure next to the baseline
// measured in the same run.
//
// Convention: a benchmark with sub-benchmarks "baseline" and others
// (BenchmarkTenantTx/baseline, BenchmarkTenantTx/rls) is reported per
// metric — ns/op and every custom metric from b.ReportMetric (contacts/s,
// p99-ms, ...) — as the other sub-benchmark's value, the baseline's value
// and their ratio, always other/baseline. Whether a ratio above 1 is good
// depends on the unit: per-second rates are better higher, times (ns/op,
// *-ms, *-s) better lower; the last column says which. The -benchmem
// figures (B/op, allocs/op) are passed through but not compared.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A result line: name (without the -GOMAXPROCS suffix), iterations, then
// "value unit" pairs.
var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*\S)\s*$`)

type metric struct {
	unit  string
	value float64
}

type result struct {
	name    string
	metrics []metric
}

func (r result) get(unit string) (float64, bool) {
	for _, m := range r.metrics {
		if m.unit == unit {
			return m.value, true
		}
	}
	return 0, false
}

// skipped are the -benchmem figures: passed through, not compared.
var skipped = map[string]bool{"B/op": true, "allocs/op": true}

func main() {
	if err := report(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func parseMetrics(s string) []metric {
	f := strings.Fields(s)
	var out []metric
	for i := 0; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			break
		}
		if !skipped[f[i+1]] {
			out = append(out, metric{unit: f[i+1], value: v})
		}
	}
	return out
}

// higherIsBetter says how to read a ratio of unit.
func higherIsBetter(unit string) bool {
	return strings.HasSuffix(unit, "/s")
}

func report(in io.Reader, out io.Writer) error {
	groups := map[string][]result{}
	var order []string
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		text := sc.Text()
		fmt.Fprintln(out, text) // keep go test's own output
		m := line.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		ms := parseMetrics(m[2])
		if len(ms) == 0 {
			continue
		}
		group, sub, ok := strings.Cut(m[1], "/")
		if !ok {
			continue
		}
		if _, seen := groups[group]; !seen {
			order = append(order, group)
		}
		groups[group] = append(groups[group], result{sub, ms})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(order) == 0 {
		return nil
	}
	fmt.Fprintf(out, "\n%-36s %-12s %16s %16s   %s\n", "figure", "metric", "value", "baseline", "ratio figure/baseline")
	sort.Strings(order)
	for _, g := range order {
		var base *result
		for i, r := range groups[g] {
			if r.name == "baseline" {
				base = &groups[g][i]
			}
		}
		for _, r := range groups[g] {
			if r.name == "baseline" {
				continue
			}
			for _, m := range r.metrics {
				baseText, ratio := "-", "n/a (no baseline)"
				if base != nil {
					if bv, ok := base.get(m.unit); ok {
						baseText = num(bv)
						if bv != 0 {
							better := "lower is better"
							if higherIsBetter(m.unit) {
								better = "higher is better"
							}
							ratio = fmt.Sprintf("%sx (%s)", ratioText(m.value/bv), better)
						}
					}
				}
				fmt.Fprintf(out, "%-36s %-12s %16s %16s   %s\n", g+"/"+r.name, m.unit, num(m.value), baseText, ratio)
			}
		}
	}
	return nil
}

// num prints a figure without exponent and without noise digits.
func num(v float64) string {
	if v >= 1000 || v <= -1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// ratioText: two decimals from 1 up, three significant digits below.
func ratioText(r float64) string {
	if r < 1 {
		return strconv.FormatFloat(r, 'g', 3, 64)
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}
