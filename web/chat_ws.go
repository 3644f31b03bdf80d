package web

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/chat"
	"github.com/cic-platform/cic/tenant"
)

// The chat sockets speak JSON frames.
//
// Visitor (GET /chat/v1/ws?token=&after=), client to server:
//
//	{"type":"send","client_id":"c-1","body":"Hello"}   -> {"type":"ack","client_id":"c-1","message":{seq,...}}
//	{"type":"typing"}
//	{"type":"leave"}                                    ends the chat (abandoned if no agent accepted it)
//	{"type":"ping"}                                     -> {"type":"pong"}
//
// server to client: {"type":"hello","contact_id","state","last_seq","ended"},
// then {"type":"message","message":{seq,id,sender,body,created_at,client_id}} for every message after
// `after`, in seq order, exactly once, then live; {"type":"typing","from":"agent"},
// {"type":"state","state":"accepted|wrap_up|closed|transfer"}, {"type":"ended"},
// {"type":"error","client_id"?,"error":{"code","message"}}.
//
// Agent (GET /api/v1/chat/ws; bearer header, or the page session from
// this site's own pages): the messages of every contact offered or
// assigned to the agent arrive as {"type":"message","contact_id","message"}
// (a conversation first seen from its first message); a supervisor joins
// others with {"type":"join","contact_id","after"}; {"type":"send",
// "contact_id","client_id","body"} -> ack; {"type":"typing","contact_id"};
// the visitor's {"type":"typing"|"left","contact_id"} and state changes.

var wsConfig = websocket.Config{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}

const (
	wsWriteWait = 10 * time.Second
	wsPongWait  = 60 * time.Second
	wsPingEvery = 25 * time.Second
	// A 4,000-character message is at most 24 KB as escaped JSON.
	wsReadLimit = 64 << 10

	localVisitor = "chat_visitor"
	localAfter   = "chat_after"
)

type wsIn struct {
	Type      string `json:"type"`
	ContactID string `json:"contact_id"`
	ClientID  string `json:"client_id"`
	Body      string `json:"body"`
	After     int    `json:"after"`
}

type wsOut struct {
	Type      string        `json:"type"`
	ContactID *uuid.UUID    `json:"contact_id,omitempty"`
	ClientID  string        `json:"client_id,omitempty"`
	Message   *chat.Message `json:"message,omitempty"`
	From      string        `json:"from,omitempty"`
	State     string        `json:"state,omitempty"`
	Duplicate bool          `json:"duplicate,omitempty"`
	Error     *errorDetail  `json:"error,omitempty"`
}

// closeSocket, returned by a frame handler, ends the connection.
var closeSocket = &wsOut{Type: "bye"}

func (s *Server) wsError(clientID string, err error) wsOut {
	st, code, msg := classify(err)
	if st >= 500 && !errors.Is(err, context.Canceled) {
		s.log.Error("chat socket", "err", err)
	}
	return wsOut{Type: "error", ClientID: clientID, Error: &errorDetail{Code: code, Message: msg}}
}

// socketLoop runs one chat connection: a pump turns the feed into frames,
// one writer owns the socket's writes (frames, pings, the periodic tick),
// and the caller's goroutine reads and answers frames. It returns once all
// three are done, so the connection can be released.
func (s *Server) socketLoop(conn *websocket.Conn, feed *chat.Feed, hello any, render func(chat.Event) (any, bool),
	handle func(context.Context, wsIn) any, every time.Duration, tick func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan any, 64)
	out <- hello
	send := func(v any) bool {
		select {
		case out <- v:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer cancel()
		for {
			evs, err := feed.Next(ctx)
			if err != nil {
				return
			}
			for _, ev := range evs {
				if f, ok := render(ev); ok && !send(f) {
					return
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer cancel()
		ping := time.NewTicker(wsPingEvery)
		defer ping.Stop()
		var tickC <-chan time.Time
		if tick != nil && every > 0 {
			t := time.NewTicker(every)
			defer t.Stop()
			tickC = t.C
		}
		for {
			select {
			case <-ctx.Done():
				// Flush what is queued (an ack before a close), then say goodbye.
			drain:
				for {
					select {
					case v := <-out:
						_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
						if conn.WriteJSON(v) != nil {
							break drain
						}
					default:
						break drain
					}
				}
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				_ = conn.Close() // unblocks the reader
				return
			case v := <-out:
				_ = conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
				if err := conn.WriteJSON(v); err != nil {
					return
				}
			case <-ping.C:
				if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteWait)); err != nil {
					return
				}
			case <-tickC:
				tick(ctx)
			}
		}
	}()

	conn.SetReadLimit(wsReadLimit)
	_ = conn.SetReadDeadline(time.Now().Add(wsPongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wsPongWait)) })
	for {
		_, raw, err := conn.ReadMessage()
		if err != nil {
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(wsPongWait))
		var in wsIn
		if err := json.Unmarshal(raw, &in); err != nil {
			if !send(s.wsError("", cic.Codef(cic.EINVALID, "invalid_json", "Frames are JSON objects with a type."))) {
				break
			}
			continue
		}
		if !utf8.Valid(raw) || !textOK(reflect.ValueOf(in), 0) || in.After < 0 || in.After > math.MaxInt32 {
			if !send(s.wsError("", cic.Codef(cic.EINVALID, "invalid_input", "Text must be valid UTF-8 without NUL; after is a message seq."))) {
				break
			}
			continue
		}
		reply := handle(ctx, in)
		if reply == closeSocket {
			break
		}
		if reply != nil && !send(reply) {
			break
		}
	}
	cancel()
	wg.Wait()
	feed.Close()
}

// chatVisitorAuth checks the visitor's token and page origin before the
// upgrade, so a refused socket gets a plain 401/403 with the error body.
func (s *Server) chatVisitorAuth(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.ErrUpgradeRequired
	}
	v, err := s.cfg.Chat.Authenticate(c.UserContext(), c.Query("token"), c.Get(fiber.HeaderOrigin))
	if err != nil {
		return err
	}
	after, err := queryAfter(c.Query("after"))
	if err != nil {
		return err
	}
	c.Locals(localVisitor, v)
	c.Locals(localAfter, after)
	return c.Next()
}

func (s *Server) chatVisitorSocket(conn *websocket.Conn) {
	v, _ := conn.Locals(localVisitor).(chat.Visitor)
	after, _ := conn.Locals(localAfter).(int)
	feed, err := s.cfg.Chat.VisitorFeed(context.Background(), v, after)
	if err != nil {
		_ = conn.WriteJSON(s.wsError("", err))
		return
	}
	hello := fiber.Map{"type": "hello", "contact_id": v.ContactID, "state": v.State, "last_seq": v.LastSeq, "ended": v.Ended}
	// The place in line comes with the hello, then whenever it changes
	// (chat_position.go).
	place, err := s.visitorPlace(context.Background(), v)
	if err != nil {
		s.log.Warn("chat: visitor's place in line", "err", err)
	}
	hello["position"] = place
	render := func(ev chat.Event) (any, bool) {
		switch ev.Type {
		case chat.EventMessage:
			m := ev.Message.ForVisitor()
			return wsOut{Type: "message", Message: &m}, true
		case chat.EventTyping:
			return wsOut{Type: "typing", From: ev.From}, ev.From == chat.SenderAgent
		case chat.EventState:
			return wsOut{Type: "state", State: ev.State}, true
		case chat.EventLeft:
			return wsOut{Type: "ended"}, true
		}
		return nil, false
	}
	left := false
	handle := func(ctx context.Context, in wsIn) any {
		switch in.Type {
		case "send":
			m, dup, err := s.cfg.Chat.VisitorSend(ctx, v, in.ClientID, in.Body)
			if err != nil {
				return s.wsError(in.ClientID, err)
			}
			m = m.ForVisitor()
			return wsOut{Type: "ack", ClientID: in.ClientID, Message: &m, Duplicate: dup}
		case "typing":
			if err := s.cfg.Chat.VisitorTyping(ctx, v); err != nil {
				return s.wsError("", err)
			}
			return nil
		case "leave":
			if err := s.cfg.Chat.Leave(ctx, v); err != nil {
				return s.wsError("", err)
			}
			left = true
			return closeSocket
		case "ping":
			return wsOut{Type: "pong"}
		}
		return s.wsError("", cic.Codef(cic.EINVALID, "invalid_frame", "Unknown frame type %q.", in.Type))
	}
	grace := s.cfg.Chat.LeaveGrace
	every := chatPositionEvery
	if grace > 0 {
		every = min(every, grace/3)
	}
	touched := time.Now()
	tick := func(ctx context.Context) {
		if grace > 0 && time.Since(touched) >= grace/3 {
			touched = time.Now()
			if err := s.cfg.Chat.Touch(ctx, v); err != nil {
				s.log.Warn("chat: touch visitor", "err", err)
			}
		}
		// tick runs on the socket's writer: it may write.
		if p, err := s.visitorPlace(ctx, v); err == nil && !samePlace(p, place) {
			place = p
			_ = conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			_ = conn.WriteJSON(p)
		}
	}
	s.socketLoop(conn, feed, hello, render, handle, every, tick)
	if !left && !v.Ended && grace > 0 {
		// Gone without saying so: unless they come back (on any replica)
		// within the grace period, a chat no agent took is abandoned.
		time.AfterFunc(grace+grace/10, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.cfg.Chat.AbandonIfGone(ctx, v.TenantID, v.ContactID, grace); err != nil {
				s.log.Warn("chat: abandon gone visitor", "err", err)
			}
		})
	}
}

// chatAgentAuth takes a bearer token (API clients) or the page session.
// Browsers send cookies with a WebSocket handshake whatever page opened
// it, so the page session only counts from this site's own origin.
func (s *Server) chatAgentAuth(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.ErrUpgradeRequired
	}
	if c.Get(fiber.HeaderAuthorization) != "" {
		return s.requireBearer(c)
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" || (origin != c.BaseURL() && origin != strings.TrimRight(s.cfg.PublicURL, "/")) {
		return cic.Codef(cic.EFORBIDDEN, "origin_not_allowed", "Open the agent socket from this site's pages, or send a bearer token.")
	}
	p, ok := s.sessionPrincipal(c)
	if !ok {
		return errNoToken
	}
	s.setPrincipal(c, p)
	return c.Next()
}

func (s *Server) chatAgentSocket(conn *websocket.Conn) {
	p, ok := conn.Locals(localPrincipal).(tenant.Principal)
	if !ok {
		_ = conn.WriteJSON(s.wsError("", errNoToken))
		return
	}
	feed, err := s.cfg.Chat.AgentFeed(context.Background(), p)
	if err != nil {
		_ = conn.WriteJSON(s.wsError("", err))
		return
	}
	hello := fiber.Map{"type": "hello", "user_id": p.UserID}
	render := func(ev chat.Event) (any, bool) {
		id := ev.ContactID
		switch ev.Type {
		case chat.EventMessage:
			return wsOut{Type: "message", ContactID: &id, Message: ev.Message}, true
		case chat.EventTyping:
			return wsOut{Type: "typing", ContactID: &id, From: ev.From}, ev.From == chat.SenderVisitor
		case chat.EventState:
			return wsOut{Type: "state", ContactID: &id, State: ev.State}, true
		case chat.EventLeft:
			return wsOut{Type: "left", ContactID: &id}, true
		}
		return nil, false
	}
	handle := func(ctx context.Context, in wsIn) any {
		if in.Type == "ping" {
			return wsOut{Type: "pong"}
		}
		id, err := uuid.Parse(in.ContactID)
		if err != nil {
			return s.wsError(in.ClientID, cic.Codef(cic.ENOTFOUND, "not_found", "No such contact."))
		}
		switch in.Type {
		case "join":
			if err := feed.Join(ctx, p, id, in.After); err != nil {
				return s.wsError("", err)
			}
			return nil
		case "send":
			m, dup, err := s.cfg.Chat.AgentSend(ctx, p, id, in.ClientID, in.Body)
			if err != nil {
				return s.wsError(in.ClientID, err)
			}
			return wsOut{Type: "ack", ContactID: &id, ClientID: in.ClientID, Message: &m, Duplicate: dup}
		case "typing":
			if err := s.cfg.Chat.AgentTyping(ctx, p, id); err != nil {
				return s.wsError("", err)
			}
			return nil
		}
		return s.wsError("", cic.Codef(cic.EINVALID, "invalid_frame", "Unknown frame type %q.", in.Type))
	}
	s.socketLoop(conn, feed, hello, render, handle, 0, nil)
}
