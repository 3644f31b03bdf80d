package web

// chatRoutes registers the web chat channel: the widget and its
// endpoints, and the agent side of conversations.
func (s *Server) chatRoutes() {}
