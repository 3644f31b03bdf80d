package web

import (
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"

	"github.com/cic-platform/cic/tenant"
)

// Page sessions live in two HttpOnly, SameSite=Lax cookies: the short
// access token and the rotating refresh token. Forms carry a CSRF token
// checked against a third cookie and Redis.
const (
	cookieAccess  = "cic_access"
	cookieRefresh = "cic_refresh"
	cookieCSRF    = "cic_csrf"
	// cookieSeat holds the seat lease of the session; cookieWorkstation
	// names the browser's workstation, kept across sessions; cookieFlash
	// carries a message to the next page (why a session ended).
	cookieSeat        = "cic_seat"
	cookieWorkstation = "cic_ws"
	cookieFlash       = "cic_flash"
	localCSRF         = "csrf"
)

func (s *Server) csrfMiddleware() fiber.Handler {
	return csrf.New(csrf.Config{
		KeyLookup:      "form:_csrf",
		CookieName:     cookieCSRF,
		CookieHTTPOnly: true,
		CookieSecure:   s.secure,
		CookieSameSite: "Lax",
		Expiration:     12 * time.Hour,
		ContextKey:     localCSRF,
		Storage:        &redisStorage{rdb: s.cfg.Redis, prefix: s.cfg.RedisPrefix + "csrf:"},
	})
}

func (s *Server) setSession(c *fiber.Ctx, t tenant.Tokens) {
	s.setCookie(c, cookieAccess, t.AccessToken, time.Duration(t.ExpiresIn)*time.Second)
	s.setCookie(c, cookieRefresh, t.RefreshToken, s.cfg.Tenants.RefreshTTL)
}

func (s *Server) clearSession(c *fiber.Ctx) {
	s.setCookie(c, cookieAccess, "", -time.Hour)
	s.setCookie(c, cookieRefresh, "", -time.Hour)
	s.setCookie(c, cookieSeat, "", -time.Hour)
}

func (s *Server) setCookie(c *fiber.Ctx, name, value string, ttl time.Duration) {
	ck := &fiber.Cookie{
		Name: name, Value: value, Path: "/",
		HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode,
	}
	if ttl < 0 {
		ck.Expires = time.Unix(1, 0)
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(ttl.Seconds())
	}
	c.Cookie(ck)
}

// pageAuth loads the user of the page session, refreshing an expired
// access token with the refresh cookie; without a session it redirects to
// the login page and comes back afterwards. A user whose role takes a
// seat must hold one: each page load renews it, and a session whose seat
// is gone ends with word of why on the login page.
func (s *Server) pageAuth(c *fiber.Ctx) error {
	p, ok := s.sessionPrincipal(c)
	if !ok {
		s.clearSession(c)
		next := ""
		if c.Method() == fiber.MethodGet {
			next = "?next=" + url.QueryEscape(c.OriginalURL())
		}
		return c.Redirect("/login"+next, fiber.StatusSeeOther)
	}
	if err := s.holdSeat(c, p); err != nil {
		return s.seatLost(c, err)
	}
	s.setPrincipal(c, p)
	return c.Next()
}

// sessionPrincipal is the user of the page cookies, if any.
func (s *Server) sessionPrincipal(c *fiber.Ctx) (tenant.Principal, bool) {
	ctx := c.UserContext()
	if tok := c.Cookies(cookieAccess); tok != "" {
		if p, err := s.cfg.Tenants.Authenticate(ctx, tok); err == nil {
			return p, true
		}
	}
	if rt := c.Cookies(cookieRefresh); rt != "" {
		if toks, _, err := s.cfg.Tenants.Refresh(ctx, rt, clientMeta(c)); err == nil {
			if p, err := s.cfg.Tenants.Authenticate(ctx, toks.AccessToken); err == nil {
				s.setSession(c, toks)
				return p, true
			}
		}
	}
	return tenant.Principal{}, false
}
