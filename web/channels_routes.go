package web

// channelsRoutes registers the channels routes (work in progress).
func (s *Server) channelsRoutes() {}
