package web

// deskRoutes registers the agent desktop, the supervisor wallboard, the
// KPI API and the routing admin pages.
func (s *Server) deskRoutes() {}
