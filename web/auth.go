package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

const localPrincipal = "principal"

var errNoToken = cic.Codef(cic.EUNAUTHORIZED, "unauthenticated", "Log in first: send Authorization: Bearer <access token>.")

// requireBearer authenticates API calls. Only the Authorization header
// counts: the API never reads the page cookies, so it needs no CSRF check.
func (s *Server) requireBearer(c *fiber.Ctx) error {
	if err := s.authenticateBearer(c); err != nil {
		return err
	}
	return c.Next()
}

// authenticateBearer sets the principal of the request's bearer token.
func (s *Server) authenticateBearer(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errNoToken
	}
	p, err := s.cfg.Tenants.Authenticate(c.UserContext(), strings.TrimSpace(token))
	if err != nil {
		return err
	}
	s.setPrincipal(c, p)
	return nil
}

func (s *Server) setPrincipal(c *fiber.Ctx, p tenant.Principal) {
	p.IP = clientIP(c)
	p.RequestID = requestIDOf(c)
	c.Locals(localPrincipal, p)
}

func principalOf(c *fiber.Ctx) (tenant.Principal, bool) {
	p, ok := c.Locals(localPrincipal).(tenant.Principal)
	return p, ok
}

// actor is the authenticated caller; routes using it sit behind an auth
// middleware, so a missing principal is a wiring bug, reported as 401.
func actor(c *fiber.Ctx) (tenant.Actor, error) {
	p, ok := principalOf(c)
	if !ok {
		return tenant.Actor{}, errNoToken
	}
	return p.Actor, nil
}

func clientMeta(c *fiber.Ctx) tenant.ClientMeta {
	// Cut on a character boundary: half a character is not storable text.
	ua := cleanText(c.Get(fiber.HeaderUserAgent), 256)
	return tenant.ClientMeta{IP: clientIP(c), UserAgent: ua, RequestID: requestIDOf(c)}
}

// actorAndID is the caller and the :id of a resource route.
func actorAndID(c *fiber.Ctx, what string) (tenant.Actor, uuid.UUID, error) {
	a, err := actor(c)
	if err != nil {
		return tenant.Actor{}, uuid.Nil, err
	}
	id, err := paramID(c, what)
	return a, id, err
}
