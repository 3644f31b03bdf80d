package web

// messagingRoutes registers the messaging routes (work in progress).
func (s *Server) messagingRoutes() {}
