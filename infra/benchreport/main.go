// Command benchreport reads `go test -bench` output on stdin and prints
// each measured figure next to the baseline measured in the same run.
//
// Convention: a benchmark with sub-benchmarks "baseline" and others
// (BenchmarkTenantTx/baseline, BenchmarkTenantTx/rls) is reported as the
// ratio of each other sub-benchmark's ns/op to the baseline's.
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

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)

type result struct {
	name string
	ns   float64
}

func main() {
	if err := report(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func report(in io.Reader, out io.Writer) error {
	groups := map[string][]result{}
	var order []string
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		text := sc.Text()
		fmt.Fprintln(out, text) // keep go test's own output
		m := line.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		ns, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		group, sub, ok := strings.Cut(m[1], "/")
		if !ok {
			continue
		}
		if _, seen := groups[group]; !seen {
			order = append(order, group)
		}
		groups[group] = append(groups[group], result{sub, ns})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(order) == 0 {
		return nil
	}
	fmt.Fprintln(out, "\nfigure                                      ns/op     baseline ns/op   ratio")
	sort.Strings(order)
	for _, g := range order {
		var base float64
		for _, r := range groups[g] {
			if r.name == "baseline" {
				base = r.ns
			}
		}
		for _, r := range groups[g] {
			if r.name == "baseline" {
				continue
			}
			ratio := "n/a (no baseline)"
			if base > 0 {
				ratio = fmt.Sprintf("%.2fx", r.ns/base)
			}
			fmt.Fprintf(out, "%-40s %10.0f %16.0f   %s\n", g+"/"+r.name, r.ns, base, ratio)
		}
	}
	return nil
}
