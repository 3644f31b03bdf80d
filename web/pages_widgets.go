package web

import (
	"slices"
	"strings"
	"unicode"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/routing/setup"
)

// The chat widgets page (/chat-widgets, owners and admins): create a
// widget for a chat queue, copy its snippet into the company's web pages,
// change the sites allowed to carry it, revoke it. The chat service
// checks the role on every call, so other roles get its 403.

var widgetNotices = map[string]string{
	"created": "The chat widget was created: copy its snippet into your pages.",
	"origins": "The allowed sites were saved; they apply from the next chat.",
	"revoked": "The chat widget was revoked: pages carrying its snippet no longer open chats.",
	"rotated": "The widget has a new identity secret: e-mail hashes made with the old one no longer link chats to customers.",
}

type widgetSecret struct {
	WidgetID uuid.UUID
	Name     string
	Secret   string
}

type widgetRow struct {
	widgetView
	Queue   string
	Origins string // one per line, for the edit form
}

type widgetsPageData struct {
	Widgets []widgetRow
	// Secret is a widget's identity secret just created or rotated: shown
	// on this one answer, never again.
	Secret *widgetSecret
	// Queues are the tenant's queues that take chats, for a new widget.
	Queues []setup.Queue
}

func (s *Server) widgetsPage(c *fiber.Ctx) error {
	return s.renderWidgets(c, pageData{Notice: widgetNotices[c.Query("done")]}, nil)
}

// renderWidgets shows the page, with err (a failed form) on top.
func (s *Server) renderWidgets(c *fiber.Ctx, d pageData, err error) error {
	a, _ := actor(c)
	ctx := c.UserContext()
	ws, lerr := s.cfg.Chat.ListWidgets(ctx, a)
	if lerr != nil {
		return lerr
	}
	queues, lerr := s.cfg.Setup.ListQueues(ctx, a)
	if lerr != nil {
		return lerr
	}
	names := map[uuid.UUID]string{}
	var data widgetsPageData
	for _, q := range queues {
		names[q.ID] = q.Name
		if slices.Contains(q.Channels, "chat") {
			data.Queues = append(data.Queues, q)
		}
	}
	for _, w := range ws {
		r := widgetRow{widgetView: s.widgetView(c, w), Queue: "(deleted queue)", Origins: strings.Join(w.AllowedOrigins, "\n")}
		if w.QueueID != nil && names[*w.QueueID] != "" {
			r.Queue = names[*w.QueueID]
		}
		data.Widgets = append(data.Widgets, r)
	}
	if sec, ok := d.Data.(*widgetSecret); ok {
		data.Secret = sec
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	d.Title, d.Data = "Chat widgets", data
	if err != nil {
		return s.pageError(c, "widgets", d, err)
	}
	return s.render(c, "widgets", d)
}

// formOrigins reads an allow-list typed one per line (spaces and commas
// separate too: an origin holds neither).
func formOrigins(c *fiber.Ctx) []string {
	return strings.FieldsFunc(c.FormValue("allowed_origins"), func(r rune) bool { return unicode.IsSpace(r) || r == ',' })
}

func (s *Server) widgetCreateSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	in := chat.WidgetInput{Name: c.FormValue("name"), AllowedOrigins: formOrigins(c), Greeting: c.FormValue("greeting")}
	// An unreadable queue id stays Nil, which the chat service refuses.
	in.QueueID, _ = uuid.Parse(c.FormValue("queue_id"))
	w, err := s.cfg.Chat.CreateWidget(c.UserContext(), a, in)
	if err != nil {
		return s.renderWidgets(c, pageData{Form: formValues(c, "name", "allowed_origins", "greeting", "queue_id")}, err)
	}
	// Not a redirect: the identity secret is shown on this answer only.
	return s.renderWidgets(c, pageData{Notice: widgetNotices["created"], Data: &widgetSecret{WidgetID: w.ID, Name: w.Name, Secret: w.IdentitySecret}}, nil)
}

func (s *Server) widgetRotateSubmit(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "chat widget")
	if err != nil {
		return err
	}
	w, err := s.cfg.Chat.RotateIdentitySecret(c.UserContext(), a, id)
	if err != nil {
		return s.renderWidgets(c, pageData{}, err)
	}
	return s.renderWidgets(c, pageData{Notice: widgetNotices["rotated"], Data: &widgetSecret{WidgetID: w.ID, Name: w.Name, Secret: w.IdentitySecret}}, nil)
}

func (s *Server) widgetOriginsSubmit(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "chat widget")
	if err != nil {
		return err
	}
	if _, err := s.cfg.Chat.SetWidgetOrigins(c.UserContext(), a, id, formOrigins(c)); err != nil {
		return s.renderWidgets(c, pageData{}, err)
	}
	return c.Redirect("/chat-widgets?done=origins#widget-"+id.String(), fiber.StatusSeeOther)
}

func (s *Server) widgetRevokeSubmit(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "chat widget")
	if err != nil {
		return err
	}
	if _, err := s.cfg.Chat.RevokeWidget(c.UserContext(), a, id); err != nil {
		return s.renderWidgets(c, pageData{}, err)
	}
	return c.Redirect("/chat-widgets?done=revoked#widget-"+id.String(), fiber.StatusSeeOther)
}
