package web

// voiceRoutes registers the voice routes (work in progress).
func (s *Server) voiceRoutes() {}
