package web

import (
	"github.com/gofiber/fiber/v2"

	"github.com/cic-platform/cic/routing/setup"
)

// Calendars of holidays and exceptions (routing/setup): owners and admins
// change them, supervisors read them; a queue follows one through its
// calendar_id (PATCH /api/v1/queues/{id}).

func (s *Server) apiListCalendars(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	out, err := s.cfg.Setup.ListCalendars(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"calendars": nonNil(out)})
}

func (s *Server) apiCreateCalendar(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in setup.CalendarInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	cal, err := s.cfg.Setup.CreateCalendar(c.UserContext(), a, in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(cal)
}

func (s *Server) apiGetCalendar(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "calendar")
	if err != nil {
		return err
	}
	cal, err := s.cfg.Setup.GetCalendar(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(cal)
}

func (s *Server) apiUpdateCalendar(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "calendar")
	if err != nil {
		return err
	}
	var in setup.CalendarInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	cal, err := s.cfg.Setup.UpdateCalendar(c.UserContext(), a, id, in)
	if err != nil {
		return err
	}
	return c.JSON(cal)
}

func (s *Server) apiDeleteCalendar(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "calendar")
	if err != nil {
		return err
	}
	if err := s.cfg.Setup.DeleteCalendar(c.UserContext(), a, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
