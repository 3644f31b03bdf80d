package web

import (
	"github.com/gofiber/fiber/v2"

	"github.com/cic-platform/cic/routing/setup"
)

func (s *Server) apiListSkills(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	out, err := s.cfg.Setup.ListSkills(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"skills": nonNil(out)})
}

func (s *Server) apiCreateSkill(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	sk, err := s.cfg.Setup.CreateSkill(c.UserContext(), a, in.Name)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(sk)
}

func (s *Server) apiDeleteSkill(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "skill")
	if err != nil {
		return err
	}
	if err := s.cfg.Setup.DeleteSkill(c.UserContext(), a, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) apiListQueues(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	out, err := s.cfg.Setup.ListQueues(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"queues": nonNil(out)})
}

func (s *Server) apiCreateQueue(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in setup.QueueInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	q, err := s.cfg.Setup.CreateQueue(c.UserContext(), a, in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(q)
}

func (s *Server) apiGetQueue(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "queue")
	if err != nil {
		return err
	}
	q, err := s.cfg.Setup.GetQueue(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(q)
}

func (s *Server) apiUpdateQueue(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "queue")
	if err != nil {
		return err
	}
	var in setup.QueueInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	q, err := s.cfg.Setup.UpdateQueue(c.UserContext(), a, id, in)
	if err != nil {
		return err
	}
	return c.JSON(q)
}

func (s *Server) apiDeleteQueue(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "queue")
	if err != nil {
		return err
	}
	if err := s.cfg.Setup.DeleteQueue(c.UserContext(), a, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) apiGetRouting(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "user")
	if err != nil {
		return err
	}
	p, err := s.cfg.Setup.GetProfile(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) apiPutRouting(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "user")
	if err != nil {
		return err
	}
	var in setup.ProfileInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	p, err := s.cfg.Setup.SetProfile(c.UserContext(), a, id, in)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) apiListDispositions(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	out, err := s.cfg.Setup.ListDispositions(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"dispositions": nonNil(out)})
}

func (s *Server) apiPutDisposition(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in struct {
		Label    string `json:"label"`
		Resolved *bool  `json:"resolved"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	d := setup.Disposition{Code: c.Params("code"), Label: in.Label, Resolved: in.Resolved == nil || *in.Resolved}
	d, err = s.cfg.Setup.SetDisposition(c.UserContext(), a, d)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Server) apiDeleteDisposition(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Setup.DeleteDisposition(c.UserContext(), a, c.Params("code")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
