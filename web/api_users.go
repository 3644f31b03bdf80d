package web

import (
	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

type userPage struct {
	Users      []tenant.User `json:"users"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func (s *Server) apiListUsers(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, 50, 200)
	if err != nil {
		return err
	}
	f := tenant.UserFilter{Cursor: c.Query("cursor"), Limit: limit, Role: cic.Role(c.Query("role")), Status: c.Query("status")}
	users, next, err := s.cfg.Tenants.ListUsers(c.UserContext(), a, f)
	if err != nil {
		return err
	}
	if users == nil {
		users = []tenant.User{}
	}
	return c.JSON(userPage{Users: users, NextCursor: next})
}

func (s *Server) apiCreateUser(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in tenant.NewUser
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	u, err := s.cfg.Tenants.CreateUser(c.UserContext(), a, in)
	if err != nil {
		return err
	}
	c.Location("/api/v1/users/" + u.ID.String())
	return c.Status(fiber.StatusCreated).JSON(u)
}

type inviteAnswer struct {
	User       tenant.User `json:"user"`
	InviteURL  string      `json:"invite_url"`
	InviteCode string      `json:"invite_token"`
}

func (s *Server) apiInviteUser(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in tenant.NewUser
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	u, token, err := s.cfg.Tenants.InviteUser(c.UserContext(), a, in)
	if err != nil {
		return err
	}
	c.Location("/api/v1/users/" + u.ID.String())
	return c.Status(fiber.StatusCreated).JSON(inviteAnswer{User: u, InviteURL: s.publicLink(c, "/invite/"+token), InviteCode: token})
}

func (s *Server) apiGetUser(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "user")
	if err != nil {
		return err
	}
	u, err := s.cfg.Tenants.GetUser(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (s *Server) apiUpdateUser(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "user")
	if err != nil {
		return err
	}
	var up tenant.UserUpdate
	if err := decodeJSON(c, &up); err != nil {
		return err
	}
	u, err := s.cfg.Tenants.UpdateUser(c.UserContext(), a, id, up)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (s *Server) apiDeactivateUser(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "user")
	if err != nil {
		return err
	}
	u, err := s.cfg.Tenants.DeactivateUser(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

// apiChangePassword changes the calling user's own password: every session
// and access token of the user ends, and the answer carries the caller's
// new tokens.
func (s *Server) apiChangePassword(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in tenant.PasswordChange
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	toks, err := s.cfg.Tenants.ChangePassword(c.UserContext(), a, in, clientMeta(c))
	if err != nil {
		return err
	}
	return c.JSON(toks)
}

// apiRevokeInvitation withdraws a pending invitation: its link stops
// working; the user stays invited and may be invited again.
func (s *Server) apiRevokeInvitation(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "user")
	if err != nil {
		return err
	}
	if err := s.cfg.Tenants.RevokeInvitation(c.UserContext(), a, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
