package web

import (
	"fmt"
	"strconv"
	"strings"
)

// Pieces the server-rendered SVG charts share (seats, volume, the KPI
// lines): the y axis and the line chart. Colours come from classes in
// app.css, as the content security policy allows no inline styles.

// yAxis scales values from 0 (at bottom) to ceiling (at top) onto the
// plot and labels the axis at 0, half and ceiling, with grid lines.
func yAxis(left, top, bottom int, ceiling float64) (y func(float64) float64, labels []chartLabel) {
	plotH := float64(bottom - top)
	y = func(v float64) float64 { return float64(bottom) - v*plotH/ceiling }
	for _, v := range []int64{0, int64(ceiling) / 2, int64(ceiling)} {
		text := strconv.FormatInt(v, 10)
		if n := len(labels); n > 0 && labels[n-1].Text == text {
			continue
		}
		at := int(y(float64(v)))
		labels = append(labels, chartLabel{X: left - 6, Y: at + 4, At: at, Text: text})
	}
	return y, labels
}

// labelEvery is how many slots apart the x axis is labelled, so that
// labels do not overlap.
func labelEvery(slots int) int { return max(slots/12, 1) }

// lineChart draws values per day, a line per series; a day without a
// value (no contacts) breaks its line. Ref is an optional dashed line
// across, such as a target.
type lineChart struct {
	ID, Label     string // the SVG's id and its aria-label
	Width, Height int
	Left, Right   int
	Top, Bottom   int
	Unit          string // "%" or "s"
	YLabels       []chartLabel
	XLabels       []chartLabel
	Lines         []chartLine
	Ref           *chartRef
}

type chartLine struct {
	Label, Class, Path string
	Points             []chartPoint
}

type chartPoint struct {
	X, Y, Title string
}

type chartRef struct {
	Y, Label string
}

// lineSeries is one line's values, one per day (nil: none that day).
type lineSeries struct {
	Label, Class string
	Values       []*float64
}

func newLineChart(id, label string, days []string, unit string, series []lineSeries, ref *float64) *lineChart {
	ch := &lineChart{ID: id, Label: label, Width: 700, Height: 200, Left: 40, Right: 692, Top: 10, Bottom: 172, Unit: unit}
	top := 100.0
	if unit != "%" {
		peak := 1.0
		for _, s := range series {
			for _, v := range s.Values {
				if v != nil {
					peak = max(peak, *v)
				}
			}
		}
		top = float64(niceCeil(int64(peak + 0.999)))
	}
	y, yLabels := yAxis(ch.Left, ch.Top, ch.Bottom, top)
	ch.YLabels = yLabels
	if len(days) == 0 {
		return ch
	}
	slot := float64(ch.Right-ch.Left) / float64(len(days))
	x := func(i int) float64 { return float64(ch.Left) + (float64(i)+0.5)*slot }
	every := labelEvery(len(days))
	for i, d := range days {
		if i%every == 0 {
			ch.XLabels = append(ch.XLabels, chartLabel{X: int(x(i)), Y: ch.Bottom + 16, Text: shortDay(d)})
		}
	}
	for _, s := range series {
		l := chartLine{Label: s.Label, Class: s.Class}
		var path strings.Builder
		gap := true
		for i, v := range s.Values {
			if v == nil {
				gap = true
				continue
			}
			cmd := "L"
			if gap {
				cmd = "M"
			}
			px, py := f1(x(i)), f1(y(min(*v, top)))
			fmt.Fprintf(&path, "%s%s,%s ", cmd, px, py)
			gap = false
			l.Points = append(l.Points, chartPoint{X: px, Y: py, Title: fmt.Sprintf("%s %s: %s", days[i], s.Label, f1(*v)+" "+unit)})
		}
		l.Path = strings.TrimSpace(path.String())
		ch.Lines = append(ch.Lines, l)
	}
	if ref != nil {
		ch.Ref = &chartRef{Y: f1(y(min(*ref, top))), Label: fmt.Sprintf("target %s %s", f1(*ref), unit)}
	}
	return ch
}

// shortDay is "01-02" of "2006-01-02", for the x axis.
func shortDay(d string) string {
	if len(d) == len("2006-01-02") {
		return d[5:]
	}
	return d
}
