package web

import (
	"encoding/json"
	"io/fs"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/chat"
)

// widgetAsset serves the widget's script or style sheet to any page: it
// is public, loaded cross-origin by <script src> and <link>, so it may be
// read from anywhere (CORS *, CORP cross-origin) and cached a little.
func (s *Server) widgetAsset(name, contentType string) fiber.Handler {
	body, err := fs.ReadFile(staticFS, name)
	return func(c *fiber.Ctx) error {
		if err != nil {
			return fiber.ErrNotFound
		}
		c.Set(fiber.HeaderContentType, contentType)
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
		c.Set("Cross-Origin-Resource-Policy", "cross-origin")
		return c.Send(body)
	}
}

// allowOrigin lets the page at origin read this answer. It is only ever
// called for an origin on the widget's allow-list.
func allowOrigin(c *fiber.Ctx, origin string) {
	c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
	c.Set("Cross-Origin-Resource-Policy", "cross-origin")
}

// chatPreflight answers the browser's CORS preflight of the start call:
// only for a live key and an origin on its allow-list; anything else gets
// a 403 without CORS headers, so the browser stops there.
func (s *Server) chatPreflight(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderOrigin)
	origin := c.Get(fiber.HeaderOrigin)
	if _, _, err := s.cfg.Chat.WidgetFor(c.UserContext(), c.Query("key"), origin); err != nil {
		return err
	}
	allowOrigin(c, origin)
	c.Set(fiber.HeaderAccessControlAllowMethods, "POST")
	c.Set(fiber.HeaderAccessControlAllowHeaders, "Content-Type")
	c.Set(fiber.HeaderAccessControlMaxAge, "600")
	return c.SendStatus(fiber.StatusNoContent)
}

// chatStart: POST /chat/v1/sessions?key= {visitor_id?} -> 201 {contact_id,
// token, greeting, state, last_seq}. A wrong or revoked key or an origin
// off the list is 403 (and no contact is made); a tenant out of contacts
// with the block policy is 503 service_unavailable, a closed queue 409
// queue_closed, each with the message for the visitor, readable by the
// page.
func (s *Server) chatStart(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderOrigin)
	origin := c.Get(fiber.HeaderOrigin)
	var in chat.StartInput
	if len(c.Body()) > 0 {
		if err := decodeJSON(c, &in); err != nil {
			// Only a live key and allowed origin learn what was wrong.
			if _, _, werr := s.cfg.Chat.WidgetFor(c.UserContext(), c.Query("key"), origin); werr != nil {
				return werr
			}
			allowOrigin(c, origin)
			return err
		}
	}
	st, err := s.cfg.Chat.Start(c.UserContext(), c.Query("key"), origin, clientIP(c), in)
	if err != nil {
		if cic.ErrorKind(err) != cic.EFORBIDDEN {
			allowOrigin(c, origin)
		}
		return err
	}
	allowOrigin(c, origin)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(st)
}

// chatLeave: POST /chat/v1/leave {token}: the visitor closed the chat or
// the page (navigator.sendBeacon, which sends text/plain without a
// preflight). Before an agent accepted, the contact is abandoned.
func (s *Server) chatLeave(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderOrigin)
	var in struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(c.Body(), &in); err != nil || in.Token == "" {
		return cic.Codef(cic.EINVALID, "invalid_json", "Send {\"token\": \"...\"}.")
	}
	origin := c.Get(fiber.HeaderOrigin)
	v, err := s.cfg.Chat.Authenticate(c.UserContext(), in.Token, origin)
	if err != nil {
		return err
	}
	allowOrigin(c, origin)
	if err := s.cfg.Chat.Leave(c.UserContext(), v); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// chatSurvey: POST /chat/v1/survey {token, score}: the visitor's answer
// to the satisfaction question after the chat closed (text/plain, like
// leave, so the widget needs no preflight).
func (s *Server) chatSurvey(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderOrigin)
	var in struct {
		Token string `json:"token"`
		Score int    `json:"score"`
	}
	if err := json.Unmarshal(c.Body(), &in); err != nil || in.Token == "" {
		return cic.Codef(cic.EINVALID, "invalid_json", "Send {\"token\": \"...\", \"score\": 1 to 5}.")
	}
	origin := c.Get(fiber.HeaderOrigin)
	v, err := s.cfg.Chat.Authenticate(c.UserContext(), in.Token, origin)
	if err != nil {
		return err
	}
	allowOrigin(c, origin)
	if err := s.cfg.Chat.AnswerSurvey(c.UserContext(), v, in.Score); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
