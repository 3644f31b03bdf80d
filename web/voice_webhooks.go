package web

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/twilio"
	"github.com/cic-platform/cic/channels/voice"
)

var errVoiceOff = cic.Codef(cic.EUNAVAILABLE, "voice_unavailable", "Calls are not set up on this server.")

// needVoice keeps the call routes off when the voice channel is not wired.
func (s *Server) needVoice(c *fiber.Ctx) error {
	if s.cfg.Voice == nil {
		return errVoiceOff
	}
	return c.Next()
}

// forbiddenTwiML answers a webhook whose signature is not the provider's:
// 403, nothing read or changed.
func forbiddenTwiML(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/xml; charset=utf-8")
	return c.Status(fiber.StatusForbidden).SendString(`<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>`)
}

// voiceWebhook answers one of the provider's call webhooks. The tenant
// is in the path; the signature is checked with the tenant's provider
// secret over the URL the provider called (our public URL, the original
// path and query) before anything else is read.
func (s *Server) voiceWebhook(step string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		v := s.cfg.Voice
		if v == nil {
			return fiber.ErrNotFound
		}
		tenantID, err := uuid.Parse(c.Params("tenant"))
		if err != nil {
			return forbiddenTwiML(c)
		}
		form, err := url.ParseQuery(string(c.Body()))
		if err != nil {
			return forbiddenTwiML(c) // not the provider's form: it cannot carry a valid signature
		}
		full := strings.TrimRight(s.cfg.PublicURL, "/") + c.OriginalURL()
		if err := v.Verify(c.UserContext(), tenantID, full, form, c.Get(twilio.SignatureHeader)); err != nil {
			if cic.ErrorKind(err) == cic.EFORBIDDEN {
				return forbiddenTwiML(c)
			}
			return err
		}
		query, err := url.ParseQuery(string(c.Request().URI().QueryString()))
		if err != nil {
			query = url.Values{}
		}
		t, err := v.Handle(c.UserContext(), voice.Webhook{TenantID: tenantID, Step: step, Query: query, Form: form})
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "text/xml; charset=utf-8")
		return c.Send(t.Bytes())
	}
}
