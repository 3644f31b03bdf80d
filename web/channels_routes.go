package web

// channelsRoutes registers what every channel shares: conversations and
// replies, outbound contacts, customers (timeline, preferences, merge),
// and the admin's channel addresses and provider accounts; each on the
// API (bearer) and, for the desk's and the channels page's scripts, with
// the session cookie and CSRF token.
func (s *Server) channelsRoutes() {
	bearer := s.requireBearer
	api := s.api
	// GET/POST /contacts/:id/messages are chat's routes, which hand
	// other channels' contacts to apiContactMessages and apiSendMessage.
	api.Get("/contacts/:id/attachments/:aid", bearer, s.apiAttachment)
	api.Get("/contacts/:id/customer", bearer, s.apiContactCustomer)
	api.Post("/outbound", bearer, s.apiStartOutbound)
	api.Get("/customers", bearer, s.apiSearchCustomers)
	api.Get("/customers/:id", bearer, s.apiGetCustomer)
	api.Patch("/customers/:id", bearer, s.apiUpdateCustomer)
	api.Post("/customers/:id/identities", bearer, s.apiLinkIdentity)
	api.Post("/customers/:id/merge", bearer, s.apiMergeCustomer)
	api.Get("/channel-addresses", bearer, s.apiListAddresses)
	api.Post("/channel-addresses", bearer, s.apiAddAddress)
	api.Delete("/channel-addresses/:id", bearer, s.apiRemoveAddress)
	api.Get("/channel-providers", bearer, s.apiListProviders)
	api.Put("/channel-providers/:provider", bearer, s.apiSetProvider)

	// The desk's scripts: same handlers, session cookie, CSRF on writes.
	// Under /desk/conversations, not /desk/contacts, whose POST
	// /desk/contacts/:id/:action is the desk's own.
	app := s.app
	csrf := s.csrfMiddleware()
	session := s.sessionJSON
	app.Get("/desk/conversations/:id/messages", session, s.apiContactMessages)
	app.Post("/desk/conversations/:id/messages", csrf, session, s.apiSendMessage)
	app.Get("/desk/conversations/:id/attachments/:aid", session, s.apiAttachment)
	app.Get("/desk/conversations/:id/customer", session, s.apiContactCustomer)
	app.Post("/desk/outbound", csrf, session, s.apiStartOutbound)
	app.Get("/desk/customers", session, s.apiSearchCustomers)
	app.Get("/desk/customers/:id", session, s.apiGetCustomer)
	app.Post("/desk/customers/:id", csrf, session, s.apiUpdateCustomer)
	app.Post("/desk/customers/:id/identities", csrf, session, s.apiLinkIdentity)
	app.Post("/desk/customers/:id/merge", csrf, session, s.apiMergeCustomer)

	auth := s.pageAuth
	app.Get("/channels", csrf, auth, s.channelsPage)
	app.Post("/channels/addresses", csrf, auth, s.channelsAddressSubmit)
	app.Post("/channels/addresses/:id/delete", csrf, auth, s.channelsAddressDelete)
	app.Post("/channels/providers/:provider", csrf, auth, s.channelsProviderSubmit)
}
