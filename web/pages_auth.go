package web

import (
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// currencies offered on the sign-up form; the API takes any ISO 4217 code
// that tenant.ValidateCurrency accepts.
var currencies = []string{"EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "CAD", "AUD", "JPY"}

func (s *Server) rootPage(c *fiber.Ctx) error {
	if c.Cookies(cookieAccess) != "" || c.Cookies(cookieRefresh) != "" {
		return c.Redirect("/dashboard", fiber.StatusSeeOther)
	}
	return c.Redirect("/login", fiber.StatusSeeOther)
}

func (s *Server) signupPage(c *fiber.Ctx) error {
	return s.render(c, "signup", pageData{Title: "Create your company", Data: currencies,
		Form: map[string]string{"currency": "EUR"}})
}

func (s *Server) signupSubmit(c *fiber.Ctx) error {
	in := tenant.SignupInput{
		Company: c.FormValue("company"), Slug: c.FormValue("slug"), Name: c.FormValue("name"),
		Email: c.FormValue("email"), Password: c.FormValue("password"), Currency: c.FormValue("currency"),
	}
	res, err := s.signup(c, in)
	if err != nil {
		return s.pageError(c, "signup", pageData{Title: "Create your company", Data: currencies,
			Form: formValues(c, "company", "slug", "name", "email", "currency")}, err)
	}
	s.startSession(c, res.Tokens)
	return c.Redirect("/dashboard?welcome=1", fiber.StatusSeeOther)
}

func (s *Server) loginPage(c *fiber.Ctx) error {
	d := pageData{Title: "Log in", Form: map[string]string{"tenant": c.Query("tenant"), "next": c.Query("next"),
		"workstation": c.Cookies(cookieWorkstation)}}
	if c.Query("bye") != "" {
		d.Notice = "You are logged out."
	}
	d.Error = s.takeFlash(c)
	return s.render(c, "login", d)
}

func (s *Server) loginSubmit(c *fiber.Ctx) error {
	in := tenant.LoginInput{Tenant: c.FormValue("tenant"), Email: c.FormValue("email"), Password: c.FormValue("password")}
	form := pageData{Title: "Log in", Form: formValues(c, "tenant", "email", "next", "workstation")}
	toks, _, err := s.cfg.Tenants.Login(c.UserContext(), in, clientMeta(c))
	if err != nil {
		return s.pageError(c, "login", form, err)
	}
	moved, err := s.takeSeat(c, toks)
	if err != nil {
		// No seat, no session: the refresh token just issued is revoked.
		if lerr := s.cfg.Tenants.Logout(c.UserContext(), toks.RefreshToken); lerr != nil {
			s.log.Warn("revoke session without seat", "err", lerr)
		}
		return s.seatRefused(c, "login", form, err)
	}
	s.startSession(c, toks)
	if moved != "" {
		return c.Redirect("/dashboard?moved_from="+url.QueryEscape(moved), fiber.StatusSeeOther)
	}
	return c.Redirect(safeNext(c.FormValue("next")), fiber.StatusSeeOther)
}

// seatRefused shows why no seat was given on the form the user sent,
// including when the seat service is down (503): that is not the
// user's fault, but they need to read it rather than a bare error page.
func (s *Server) seatRefused(c *fiber.Ctx, page string, d pageData, err error) error {
	if cic.ErrorKind(err) == cic.EUNAVAILABLE {
		_, _, d.Error = classify(err)
		return s.renderStatus(c, fiber.StatusServiceUnavailable, page, d)
	}
	return s.pageError(c, page, d, err)
}

func (s *Server) logoutSubmit(c *fiber.Ctx) error {
	s.endPageSession(c)
	return c.Redirect("/login?bye=1", fiber.StatusSeeOther)
}

func (s *Server) invitePage(c *fiber.Ctx) error {
	inv, err := s.cfg.Tenants.GetInvitation(c.UserContext(), c.Params("token"))
	if err != nil {
		return s.pageError(c, "invite", pageData{Title: "Invitation"}, err)
	}
	return s.render(c, "invite", pageData{Title: "Join " + inv.TenantName, Data: inv})
}

func (s *Server) inviteSubmit(c *fiber.Ctx) error {
	token := c.Params("token")
	toks, _, err := s.cfg.Tenants.AcceptInvitation(c.UserContext(), token, c.FormValue("password"), clientMeta(c))
	if err != nil {
		d := pageData{Title: "Invitation"}
		if inv, gerr := s.cfg.Tenants.GetInvitation(c.UserContext(), token); gerr == nil {
			d.Data = inv
		}
		return s.pageError(c, "invite", d, err)
	}
	if _, err := s.takeSeat(c, toks); err != nil {
		// The password is set; the user logs in once a seat is free.
		if lerr := s.cfg.Tenants.Logout(c.UserContext(), toks.RefreshToken); lerr != nil {
			s.log.Warn("revoke session without seat", "err", lerr)
		}
		_, _, msg := classify(err)
		s.setCookie(c, cookieFlash, url.QueryEscape("Your password is set. "+msg), time.Minute)
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	s.startSession(c, toks)
	return c.Redirect("/dashboard?welcome=1", fiber.StatusSeeOther)
}
