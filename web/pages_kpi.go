package web

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
)

// The historical KPI page (/kpis; owners, admins and supervisors): a
// period (by default the last 14 UTC days) and one queue or all; the
// numbers of GET /api/v1/kpis per day and queue (their definitions are in
// routing/contacts/kpi.go), and charts of them per day.

// kpiPageDays is the period the page shows by default.
const kpiPageDays = 14

var errNotKPIViewer = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only owners, admins and supervisors see the KPIs.")

type kpiPageData struct {
	// From, To and QueueID are the form's values.
	From, To, QueueID string
	Queues            []setup.Queue
	// Shown is false when the form could not be read: no numbers then.
	Shown bool
	Days  []kpiDay
	// Volume is the contacts per day; Rates the service level and
	// abandon rate; Times the ASA and AHT: per queue when showing all.
	Volume       *volumeChart
	Rates, Times *lineChart
}

// kpiDay is one day of the table: a row per queue with contacts.
type kpiDay struct {
	Day  string
	Rows []kpiRow
}

type kpiRow struct {
	contacts.KPI
	SL, ASA, AHT, AbandonRate, FCR, CSAT string
}

func (s *Server) kpisPage(c *fiber.Ctx) error {
	p, _ := principalOf(c)
	if !contacts.CanSeeKPIs(p.Role) {
		return errNotKPIViewer
	}
	ctx := c.UserContext()
	queues, err := s.cfg.Setup.ListQueues(ctx, p.Actor)
	if err != nil {
		return err
	}
	d := kpiPageData{From: c.Query("from"), To: c.Query("to"), QueueID: c.Query("queue_id"), Queues: queues}
	var ks []contacts.KPI
	q, err := kpiQuery(c, time.Now(), kpiPageDays)
	if err == nil {
		ks, err = s.cfg.Contacts.KPIs(ctx, p, q)
	}
	if err != nil {
		return s.pageError(c, "kpis", pageData{Title: "KPIs", Data: d}, err)
	}
	d.Shown, d.From, d.To = true, q.From.Format(time.DateOnly), q.To.Format(time.DateOnly)
	byDay := map[string][]contacts.KPI{}
	for _, k := range ks {
		byDay[k.Day] = append(byDay[k.Day], k)
	}
	var days []string
	var volumes []contacts.HourVolume
	for t := q.From; !t.After(q.To); t = t.AddDate(0, 0, 1) {
		day := kpiDay{Day: t.Format(time.DateOnly)}
		v := contacts.HourVolume{Hour: t}
		for _, k := range byDay[day.Day] {
			day.Rows = append(day.Rows, kpiRow{KPI: k, SL: wbFormat("pct", k.ServiceLevel), ASA: wbFormat("sec", k.ASA),
				AHT: wbFormat("sec", k.AHT), AbandonRate: wbFormat("pct", k.AbandonRate), FCR: wbFormat("pct", k.FCR),
				CSAT: csatFormat(k)})
			v.Offered, v.Accepted, v.Abandoned = v.Offered+k.Offered, v.Accepted+k.Accepted, v.Abandoned+k.Abandoned
		}
		d.Days, days, volumes = append(d.Days, day), append(days, day.Day), append(volumes, v)
	}
	d.Volume = newVolumeChart("kpi-volume", volumes, "day")
	d.Rates, d.Times = kpiCharts(d.Days, days, queues, q.QueueID)
	return s.render(c, "kpis", pageData{Title: "KPIs", Data: d})
}

// kpiMetric is one number of a KPI row that the charts draw.
type kpiMetric struct {
	label string
	value func(contacts.KPI) *float64
}

var (
	kpiSL      = kpiMetric{"service level", func(k contacts.KPI) *float64 { return k.ServiceLevel }}
	kpiAbandon = kpiMetric{"abandon rate", func(k contacts.KPI) *float64 { return k.AbandonRate }}
	kpiASA     = kpiMetric{"ASA", func(k contacts.KPI) *float64 { return k.ASA }}
	kpiAHT     = kpiMetric{"AHT", func(k contacts.KPI) *float64 { return k.AHT }}
)

// kpiCharts draws one queue's service level and abandon rate against its
// target, and its ASA and AHT; for all queues, each queue's service level
// and ASA, a line per queue.
func kpiCharts(rows []kpiDay, days []string, queues []setup.Queue, only *uuid.UUID) (rates, times *lineChart) {
	series := func(ms ...kpiMetric) []lineSeries {
		var out []lineSeries
		for _, q := range queues {
			if only != nil && q.ID != *only {
				continue
			}
			for _, m := range ms {
				label := m.label
				if only == nil {
					label = q.Name
				}
				s := lineSeries{Label: label, Class: "series-" + strconv.Itoa(len(out)%6), Values: make([]*float64, len(rows))}
				seen := false
				for i, day := range rows {
					for _, k := range day.Rows {
						if k.QueueID == q.ID {
							s.Values[i], seen = m.value(k.KPI), true
						}
					}
				}
				if seen || only != nil {
					out = append(out, s)
				}
			}
		}
		return out
	}
	if only == nil {
		return newLineChart("kpi-rates", "Service level per day and queue, in %", days, "%", series(kpiSL), nil),
			newLineChart("kpi-times", "Average speed of answer per day and queue, in seconds", days, "s", series(kpiASA), nil)
	}
	var target *float64
	for _, q := range queues {
		if q.ID == *only {
			t := float64(q.SLPercent)
			target = &t
		}
	}
	return newLineChart("kpi-rates", "Service level and abandon rate per day, in %", days, "%", series(kpiSL, kpiAbandon), target),
		newLineChart("kpi-times", "Average speed of answer and handle time per day, in seconds", days, "s", series(kpiASA, kpiAHT), nil)
}

// csatFormat shows the mean score and the share satisfied, e.g.
// "4.5 (90 %, 10 answers)".
func csatFormat(k contacts.KPI) string {
	if k.CSATAverage == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f (%s, %d answers)", *k.CSATAverage, wbFormat("pct", k.CSAT), k.CSATResponses)
}
