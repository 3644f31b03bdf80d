package web

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/fax"
	"github.com/cic-platform/cic/channels/messaging"
	"github.com/cic-platform/cic/channels/sms"
	"github.com/cic-platform/cic/channels/social"
	"github.com/cic-platform/cic/channels/twilio"
)

// messagingRoutes registers the SMS, social and fax providers' webhooks.
// Their signature is their authentication: no bearer, no CSRF; each is
// registered only when its channel runs.
func (s *Server) messagingRoutes() {
	if s.cfg.SMS != nil {
		s.app.Post("/webhooks/twilio/:tenant/sms", s.smsWebhook)
		s.app.Post("/webhooks/twilio/:tenant/sms/status", s.smsStatusWebhook)
	}
	if s.cfg.Social != nil {
		s.app.Post("/webhooks/social/:tenant", s.socialWebhook)
	}
	if s.cfg.Fax != nil {
		s.app.Post("/webhooks/fax/:tenant", s.faxWebhook)
	}
}

// faxBodyLimit is a fax webhook's body: the document and its fields.
const faxBodyLimit = fax.MaxDocument + 1<<20

// largeBodyLimit is the largest body a route of cfg takes beyond
// BodyLimit (limitBody holds every other route to its own).
func largeBodyLimit(cfg Config) int {
	if cfg.Fax != nil {
		return faxBodyLimit
	}
	return 0
}

// webhookBodyLimit is the body limit of a webhook route that takes more
// than BodyLimit, or 0.
func (s *Server) webhookBodyLimit(c *fiber.Ctx) int {
	if s.cfg.Fax != nil && c.Method() == fiber.MethodPost && strings.HasPrefix(c.Path(), "/webhooks/fax/") {
		return faxBodyLimit
	}
	return 0
}

var errWebhookSignature = cic.Codef(cic.EFORBIDDEN, "invalid_signature", "The request's signature is missing or wrong.")

// webhookTenant reads the tenant of a webhook's path; a malformed one is
// answered like a wrong signature.
func webhookTenant(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("tenant"))
	if err != nil {
		return uuid.Nil, errWebhookSignature
	}
	return id, nil
}

// webhookError answers a provider with the JSON error body whatever it
// accepts (a provider is not a browser).
func (s *Server) webhookError(c *fiber.Ctx, err error) error {
	st, code, msg := classify(err)
	if errors.Is(err, fax.ErrTooLarge) {
		st = fiber.StatusRequestEntityTooLarge
	}
	if st >= 500 {
		s.log.ErrorContext(c.UserContext(), "webhook failed", "err", err, "path", c.Path(), "request_id", requestIDOf(c))
	} else if st == fiber.StatusForbidden {
		s.log.WarnContext(c.UserContext(), "webhook refused", "code", code, "path", c.Path(), "ip", clientIP(c))
	}
	return c.Status(st).JSON(errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// calledURL is the URL the provider called, as it signed it: our public
// address, the path and the query.
func (s *Server) calledURL(c *fiber.Ctx) string {
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	if base == "" {
		base = c.BaseURL()
	}
	return base + c.OriginalURL()
}

func (s *Server) smsWebhookInput(c *fiber.Ctx) (uuid.UUID, sms.Webhook, error) {
	id, err := webhookTenant(c)
	return id, sms.Webhook{URL: s.calledURL(c), Signature: c.Get(twilio.SignatureHeader), Body: c.Body()}, err
}

// smsWebhook takes an inbound SMS and answers TwiML.
func (s *Server) smsWebhook(c *fiber.Ctx) error {
	tenantID, wh, err := s.smsWebhookInput(c)
	if err != nil {
		return s.webhookError(c, err)
	}
	twiml, err := s.cfg.SMS.Inbound(c.UserContext(), tenantID, wh)
	if err != nil {
		return s.webhookError(c, err)
	}
	c.Set(fiber.HeaderContentType, "text/xml; charset=utf-8")
	return c.Send(twiml)
}

// smsStatusWebhook takes the delivery status of one of our SMS.
func (s *Server) smsStatusWebhook(c *fiber.Ctx) error {
	tenantID, wh, err := s.smsWebhookInput(c)
	if err != nil {
		return s.webhookError(c, err)
	}
	if err := s.cfg.SMS.Status(c.UserContext(), tenantID, wh); err != nil {
		return s.webhookError(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// socialWebhook takes a message from a social platform's connector.
func (s *Server) socialWebhook(c *fiber.Ctx) error {
	tenantID, err := webhookTenant(c)
	if err != nil {
		return s.webhookError(c, err)
	}
	r, err := s.cfg.Social.Inbound(c.UserContext(), tenantID, social.Webhook{Timestamp: c.Get(messaging.TimestampHeader),
		Signature: c.Get(messaging.SignatureHeader), Body: c.Body()})
	if err != nil {
		return s.webhookError(c, err)
	}
	return c.JSON(r)
}

// faxWebhook takes a received fax with its PDF.
func (s *Server) faxWebhook(c *fiber.Ctx) error {
	tenantID, err := webhookTenant(c)
	if err != nil {
		return s.webhookError(c, err)
	}
	r, err := s.cfg.Fax.Inbound(c.UserContext(), tenantID, fax.Webhook{Timestamp: c.Get(messaging.TimestampHeader),
		Signature: c.Get(messaging.SignatureHeader), ContentType: c.Get(fiber.HeaderContentType), Body: c.Body()})
	if err != nil {
		return s.webhookError(c, err)
	}
	return c.JSON(r)
}
