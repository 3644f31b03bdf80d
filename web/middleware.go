package web

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/gofiber/fiber/v2"
)

const localRequestID = "request_id"

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID takes the caller's X-Request-Id when it is sane (a load
// balancer's), otherwise makes one, and echoes it back.
func (s *Server) requestID(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if !validRequestID.MatchString(id) {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Locals(localRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	return c.Next()
}

func requestIDOf(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// accessLog writes one structured line per request, after the error
// handler has chosen the status.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Run the error handler now so the logged status is the real one.
		if herr := s.app.Config().ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	st := c.Response().StatusCode()
	level := slog.LevelInfo
	if st >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", c.Method()),
		slog.String("path", c.Path()),
		slog.Int("status", st),
		slog.Duration("duration", time.Since(start)),
		slog.String("ip", clientIP(c)),
		slog.String("request_id", requestIDOf(c)),
	}
	// Reading a streamed body (SSE) would wait for the stream to end.
	if !c.Response().IsBodyStream() {
		attrs = append(attrs, slog.Int("bytes", len(c.Response().Body())))
	}
	if p, ok := principalOf(c); ok {
		attrs = append(attrs, slog.String("tenant_id", p.TenantID.String()), slog.String("user_id", p.UserID.String()))
	}
	s.log.LogAttrs(c.UserContext(), level, "http request", attrs...)
	return nil
}

// recoverPanics turns a handler panic into a logged 500 instead of a
// dropped connection.
func (s *Server) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", "panic", fmt.Sprint(r), "path", c.Path(), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Next()
}

// securityHeaders are set on every answer; the pages load nothing from
// other origins, so the content security policy can be strict. Forms may
// lead to Stripe only: Buy and "Manage payment method" answer with a
// redirect to Stripe Checkout or its customer portal, which form-action
// governs too.
func securityHeaders(c *fiber.Ctx) error {
	h := &c.Response().Header
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self' https://checkout.stripe.com https://billing.stripe.com; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if c.Protocol() == "https" {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	return c.Next()
}

// apiNoStore keeps tokens and tenant data out of shared caches.
func apiNoStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}
