package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/live"
	"github.com/cic-platform/cic/tenant"
)

// sessionJSON authenticates the page scripts' calls by the session
// cookies, answering 401 JSON rather than redirecting when there is no
// session. The seat is held by the page's own heartbeat.
func (s *Server) sessionJSON(c *fiber.Ctx) error {
	p, ok := s.sessionPrincipal(c)
	if !ok {
		return jsonError(c, cic.Codef(cic.EUNAUTHORIZED, "unauthenticated", "Your session has ended; log in again."))
	}
	s.setPrincipal(c, p)
	return c.Next()
}

// streamLifetime ends an event stream now and then, so that no stream
// outlives a deploy for long; the browser's EventSource reconnects after
// a second and the page reads the state again.
const streamLifetime = 5 * time.Minute

// streamKeepAlive is how often an idle stream sends a comment, which is
// also how a closed browser is noticed.
const streamKeepAlive = 10 * time.Second

// liveStream answers a server-sent event stream of the caller's tenant's
// events that keep accepts: "event: change" with the event as data.
//
// The stream is written on the hijacked connection rather than through a
// fasthttp body stream: middleware that reads the response body (the
// access log counts its bytes) would otherwise hold the whole stream back
// until it ends. The connection closes with the stream.
func (s *Server) liveStream(c *fiber.Ctx, hub *live.Subscriber, p tenant.Principal, keep func(live.Event) bool) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	l, err := hub.Listen(ctx, p.TenantID)
	if err != nil {
		s.log.Warn("live events", "tenant", p.TenantID, "err", err)
		return jsonError(c, cic.Codef(cic.EUNAVAILABLE, "live_unavailable", "Live updates are unavailable right now; the page refreshes on its own."))
	}
	// The headers the middleware set (security headers, request id) go
	// out with the stream's own.
	var head strings.Builder
	head.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nX-Accel-Buffering: no\r\nConnection: close\r\n")
	c.Response().Header.VisitAll(func(k, v []byte) {
		switch strings.ToLower(string(k)) {
		case "content-type", "content-length", "cache-control", "connection", "transfer-encoding", "date", "server":
			return
		}
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	})
	head.WriteString("\r\n")
	shutdown := c.Context().Done()
	c.Context().HijackSetNoResponse(true)
	c.Context().Hijack(func(conn net.Conn) {
		defer l.Close()
		w := bufio.NewWriter(conn)
		flush := func() bool {
			_ = conn.SetWriteDeadline(time.Now().Add(streamKeepAlive))
			return w.Flush() == nil
		}
		w.WriteString(head.String())
		// The first message tells the page it is connected (it reads the
		// state then: what changed while it was not).
		w.WriteString("retry: 1000\nevent: hello\ndata: {}\n\n")
		if !flush() {
			return
		}
		tick := time.NewTicker(streamKeepAlive)
		defer tick.Stop()
		end := time.NewTimer(streamLifetime)
		defer end.Stop()
		for {
			select {
			case ev := <-l.C:
				if !keep(ev) {
					continue
				}
				raw, _ := json.Marshal(ev)
				fmt.Fprintf(w, "event: change\ndata: %s\n\n", raw)
			case <-tick.C:
				w.WriteString(": keep-alive\n\n")
			case <-end.C:
				return
			case <-shutdown:
				return
			}
			if !flush() {
				return // the browser went away
			}
		}
	})
	return nil
}
