package web

import (
	"github.com/cic-platform/cic/routing/live"
)

// deskRoutes registers the agent desktop, the supervisor wallboard, the
// KPI API and page, and the routing admin pages.
//
// The desk and the wallboard are live: contacts.Service.Notify publishes
// every routing change on the tenant's channel (package live), and this
// process's one Subscriber pushes them to the open pages as server-sent
// events (GET /desk/events, /wallboard/events). The pages read the state
// again on each event, and on a timer, as pub/sub may drop a message.
func (s *Server) deskRoutes() {
	hub := live.NewSubscriber(s.cfg.Redis, s.cfg.RedisPrefix)
	s.app.Hooks().OnShutdown(hub.Close)

	bearer := s.requireBearer
	s.api.Get("/wallboard", bearer, s.apiWallboard)
	s.api.Get("/kpis", bearer, s.apiKPIs)

	app := s.app
	csrf := s.csrfMiddleware()
	auth := s.pageAuth
	// The desk's and the wallboard's scripts call these with the session
	// cookie and get JSON (never a redirect to the login page).
	session := s.sessionJSON

	app.Get("/desk", csrf, auth, s.deskPage)
	app.Get("/desk/state", session, s.deskState)
	app.Get("/desk/events", session, s.deskEvents(hub))
	app.Post("/desk/status", csrf, session, s.deskStatusSubmit)
	app.Post("/desk/contacts/:id/:action", csrf, session, s.deskActionSubmit)

	app.Get("/wallboard", csrf, auth, s.wallboardPage)
	app.Get("/wallboard/live", session, s.wallboardLive)
	app.Get("/wallboard/chart", session, s.wallboardChart)
	app.Get("/wallboard/events", session, s.wallboardEvents(hub))
	app.Get("/kpis", csrf, auth, s.kpisPage)

	app.Get("/routing", csrf, auth, s.routingPage)
	app.Post("/routing/skills", csrf, auth, s.routingSkillCreate)
	app.Post("/routing/skills/:id/delete", csrf, auth, s.routingSkillDelete)
	app.Post("/routing/queues", csrf, auth, s.routingQueueCreate)
	app.Post("/routing/queues/:id", csrf, auth, s.routingQueueUpdate)
	app.Post("/routing/calendars", csrf, auth, s.routingCalendarCreate)
	app.Post("/routing/calendars/:id", csrf, auth, s.routingCalendarUpdate)
	app.Post("/routing/calendars/:id/delete", csrf, auth, s.routingCalendarDelete)
	app.Post("/routing/agents/:id", csrf, auth, s.routingProfileSubmit)
	app.Post("/routing/dispositions", csrf, auth, s.routingDispositionSubmit)
	app.Post("/routing/dispositions/:code/delete", csrf, auth, s.routingDispositionDelete)
}
