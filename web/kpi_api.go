package web

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/contacts"
)

// apiWallboard: GET /api/v1/wallboard, the tenant's live numbers per
// queue (see contacts.Wallboard and contacts.QueueBoard): waiting,
// ringing and in-progress contacts, longest wait, agents by status,
// occupancy, and today's (UTC) KPIs. Supervisors, admins and owners.
func (s *Server) apiWallboard(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	w, err := s.cfg.Contacts.Wallboard(c.UserContext(), p)
	if err != nil {
		return err
	}
	return c.JSON(w)
}

// kpiAnswer is GET /api/v1/kpis.
type kpiAnswer struct {
	From    string         `json:"from"`
	To      string         `json:"to"`
	QueueID *uuid.UUID     `json:"queue_id"`
	KPIs    []contacts.KPI `json:"kpis"`
}

// apiKPIs: GET /api/v1/kpis?from=YYYY-MM-DD&to=YYYY-MM-DD&queue_id=,
// historical KPIs per UTC day and queue (definitions in
// routing/contacts/kpi.go). to defaults to today, from to six days before
// to; at most 366 days.
func (s *Server) apiKPIs(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	q, err := kpiQuery(c, time.Now(), 7)
	if err != nil {
		return err
	}
	ks, err := s.cfg.Contacts.KPIs(c.UserContext(), p, q)
	if err != nil {
		return err
	}
	return c.JSON(kpiAnswer{From: q.From.Format(time.DateOnly), To: q.To.Format(time.DateOnly), QueueID: q.QueueID, KPIs: ks})
}

// kpiQuery reads ?from, ?to and ?queue_id; by default the period is the
// last days UTC days, today included, and every queue.
func kpiQuery(c *fiber.Ctx, now time.Time, days int) (contacts.KPIQuery, error) {
	var q contacts.KPIQuery
	day := func(name string) (time.Time, bool, error) {
		v := c.Query(name)
		if v == "" {
			return time.Time{}, false, nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return time.Time{}, false, cic.Codef(cic.EINVALID, "invalid_date", "%s must be a date as YYYY-MM-DD.", name)
		}
		return t, true, nil
	}
	to, ok, err := day("to")
	if err != nil {
		return q, err
	}
	if !ok {
		to = now.UTC().Truncate(24 * time.Hour)
	}
	from, ok, err := day("from")
	if err != nil {
		return q, err
	}
	if !ok {
		from = to.AddDate(0, 0, 1-days)
	}
	q.From, q.To = from, to
	if v := c.Query("queue_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return q, cic.Codef(cic.EINVALID, "invalid_queue_id", "queue_id must be a queue's id.")
		}
		q.QueueID = &id
	}
	return q, nil
}
