package web

import (
	"github.com/cic-platform/cic/channels/voice"
)

// voiceRoutes registers the call channel: the provider's signed webhooks
// under /webhooks/twilio/{tenant}/voice/..., the IVR menu API and page
// for managers, and the call controls of the agent (API and desk).
func (s *Server) voiceRoutes() {
	for _, step := range voice.Steps {
		s.app.Post(voice.WebhookPath(":tenant", step), s.voiceWebhook(step))
	}

	bearer := s.requireBearer
	s.api.Get("/ivr-menus", bearer, s.needVoice, s.apiListMenus)
	s.api.Post("/ivr-menus", bearer, s.needVoice, s.apiCreateMenu)
	s.api.Get("/ivr-menus/:id", bearer, s.needVoice, s.apiGetMenu)
	s.api.Put("/ivr-menus/:id", bearer, s.needVoice, s.apiUpdateMenu)
	s.api.Delete("/ivr-menus/:id", bearer, s.needVoice, s.apiDeleteMenu)
	s.api.Get("/calls/:id", bearer, s.needVoice, s.apiGetCall)
	s.api.Post("/calls/:id/:action", bearer, s.needVoice, s.apiCallAction)

	app := s.app
	csrf := s.csrfMiddleware()
	auth := s.pageAuth
	app.Get("/ivr", csrf, auth, s.needVoice, s.ivrPage)
	app.Post("/ivr/menus", csrf, auth, s.needVoice, s.ivrMenuCreate)
	app.Post("/ivr/menus/:id", csrf, auth, s.needVoice, s.ivrMenuUpdate)
	app.Post("/ivr/menus/:id/delete", csrf, auth, s.needVoice, s.ivrMenuDelete)
	app.Post("/ivr/numbers", csrf, auth, s.needVoice, s.ivrNumberAdd)
	app.Post("/ivr/numbers/:id/delete", csrf, auth, s.needVoice, s.ivrNumberRemove)
	// The editor's live validation and the desk's call buttons call these
	// with the page session and get JSON.
	app.Post("/ivr/validate", csrf, s.sessionJSON, s.needVoice, s.ivrValidate)
	app.Get("/desk/calls/:id", s.sessionJSON, s.needVoice, s.apiGetCall)
	app.Post("/desk/calls/:id/:action", csrf, s.sessionJSON, s.needVoice, s.apiCallAction)
	s.callbackRoutes()
}
