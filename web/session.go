package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cic-platform/cic/tenant"
)

// Page sessions live in two HttpOnly, SameSite=Lax cookies: the short
// access token and the rotating refresh token. Forms carry a CSRF token
// bound to a third cookie and to the login session (csrfMiddleware).
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

// csrfMiddleware guards the forms of the pages. The cic_csrf cookie holds
// a random seed, replaced at every login (and every logout), and the form
// token is HMAC(seed, login session id): a token copied before the login,
// from another browser or from another session of the same user does not
// pass, and nothing is kept on the server. Safe methods only get the
// token (Locals "csrf", for the templates); the others must send it as
// the form field _csrf.
func (s *Server) csrfMiddleware() fiber.Handler {
	return func(c *fiber.Ctx) error {
		seed := c.Cookies(cookieCSRF)
		if !validSeed(seed) {
			seed = s.newCSRFSeed(c)
		}
		sid := ""
		if p, ok := s.cachedPrincipal(c); ok {
			sid = p.SessionID.String()
		}
		want := s.csrfToken(seed, sid)
		c.Locals(localCSRF, want)
		switch c.Method() {
		case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodTrace:
			return c.Next()
		}
		if got := c.FormValue("_csrf"); subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return fiber.ErrForbidden
		}
		return c.Next()
	}
}

const csrfSeedBytes = 32

func validSeed(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == csrfSeedBytes
}

// newCSRFSeed sets a fresh seed cookie and returns it.
func (s *Server) newCSRFSeed(c *fiber.Ctx) string {
	b := make([]byte, csrfSeedBytes)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	seed := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(c, cookieCSRF, seed, 12*time.Hour)
	// Requests that follow in this response see the new seed.
	c.Request().Header.SetCookie(cookieCSRF, seed)
	return seed
}

func (s *Server) csrfToken(seed, sessionID string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(seed))
	m.Write([]byte{0})
	m.Write([]byte(sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// cachedPrincipal is sessionPrincipal once per request: the CSRF check
// and pageAuth both need it.
func (s *Server) cachedPrincipal(c *fiber.Ctx) (tenant.Principal, bool) {
	if v, ok := c.Locals(localSession).(sessionLookup); ok {
		return v.p, v.ok
	}
	p, ok := s.sessionPrincipal(c)
	c.Locals(localSession, sessionLookup{p, ok})
	return p, ok
}

type sessionLookup struct {
	p  tenant.Principal
	ok bool
}

const localSession = "cic.session"

func (s *Server) setSession(c *fiber.Ctx, t tenant.Tokens) {
	s.setCookie(c, cookieAccess, t.AccessToken, time.Duration(t.ExpiresIn)*time.Second)
	s.setCookie(c, cookieRefresh, t.RefreshToken, s.cfg.Tenants.RefreshTTL)
}

// startSession is setSession at a login: the CSRF seed is replaced, so no
// token from before the login is good in the new session.
func (s *Server) startSession(c *fiber.Ctx, t tenant.Tokens) {
	s.setSession(c, t)
	s.newCSRFSeed(c)
}

func (s *Server) clearSession(c *fiber.Ctx) {
	s.setCookie(c, cookieAccess, "", -time.Hour)
	s.setCookie(c, cookieRefresh, "", -time.Hour)
	s.setCookie(c, cookieSeat, "", -time.Hour)
	s.newCSRFSeed(c)
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
	p, ok := s.cachedPrincipal(c)
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
