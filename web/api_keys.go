package web

import (
	"github.com/gofiber/fiber/v2"

	"github.com/cic-platform/cic/tenant"
)

type nameInput struct {
	Name string `json:"name"`
}

// apiKeyCreated carries the only copy of the key the caller will ever see.
type apiKeyCreated struct {
	tenant.APIKey
	Key string `json:"key"`
}

func (s *Server) apiCreateAPIKey(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in nameInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	k, key, err := s.cfg.Tenants.CreateAPIKey(c.UserContext(), a, in.Name)
	if err != nil {
		return err
	}
	c.Location("/api/v1/api-keys/" + k.ID.String())
	return c.Status(fiber.StatusCreated).JSON(apiKeyCreated{APIKey: k, Key: key})
}

func (s *Server) apiListAPIKeys(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	keys, err := s.cfg.Tenants.ListAPIKeys(c.UserContext(), a)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []tenant.APIKey{}
	}
	return c.JSON(fiber.Map{"api_keys": keys})
}

// apiRevokeAPIKey revokes rather than deletes, so the audit trail and
// "last used" stay readable.
func (s *Server) apiRevokeAPIKey(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "API key")
	if err != nil {
		return err
	}
	k, err := s.cfg.Tenants.RevokeAPIKey(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(k)
}
