package web

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/chat"
)

// chatPositionEvery is how often a waiting visitor's socket looks up
// their place in line and sends it when it changed.
var chatPositionEvery = 3 * time.Second

// positionFrame tells the visitor where they stand:
// {"type":"position","queue_position":3,"estimated_wait_seconds":360,
// "open":true,"leave_message":false}; queue_position and the wait are
// null once the chat is no longer waiting (offered, accepted, ended).
// leave_message says the widget should offer the message form: the
// queue is outside its business hours, or the visitor waited past its
// max_wait_seconds.
type positionFrame struct {
	Type         string `json:"type"`
	Position     *int   `json:"queue_position"`
	Wait         *int   `json:"estimated_wait_seconds"`
	Open         bool   `json:"open"`
	LeaveMessage bool   `json:"leave_message"`
}

// visitorPlace is the visitor's position frame now.
func (s *Server) visitorPlace(ctx context.Context, v chat.Visitor) (positionFrame, error) {
	f := positionFrame{Type: "position", Open: true}
	if v.Ended {
		return f, nil
	}
	pl, err := s.cfg.Contacts.PlaceOf(ctx, v.TenantID, v.ContactID)
	if err != nil {
		return f, err
	}
	if pl.Position > 0 {
		w := pl.WaitSeconds()
		f.Position, f.Wait = &pl.Position, &w
		f.Open = pl.Open
		f.LeaveMessage = !pl.Open || pl.MaxWaitPassed
	}
	return f, nil
}

// chatLeaveMessage: POST /chat/v1/message?key=cw1... {name, email,
// message, token?, client_id?} (text/plain, so no preflight) -> 201
// {contact_id, state}: the visitor's message, queued as an e-mail
// contact on the widget's queue and answered by e-mail
// (channels/chat/leave_message.go). A wrong key or origin is 403 with
// nothing stored; bad input 400; a queue that takes no e-mail 409
// messages_unavailable.
func (s *Server) chatLeaveMessage(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderOrigin)
	origin := c.Get(fiber.HeaderOrigin)
	var in chat.MessageInput
	if err := json.Unmarshal(c.Body(), &in); err != nil {
		if _, _, werr := s.cfg.Chat.WidgetFor(c.UserContext(), c.Query("key"), origin); werr != nil {
			return werr
		}
		allowOrigin(c, origin)
		return cic.Codef(cic.EINVALID, "invalid_json", "Send {\"name\", \"email\", \"message\"}.")
	}
	m, err := s.cfg.Chat.LeaveMessage(c.UserContext(), c.Query("key"), origin, clientIP(c), in)
	if err != nil {
		if k := cic.ErrorKind(err); k != cic.EFORBIDDEN && k != cic.EUNAUTHORIZED {
			allowOrigin(c, origin)
		}
		return err
	}
	allowOrigin(c, origin)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(m)
}

func samePlace(a, b positionFrame) bool {
	eq := func(x, y *int) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return eq(a.Position, b.Position) && eq(a.Wait, b.Wait) && a.Open == b.Open && a.LeaveMessage == b.LeaveMessage
}
