package web

import (
	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/voice"
)

func (s *Server) apiListMenus(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	out, err := s.cfg.Voice.Menus(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"menus": out})
}

func (s *Server) apiCreateMenu(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in voice.MenuInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	m, err := s.cfg.Voice.CreateMenu(c.UserContext(), a, in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(m)
}

func (s *Server) apiGetMenu(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "IVR menu")
	if err != nil {
		return err
	}
	m, err := s.cfg.Voice.Menu(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (s *Server) apiUpdateMenu(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "IVR menu")
	if err != nil {
		return err
	}
	var in voice.MenuInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	m, err := s.cfg.Voice.UpdateMenu(c.UserContext(), a, id, in)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (s *Server) apiDeleteMenu(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "IVR menu")
	if err != nil {
		return err
	}
	if err := s.cfg.Voice.DeleteMenu(c.UserContext(), a, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// apiGetCall: the call behind a voice contact (the desk shows the number
// and whether the caller is on hold).
func (s *Server) apiGetCall(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	id, err := paramID(c, "call")
	if err != nil {
		return err
	}
	call, err := s.cfg.Voice.CallFor(c.UserContext(), p, id)
	if err != nil {
		return err
	}
	return c.JSON(call)
}

var callActions = map[string]string{"hold": voice.ActHold, "resume": voice.ActResume, "hangup": voice.ActHangup}

// apiCallAction: POST /calls/{contact}/hold|resume|hangup.
func (s *Server) apiCallAction(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	id, err := paramID(c, "call")
	if err != nil {
		return err
	}
	action, ok := callActions[c.Params("action")]
	if !ok {
		return cic.Codef(cic.ENOTFOUND, "not_found", "A call is held, resumed or hung up.")
	}
	call, err := s.cfg.Voice.CallAction(c.UserContext(), p, id, action)
	if err != nil {
		return err
	}
	return c.JSON(call)
}
