package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cic-platform/cic/tenant"
)

type signupAnswer struct {
	Tenant       tenantRef `json:"tenant"`
	User         userRef   `json:"user"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	TokenType    string    `json:"token_type"`
	ExpiresIn    int       `json:"expires_in"`
}

type tenantRef struct {
	ID       uuid.UUID `json:"id"`
	Slug     string    `json:"slug"`
	Name     string    `json:"name"`
	Currency string    `json:"currency"`
}

type userRef struct {
	ID    uuid.UUID `json:"id"`
	Email string    `json:"email"`
	Name  string    `json:"name"`
	Role  string    `json:"role"`
}

func (s *Server) apiSignup(c *fiber.Ctx) error {
	var in tenant.SignupInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	res, err := s.signup(c, in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(signupAnswer{
		Tenant:       tenantRef{ID: res.Tenant.ID, Slug: res.Tenant.Slug, Name: res.Tenant.Name, Currency: res.Tenant.Currency},
		User:         userRef{ID: res.User.ID, Email: res.User.Email, Name: res.User.Name, Role: string(res.User.Role)},
		AccessToken:  res.Tokens.AccessToken,
		RefreshToken: res.Tokens.RefreshToken,
		TokenType:    res.Tokens.TokenType,
		ExpiresIn:    res.Tokens.ExpiresIn,
	})
}

// signup is shared by the API and the page: the after-sign-up hook's
// failure is logged, not shown, because the tenant exists by then.
func (s *Server) signup(c *fiber.Ctx, in tenant.SignupInput) (tenant.SignupResult, error) {
	res, err := s.cfg.Tenants.Signup(c.UserContext(), in, clientMeta(c))
	var after *tenant.AfterSignupError
	if err != nil && errors.As(err, &after) {
		s.log.ErrorContext(c.UserContext(), "after sign-up", "tenant_id", res.Tenant.ID, "err", after.Err)
		err = nil
	}
	return res, err
}

func (s *Server) apiLogin(c *fiber.Ctx) error {
	var in tenant.LoginInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	toks, _, err := s.cfg.Tenants.Login(c.UserContext(), in, clientMeta(c))
	if err != nil {
		return err
	}
	return c.JSON(toks)
}

type refreshInput struct {
	RefreshToken string `json:"refresh_token"`
}

func (s *Server) apiRefresh(c *fiber.Ctx) error {
	var in refreshInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	toks, _, err := s.cfg.Tenants.Refresh(c.UserContext(), in.RefreshToken, clientMeta(c))
	if err != nil {
		return err
	}
	return c.JSON(toks)
}

func (s *Server) apiLogout(c *fiber.Ctx) error {
	var in refreshInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	tenantID, userID, err := s.cfg.Tenants.EndSession(c.UserContext(), in.RefreshToken)
	if err != nil {
		return err
	}
	s.freeSeat(c, tenantID, userID, uuid.Nil)
	return c.SendStatus(fiber.StatusNoContent)
}

type meAnswer struct {
	User         userRef    `json:"user"`
	DepartmentID *uuid.UUID `json:"department_id"`
	Tenant       tenantRef  `json:"tenant"`
}

func (s *Server) apiMe(c *fiber.Ctx) error {
	p, _ := principalOf(c)
	t, err := s.cfg.Tenants.GetTenant(c.UserContext(), p.TenantID)
	if err != nil {
		return err
	}
	return c.JSON(meAnswer{
		User:         userRef{ID: p.UserID, Email: p.Email, Name: p.Name, Role: string(p.Role)},
		DepartmentID: p.DepartmentID,
		Tenant:       tenantRef{ID: t.ID, Slug: t.Slug, Name: t.Name, Currency: t.Currency},
	})
}

type invitationAnswer struct {
	Company   string `json:"company"`
	Tenant    string `json:"tenant"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	ExpiresAt string `json:"expires_at"`
}

func (s *Server) apiGetInvitation(c *fiber.Ctx) error {
	inv, err := s.cfg.Tenants.GetInvitation(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	return c.JSON(invitationAnswer{Company: inv.TenantName, Tenant: inv.TenantSlug, Email: inv.Email, Name: inv.Name,
		ExpiresAt: inv.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z")})
}

type acceptInput struct {
	Password string `json:"password"`
}

func (s *Server) apiAcceptInvitation(c *fiber.Ctx) error {
	var in acceptInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	toks, _, err := s.cfg.Tenants.AcceptInvitation(c.UserContext(), c.Params("token"), in.Password, clientMeta(c))
	if err != nil {
		return err
	}
	return c.JSON(toks)
}
