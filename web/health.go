package web

import (
	"context"
	"io/fs"
	"mime"
	"path"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthz says the process is alive; it checks nothing else, so a slow
// database never gets a healthy replica restarted.
func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz says whether this replica can serve: PostgreSQL and Redis answer.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	checks := fiber.Map{}
	ok := true
	if err := s.cfg.Pool.Ping(ctx); err != nil {
		checks["postgres"] = "down: " + err.Error()
		ok = false
	} else {
		checks["postgres"] = "ok"
	}
	if err := s.cfg.Redis.Ping(ctx).Err(); err != nil {
		checks["redis"] = "down: " + err.Error()
		ok = false
	} else {
		checks["redis"] = "ok"
	}
	status := "ready"
	if !ok {
		status = "unavailable"
		c.Status(fiber.StatusServiceUnavailable)
	}
	return c.JSON(fiber.Map{"status": status, "checks": checks})
}

// static serves the embedded assets; they change only with the binary.
func (s *Server) static(c *fiber.Ctx) error {
	name := path.Clean("static/" + c.Params("*"))
	b, err := fs.ReadFile(staticFS, name)
	if err != nil {
		return fiber.ErrNotFound
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		c.Set(fiber.HeaderContentType, ct)
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	return c.Send(b)
}
