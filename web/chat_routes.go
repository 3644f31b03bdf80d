package web

import (
	"github.com/gofiber/contrib/websocket"

	"github.com/cic-platform/cic/channels/chat"
)

// chatRoutes registers the web chat channel: the widget and its
// endpoints, and the agent side of conversations.
//
// Public, for the widget on third-party pages (CORS answered only for the
// origins on the widget's allow-list):
//
//	GET     /widget.js, /widget.css
//	OPTIONS /chat/v1/sessions?key=cw1...          preflight
//	POST    /chat/v1/sessions?key=cw1...          {visitor_id?, email?, name?} -> 201 {contact_id, token, greeting, state, last_seq}
//	POST    /chat/v1/leave                        {token} (sendBeacon, text/plain) -> 204
//	POST    /chat/v1/survey                       {token, score 1-5} (text/plain) after the chat closed -> 204
//	POST    /chat/v1/message?key=cw1...           {name, email, message, token?} (text/plain) -> 201 {contact_id, state}
//	GET     /chat/v1/ws?token=cv1...&after=<seq>  the visitor's WebSocket
//
// Pages (owners and admins, session and CSRF like the other pages):
//
//	GET  /chat-widgets                       list, snippets, forms
//	POST /chat-widgets                       create {name, queue_id, allowed_origins (one a line), greeting}
//	POST /chat-widgets/{id}/origins          replace the allowed origins
//	POST /chat-widgets/{id}/revoke           revoke
//	POST /chat-widgets/{id}/identity-secret  a new identity secret, shown once
//
// API (bearer; the agent socket also takes the page session):
//
//	GET/POST /api/v1/chat/widgets, DELETE /api/v1/chat/widgets/{id}, PUT /api/v1/chat/widgets/{id}/origins
//	POST /api/v1/chat/widgets/{id}/identity-secret  -> the widget with its new identity_secret (once)
//	GET  /api/v1/contacts/{id}/messages?after=<seq>&limit=
//	POST /api/v1/contacts/{id}/messages {client_id, body}
//	GET  /api/v1/chat/ws                          the agent's WebSocket
func (s *Server) chatRoutes() {
	if s.cfg.Chat == nil {
		s.cfg.Chat = chat.New(s.cfg.Tenants.DB, s.cfg.Contacts, s.cfg.Setup, s.cfg.Redis, s.cfg.RedisPrefix, s.cfg.Logger)
	}
	if s.cfg.Chat.IdentityKey == nil && s.cfg.Tenants.Keys != nil {
		// Derived from the token keys: every replica derives the same.
		s.cfg.Chat.IdentityKey = s.cfg.Tenants.Keys.Derive(chat.IdentityPurpose)
	}
	// Stopping the fan-out ends the open sockets; their visitors
	// reconnect to another replica and resume.
	s.app.Hooks().OnShutdown(func() error {
		s.cfg.Chat.Close()
		return nil
	})
	app, api, bearer := s.app, s.api, s.requireBearer

	app.Get("/widget.js", s.widgetAsset("static/widget.js", "text/javascript; charset=utf-8"))
	app.Get("/widget.css", s.widgetAsset("static/widget.css", "text/css; charset=utf-8"))
	app.Options("/chat/v1/sessions", s.chatPreflight)
	app.Post("/chat/v1/sessions", s.chatStart)
	app.Post("/chat/v1/leave", s.chatLeave)
	app.Post("/chat/v1/survey", s.chatSurvey)
	app.Post("/chat/v1/message", s.chatLeaveMessage)
	app.Get("/chat/v1/ws", s.chatVisitorAuth, websocket.New(s.chatVisitorSocket, wsConfig))

	// The admins' page for the widgets and their snippets.
	csrf, auth := s.csrfMiddleware(), s.pageAuth
	app.Get("/chat-widgets", csrf, auth, s.widgetsPage)
	app.Post("/chat-widgets", csrf, auth, s.widgetCreateSubmit)
	app.Post("/chat-widgets/:id/origins", csrf, auth, s.widgetOriginsSubmit)
	app.Post("/chat-widgets/:id/revoke", csrf, auth, s.widgetRevokeSubmit)
	app.Post("/chat-widgets/:id/identity-secret", csrf, auth, s.widgetRotateSubmit)

	api.Get("/chat/widgets", bearer, s.apiListWidgets)
	api.Post("/chat/widgets", bearer, s.apiCreateWidget)
	api.Delete("/chat/widgets/:id", bearer, s.apiRevokeWidget)
	api.Put("/chat/widgets/:id/origins", bearer, s.apiSetWidgetOrigins)
	api.Post("/chat/widgets/:id/identity-secret", bearer, s.apiRotateWidgetSecret)
	api.Get("/chat/ws", s.chatAgentAuth, websocket.New(s.chatAgentSocket, wsConfig))
	api.Get("/contacts/:id/messages", bearer, s.apiListMessages)
	api.Post("/contacts/:id/messages", bearer, s.apiPostMessage)
}
