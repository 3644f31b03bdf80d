package web

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cic-platform/cic/tenant/seats"
)

// seatChart is a server-rendered SVG of seat peaks (bars) against the
// seat limit (a step line), per hour or per day.
type seatChart struct {
	Width, Height int
	Left, Right   int
	Top, Bottom   int
	Bars          []seatBar
	LimitLine     string // SVG polyline points
	YLabels       []chartLabel
	XLabels       []chartLabel
	Unit          string
	Peak, Limit   int
}

type seatBar struct {
	X, Y, W, H string
	Title      string
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func newSeatChart(points []seats.UsagePoint, unit string) *seatChart {
	ch := &seatChart{Width: 700, Height: 200, Left: 40, Right: 692, Top: 10, Bottom: 172, Unit: unit}
	if len(points) == 0 {
		return ch
	}
	for _, p := range points {
		ch.Peak = max(ch.Peak, p.Peak)
		ch.Limit = max(ch.Limit, p.Limit)
	}
	top := float64(niceCeil(int64(max(ch.Peak, ch.Limit, 1))))
	scale, yLabels := yAxis(ch.Left, ch.Top, ch.Bottom, top)
	ch.YLabels = yLabels
	y := func(v int) float64 { return scale(float64(v)) }
	slot := float64(ch.Right-ch.Left) / float64(len(points))
	barW := max(slot*0.8, 0.6)
	var line strings.Builder
	layout := "2006-01-02"
	if unit == "hour" {
		layout = "2006-01-02 15:00"
	}
	every := max(len(points)/6, 1)
	for i, p := range points {
		x0 := float64(ch.Left) + float64(i)*slot
		fmt.Fprintf(&line, "%s,%s %s,%s ", f1(x0), f1(y(p.Limit)), f1(x0+slot), f1(y(p.Limit)))
		if i%every == 0 {
			ch.XLabels = append(ch.XLabels, chartLabel{X: int(x0 + slot/2), Y: ch.Bottom + 16, Text: p.At.UTC().Format("01-02")})
		}
		if p.Peak == 0 {
			continue
		}
		h := float64(ch.Bottom) - y(p.Peak)
		ch.Bars = append(ch.Bars, seatBar{X: f1(x0 + (slot-barW)/2), Y: f1(y(p.Peak)), W: f1(barW), H: f1(max(h, 1)),
			Title: fmt.Sprintf("%s UTC: peak %d of %d seats, %d refused", p.At.UTC().Format(layout), p.Peak, p.Limit, p.Refused)})
	}
	ch.LimitLine = strings.TrimSpace(line.String())
	return ch
}
