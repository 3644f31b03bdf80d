package web

func (s *Server) pageRoutes() {
	app := s.app
	csrf := s.csrfMiddleware()
	auth := s.pageAuth

	app.Get("/", s.rootPage)
	app.Get("/signup", csrf, s.signupPage)
	app.Post("/signup", csrf, s.signupSubmit)
	app.Get("/login", csrf, s.loginPage)
	app.Post("/login", csrf, s.loginSubmit)
	app.Post("/logout", csrf, s.logoutSubmit)
	app.Get("/invite/:token", csrf, s.invitePage)
	app.Post("/invite/:token", csrf, s.inviteSubmit)

	app.Get("/dashboard", csrf, auth, s.dashboardPage)
	app.Get("/users", csrf, auth, s.usersPage)
	app.Post("/users/invite", csrf, auth, s.usersInviteSubmit)
	app.Post("/users/:id", csrf, auth, s.userUpdateSubmit)
	app.Post("/users/:id/deactivate", csrf, auth, s.userDeactivateSubmit)
	app.Get("/departments", csrf, auth, s.departmentsPage)
	app.Post("/departments", csrf, auth, s.departmentCreateSubmit)
	app.Post("/departments/:id", csrf, auth, s.departmentUpdateSubmit)
	app.Post("/departments/:id/delete", csrf, auth, s.departmentDeleteSubmit)
	app.Get("/audit", csrf, auth, s.auditPage)
	app.Get("/usage", csrf, auth, s.usagePage)
	app.Post("/usage/warnings/read", csrf, auth, s.warningsReadSubmit)
	app.Post("/usage/policy", csrf, auth, s.usagePolicySubmit)
	app.Post("/usage/api-keys", csrf, auth, s.usageKeyCreateSubmit)
	app.Post("/usage/api-keys/:id/revoke", csrf, auth, s.usageKeyRevokeSubmit)
	app.Post("/seat/heartbeat", csrf, s.seatHeartbeat)
	app.Get("/seats", csrf, auth, s.seatsPage)
	app.Get("/seats/live", auth, s.seatsLive)
	app.Post("/seats/reservations", csrf, auth, s.seatReserveSubmit)
	app.Post("/seats/:id/release", csrf, auth, s.seatReleaseSubmit)
	bill := s.requireBilling
	app.Get("/billing", csrf, auth, bill, s.billingPage)
	app.Post("/billing/buy", csrf, auth, bill, s.billingBuySubmit)
	app.Post("/billing/seats", csrf, auth, bill, s.billingSeatsSubmit)
	app.Post("/billing/portal", csrf, auth, bill, s.billingPortalSubmit)
	app.Get("/billing/local-checkout/:id", csrf, auth, bill, s.localCheckoutPage)
	app.Post("/billing/local-checkout/:id/pay", csrf, auth, bill, s.localCheckoutPaySubmit)
	app.Get("/operator", csrf, s.operatorPage)
	app.Post("/operator/login", csrf, s.operatorLoginSubmit)
	app.Post("/operator/logout", csrf, s.operatorLogoutSubmit)
	app.Post("/operator/tiers", csrf, bill, s.operatorTierSubmit)
	app.Post("/operator/seat-prices", csrf, bill, s.operatorSeatPriceSubmit)
}
