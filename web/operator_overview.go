package web

import (
	"time"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// The operator's overview of the platform: the tenants, and the health of
// every job queue (what waits, what runs, what failed).

const operatorTenantsPage = 100

// queueHealth is one asynq queue's state, as the operator reads it.
type queueHealth struct {
	Queue     string        `json:"queue"`
	Paused    bool          `json:"paused"`
	Size      int           `json:"size"`
	Pending   int           `json:"pending"`
	Active    int           `json:"active"`
	Scheduled int           `json:"scheduled"`
	Retry     int           `json:"retry"`
	Archived  int           `json:"archived"`
	Completed int           `json:"completed"`
	Processed int           `json:"processed_today"`
	Failed    int           `json:"failed_today"`
	Latency   time.Duration `json:"-"`
	LatencyS  float64       `json:"latency_seconds"`
}

func (s *Server) queueHealth() ([]queueHealth, error) {
	out := []queueHealth{}
	if s.cfg.Jobs == nil {
		return out, nil
	}
	unavailable := cic.Codef(cic.EUNAVAILABLE, "jobs_unavailable", "The job queue cannot be read now.")
	queues, err := s.cfg.Jobs.Queues()
	if err != nil {
		return nil, unavailable
	}
	for _, q := range queues {
		i, err := s.cfg.Jobs.GetQueueInfo(q)
		if err != nil {
			return nil, unavailable
		}
		out = append(out, queueHealth{Queue: q, Paused: i.Paused, Size: i.Size, Pending: i.Pending, Active: i.Active,
			Scheduled: i.Scheduled, Retry: i.Retry, Archived: i.Archived, Completed: i.Completed,
			Processed: i.Processed, Failed: i.Failed, Latency: i.Latency, LatencyS: i.Latency.Seconds()})
	}
	return out, nil
}

// apiOperatorTenants lists tenants newest first, 100 a page; ?before=<the
// created_at of the last one> gives the next page.
func (s *Server) apiOperatorTenants(c *fiber.Ctx) error {
	var before *time.Time
	if v := c.Query("before"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return cic.Codef(cic.EINVALID, "invalid_cursor", "before must be an RFC 3339 time, the created_at of the last tenant of the previous page.")
		}
		before = &t
	}
	ts, err := s.cfg.Tenants.DB.ListTenants(c.UserContext(), operatorTenantsPage, before)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []tenant.Tenant{}
	}
	body := fiber.Map{"tenants": ts}
	if len(ts) == operatorTenantsPage {
		body["next_before"] = ts[len(ts)-1].CreatedAt.Format(time.RFC3339Nano)
	}
	return c.JSON(body)
}

func (s *Server) apiOperatorQueues(c *fiber.Ctx) error {
	qs, err := s.queueHealth()
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"queues": qs})
}
