package web

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"

	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/live"
)

var errNotWallboardViewer = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only owners, admins and supervisors see the wallboard.")

// wallboardHours is how many hours the wallboard's chart shows.
const wallboardHours = 8

type wallboardPageData struct {
	Board contacts.Wallboard
	Chart *volumeChart
	// Poll is how often (s) the page reads the numbers without an event
	// (waits grow without any event).
	Poll int
}

func (s *Server) wallboardPage(c *fiber.Ctx) error {
	p, _ := principalOf(c)
	ctx := c.UserContext()
	w, err := s.cfg.Contacts.Wallboard(ctx, p)
	if err != nil {
		return err
	}
	hs, err := s.cfg.Contacts.Hourly(ctx, p, wallboardHours)
	if err != nil {
		return err
	}
	return s.render(c, "wallboard", pageData{Title: "Wallboard", Data: wallboardPageData{Board: w, Chart: newVolumeChart("volume-chart", hs, "hour"), Poll: 3}})
}

// wallboardLive is what the wallboard page polls: the API's answer, with
// the session cookie.
func (s *Server) wallboardLive(c *fiber.Ctx) error {
	p, _ := principalOf(c)
	w, err := s.cfg.Contacts.Wallboard(c.UserContext(), p)
	if err != nil {
		return jsonError(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(w)
}

// wallboardChart renders the chart alone, for the page to swap in.
func (s *Server) wallboardChart(c *fiber.Ctx) error {
	p, _ := principalOf(c)
	hs, err := s.cfg.Contacts.Hourly(c.UserContext(), p, wallboardHours)
	if err != nil {
		return jsonError(c, err)
	}
	var buf bytes.Buffer
	if err := s.pages["wallboard"].ExecuteTemplate(&buf, "volume-chart", newVolumeChart("volume-chart", hs, "hour")); err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Send(buf.Bytes())
}

// wallboardEvents streams every routing event of the tenant.
func (s *Server) wallboardEvents(hub *live.Subscriber) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, _ := principalOf(c)
		if !contacts.CanSeeKPIs(p.Role) {
			return jsonError(c, errNotWallboardViewer)
		}
		return s.liveStream(c, hub, p, func(live.Event) bool { return true })
	}
}

// volumeChart is the server-rendered SVG of the contacts that entered a
// queue per hour (the wallboard) or per day (the KPI page): accepted,
// abandoned and the rest (waiting or gone otherwise), stacked.
type volumeChart struct {
	ID            string
	Unit          string // "hour" or "day"
	Width, Height int
	Left, Right   int
	Top, Bottom   int
	Bars          []volumeBar
	YLabels       []chartLabel
	XLabels       []chartLabel
	Total         int
}

type volumeBar struct {
	X, W, Title string
	Parts       []volumePart
}

type volumePart struct {
	Class, Y, H string
}

// newVolumeChart draws hs, each the contacts of one hour, or of one UTC
// day when unit is "day".
func newVolumeChart(id string, hs []contacts.HourVolume, unit string) *volumeChart {
	ch := &volumeChart{ID: id, Unit: unit, Width: 700, Height: 180, Left: 40, Right: 692, Top: 10, Bottom: 152}
	label, layout := "15:04", "2006-01-02 15:04 UTC"
	if unit == "day" {
		label, layout = "01-02", "2006-01-02"
	}
	peak := 0
	for _, h := range hs {
		peak = max(peak, h.Offered)
		ch.Total += h.Offered
	}
	top := float64(niceCeil(int64(max(peak, 1))))
	y, yLabels := yAxis(ch.Left, ch.Top, ch.Bottom, top)
	ch.YLabels = yLabels
	if len(hs) == 0 {
		return ch
	}
	slot := float64(ch.Right-ch.Left) / float64(len(hs))
	barW := slot * 0.7
	every := labelEvery(len(hs))
	for i, h := range hs {
		x0 := float64(ch.Left) + float64(i)*slot
		if i%every == 0 {
			ch.XLabels = append(ch.XLabels, chartLabel{X: int(x0 + slot/2), Y: ch.Bottom + 16, Text: h.Hour.UTC().Format(label)})
		}
		if h.Offered == 0 {
			continue
		}
		b := volumeBar{X: f1(x0 + (slot-barW)/2), W: f1(barW),
			Title: fmt.Sprintf("%s: %d contacts, %d accepted, %d abandoned", h.Hour.UTC().Format(layout), h.Offered, h.Accepted, h.Abandoned)}
		base := 0.0
		for _, part := range []struct {
			class string
			n     int
		}{{"vol-accepted", h.Accepted}, {"vol-abandoned", h.Abandoned}, {"vol-other", h.Offered - h.Accepted - h.Abandoned}} {
			if part.n <= 0 {
				continue
			}
			b.Parts = append(b.Parts, volumePart{Class: part.class, Y: f1(y(base + float64(part.n))), H: f1(y(base) - y(base+float64(part.n)))})
			base += float64(part.n)
		}
		ch.Bars = append(ch.Bars, b)
	}
	return ch
}

// wbCell is one number of the wallboard: Key is its JSON path in the
// wallboard's queue (as wallboard.js reads it), Kind how it is shown.
type wbCell struct {
	Key, Kind, Text string
}

// wbColumns are the wallboard's columns, in order.
var wbColumns = []struct{ Key, Kind, Label string }{
	{"waiting", "count", "Waiting"},
	{"longest_wait_seconds", "wait", "Longest wait"},
	{"ringing", "count", "Ringing"},
	{"in_progress", "count", "In conversation"},
	{"agents.available", "count", "Available"},
	{"agents.busy", "count", "Busy"},
	{"agents.away", "count", "Away"},
	{"agents.wrap_up", "count", "Wrap-up"},
	{"agents.offline", "count", "Offline"},
	{"occupancy_percent", "pct", "Occupancy"},
	{"today.offered", "count", "Contacts today"},
	{"today.accepted", "count", "Accepted"},
	{"today.abandoned", "count", "Abandoned"},
	{"today.service_level_percent", "pct", "Service level"},
	{"today.asa_seconds", "sec", "ASA"},
	{"today.aht_seconds", "sec", "AHT"},
	{"today.abandon_rate_percent", "pct", "Abandon rate"},
	{"today.fcr_percent", "pct", "FCR"},
	{"today.csat_percent", "pct", "CSAT (4–5)"},
}

// wbFormat shows a number as wallboard.js does.
func wbFormat(kind string, v *float64) string {
	if v == nil {
		return "–"
	}
	switch kind {
	case "pct":
		return strconv.FormatFloat(*v, 'f', 1, 64) + " %"
	case "sec":
		return strconv.FormatFloat(*v, 'f', 1, 64) + " s"
	case "wait":
		return strconv.FormatFloat(*v, 'f', 0, 64) + " s"
	}
	return strconv.FormatFloat(*v, 'f', 0, 64)
}

func wbValue(q contacts.QueueBoard, key string) *float64 {
	n := func(i int) *float64 { f := float64(i); return &f }
	switch key {
	case "waiting":
		return n(q.Waiting)
	case "longest_wait_seconds":
		return n(q.LongestWait)
	case "ringing":
		return n(q.Ringing)
	case "in_progress":
		return n(q.InProgress)
	case "agents.available":
		return n(q.Agents.Available)
	case "agents.busy":
		return n(q.Agents.Busy)
	case "agents.away":
		return n(q.Agents.Away)
	case "agents.wrap_up":
		return n(q.Agents.WrapUp)
	case "agents.offline":
		return n(q.Agents.Offline)
	case "occupancy_percent":
		return q.Occupancy
	case "today.offered":
		return n(q.Today.Offered)
	case "today.accepted":
		return n(q.Today.Accepted)
	case "today.abandoned":
		return n(q.Today.Abandoned)
	case "today.service_level_percent":
		return q.Today.ServiceLevel
	case "today.asa_seconds":
		return q.Today.ASA
	case "today.aht_seconds":
		return q.Today.AHT
	case "today.abandon_rate_percent":
		return q.Today.AbandonRate
	case "today.fcr_percent":
		return q.Today.FCR
	case "today.csat_percent":
		return q.Today.CSAT
	}
	return nil
}

type wbRow struct {
	Queue contacts.QueueBoard
	Cells []wbCell
}

// Rows are the wallboard's queues with their cells, for the template.
func (d wallboardPageData) Rows() []wbRow {
	var out []wbRow
	for _, q := range d.Board.Queues {
		r := wbRow{Queue: q}
		for _, col := range wbColumns {
			r.Cells = append(r.Cells, wbCell{Key: col.Key, Kind: col.Kind, Text: wbFormat(col.Kind, wbValue(q, col.Key))})
		}
		out = append(out, r)
	}
	return out
}

// Columns are the wallboard's column headings.
func (d wallboardPageData) Columns() []string {
	out := make([]string, len(wbColumns))
	for i, c := range wbColumns {
		out[i] = c.Label
	}
	return out
}
