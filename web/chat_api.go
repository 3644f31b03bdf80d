package web

import (
	"html"
	"math"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/tenant"
)

// widgetView is a widget with the snippet to paste into a page.
type widgetView struct {
	chat.Widget
	Snippet string `json:"snippet"`
}

func (s *Server) widgetView(c *fiber.Ctx, w chat.Widget) widgetView {
	src := s.publicLink(c, "/widget.js")
	return widgetView{Widget: w, Snippet: `<script src="` + html.EscapeString(src) + `" data-key="` + html.EscapeString(w.Key) + `" async></script>`}
}

// apiListWidgets: GET /chat/widgets -> {widgets: [widget + snippet]}.
func (s *Server) apiListWidgets(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	ws, err := s.cfg.Chat.ListWidgets(c.UserContext(), a)
	if err != nil {
		return err
	}
	out := make([]widgetView, 0, len(ws))
	for _, w := range ws {
		out = append(out, s.widgetView(c, w))
	}
	return c.JSON(fiber.Map{"widgets": out})
}

// apiCreateWidget: POST /chat/widgets {name, queue_id, allowed_origins,
// greeting} -> 201 widget + snippet.
func (s *Server) apiCreateWidget(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in chat.WidgetInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	w, err := s.cfg.Chat.CreateWidget(c.UserContext(), a, in)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store") // the identity secret, once
	return c.Status(fiber.StatusCreated).JSON(s.widgetView(c, w))
}

// apiRevokeWidget: DELETE /chat/widgets/{id} -> the revoked widget.
func (s *Server) apiRevokeWidget(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "chat widget")
	if err != nil {
		return err
	}
	w, err := s.cfg.Chat.RevokeWidget(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(s.widgetView(c, w))
}

// apiSetWidgetOrigins: PUT /chat/widgets/{id}/origins {allowed_origins}
// -> the widget; the sites removed lose their open chats at the next
// reconnect.
func (s *Server) apiSetWidgetOrigins(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "chat widget")
	if err != nil {
		return err
	}
	var in struct {
		AllowedOrigins []string `json:"allowed_origins"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	w, err := s.cfg.Chat.SetWidgetOrigins(c.UserContext(), a, id, in.AllowedOrigins)
	if err != nil {
		return err
	}
	return c.JSON(s.widgetView(c, w))
}

// apiRotateWidgetSecret: POST /chat/widgets/{id}/identity-secret -> the
// widget with its new identity_secret, shown this once; e-mail hashes
// made with the old secret no longer link chats to customers.
func (s *Server) apiRotateWidgetSecret(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "chat widget")
	if err != nil {
		return err
	}
	w, err := s.cfg.Chat.RotateIdentitySecret(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(s.widgetView(c, w))
}

// queryAfter reads ?after=<seq>.
func queryAfter(raw string) (int, error) {
	if raw == "" {
		return 0, nil
	}
	// A seq is a PostgreSQL integer: beyond its range is no message.
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0, cic.Codef(cic.EINVALID, "invalid_after", "after is the seq of the last message you have (0 for all).")
	}
	return n, nil
}

// apiListMessages: GET /contacts/{id}/messages?after=&limit= ->
// {messages, last_seq, next_after?}. Agents see only their contacts.
func (s *Server) apiListMessages(c *fiber.Ctx) error {
	p, id, err := s.contactAction(c)
	if err != nil {
		return err
	}
	if other, err := s.otherChannel(c, p, id); err != nil || other {
		if err != nil {
			return err
		}
		return s.apiContactMessages(c)
	}
	after, err := queryAfter(c.Query("after"))
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, 500, 500)
	if err != nil {
		return err
	}
	ms, err := s.cfg.Chat.AgentMessages(c.UserContext(), p, id, after, limit)
	if err != nil {
		return err
	}
	ans := fiber.Map{"messages": ms, "last_seq": after}
	if len(ms) > 0 {
		ans["last_seq"] = ms[len(ms)-1].Seq
	}
	if len(ms) == limit {
		ans["next_after"] = ms[len(ms)-1].Seq
	}
	return c.JSON(ans)
}

// apiPostMessage: POST /contacts/{id}/messages {client_id, body} -> 201
// the message, or 200 the stored one when client_id was sent before.
func (s *Server) apiPostMessage(c *fiber.Ctx) error {
	p, id, err := s.contactAction(c)
	if err != nil {
		return err
	}
	if other, err := s.otherChannel(c, p, id); err != nil || other {
		if err != nil {
			return err
		}
		return s.apiSendMessage(c)
	}
	var in struct {
		ClientID string `json:"client_id"`
		Body     string `json:"body"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	m, dup, err := s.cfg.Chat.AgentSend(c.UserContext(), p, id, in.ClientID, in.Body)
	if err != nil {
		return err
	}
	if dup {
		return c.JSON(m)
	}
	return c.Status(fiber.StatusCreated).JSON(m)
}

// otherChannel says the contact is not a chat: its messages are the
// conversation of its own channel (e-mail, SMS...), channels_api.go. A
// contact the caller may not see is a 404 before anything else.
func (s *Server) otherChannel(c *fiber.Ctx, p tenant.Principal, id uuid.UUID) (bool, error) {
	d, err := s.cfg.Contacts.Get(c.UserContext(), p, id)
	return err == nil && d.Channel != "chat", err
}
