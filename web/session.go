package web

import (
	"net/url"
	"strings"
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
	localCSRF     = "csrf"
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
// the login page and comes back afterwards.
func (s *Server) pageAuth(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if tok := c.Cookies(cookieAccess); tok != "" {
		if p, err := s.cfg.Tenants.Authenticate(ctx, tok); err == nil {
			s.setPrincipal(c, p)
			return c.Next()
		}
	}
	if rt := c.Cookies(cookieRefresh); rt != "" {
		if toks, _, err := s.cfg.Tenants.Refresh(ctx, rt, clientMeta(c)); err == nil {
			if p, err := s.cfg.Tenants.Authenticate(ctx, toks.AccessToken); err == nil {
				s.setSession(c, toks)
				s.setPrincipal(c, p)
				return c.Next()
			}
		}
	}
	s.clearSession(c)
	next := ""
	if c.Method() == fiber.MethodGet {
		next = "?next=" + url.QueryEscape(c.OriginalURL())
	}
	return c.Redirect("/login"+next, fiber.StatusSeeOther)
}

// safeNext keeps post-login redirects on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/dashboard"
	}
	return next
}
