package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

// workstationOf names this browser's workstation: what the login form
// says, else what it was called before, else a new random name.
func (s *Server) workstationOf(c *fiber.Ctx) string {
	if ws := c.FormValue("workstation"); ws != "" {
		return ws
	}
	if ws := c.Cookies(cookieWorkstation); seats.ValidateWorkstation(ws) == nil {
		return ws
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "Browser " + hex.EncodeToString(b)
}

// takeSeat gives a user who just logged in the seat their role needs.
// It returns the workstation the seat moved from, if it did.
func (s *Server) takeSeat(c *fiber.Ctx, toks tenant.Tokens) (string, error) {
	p, err := s.cfg.Tenants.Authenticate(c.UserContext(), toks.AccessToken)
	if err != nil || !seats.NeedsSeat(p.Role) {
		return "", err
	}
	g, err := s.cfg.Seats.Acquire(c.UserContext(), p, s.workstationOf(c), clientIP(c))
	if err != nil {
		return "", err
	}
	s.rememberSeat(c, g.ID, g.Workstation)
	return g.MovedFrom, nil
}

func (s *Server) rememberSeat(c *fiber.Ctx, leaseID uuid.UUID, ws string) {
	s.setCookie(c, cookieSeat, leaseID.String(), s.cfg.Tenants.RefreshTTL)
	if ws != "" {
		s.setCookie(c, cookieWorkstation, ws, 365*24*time.Hour)
	}
}

// holdSeat renews the seat of a page session whose role needs one (or
// takes one, if the session has none yet).
func (s *Server) holdSeat(c *fiber.Ctx, p tenant.Principal) error {
	if !seats.NeedsSeat(p.Role) {
		return nil
	}
	ctx := c.UserContext()
	ws := c.Cookies(cookieWorkstation)
	id, err := uuid.Parse(c.Cookies(cookieSeat))
	if err != nil {
		g, err := s.cfg.Seats.Acquire(ctx, p, s.workstationOf(c), clientIP(c))
		if err != nil {
			return err
		}
		s.rememberSeat(c, g.ID, g.Workstation)
		return nil
	}
	hb, err := s.cfg.Seats.Heartbeat(ctx, p, id, ws, clientIP(c))
	if err != nil {
		return err
	}
	if hb.Reacquired {
		s.rememberSeat(c, hb.LeaseID, "")
		s.resumeRouting(c, p)
	}
	return nil
}

// seatLost ends a page session whose seat is gone (moved, released,
// none free) and says why on the login page. When the seat service is
// down the session stays: the next page load tries again.
func (s *Server) seatLost(c *fiber.Ctx, err error) error {
	if cic.ErrorKind(err) != cic.ECONFLICT {
		return err
	}
	s.endSeatSession(c, err)
	return c.Redirect("/login", fiber.StatusSeeOther)
}

// endSeatSession logs the browser out and leaves the reason for the
// login page.
func (s *Server) endSeatSession(c *fiber.Ctx, why error) {
	s.endPageSession(c)
	_, _, msg := classify(why)
	s.setCookie(c, cookieFlash, url.QueryEscape(msg), time.Minute)
}

// endPageSession logs the browser out, freeing its seat.
func (s *Server) endPageSession(c *fiber.Ctx) {
	if rt := c.Cookies(cookieRefresh); rt != "" {
		tenantID, userID, err := s.cfg.Tenants.EndSession(c.UserContext(), rt)
		if err != nil {
			s.log.Warn("end session", "err", err)
		}
		lease, _ := uuid.Parse(c.Cookies(cookieSeat))
		if lease != uuid.Nil {
			s.freeSeat(c, tenantID, userID, lease)
		}
	}
	s.clearSession(c)
}

// takeFlash reads and clears the message left for this page.
func (s *Server) takeFlash(c *fiber.Ctx) string {
	raw := c.Cookies(cookieFlash)
	if raw == "" {
		return ""
	}
	s.setCookie(c, cookieFlash, "", -time.Hour)
	msg, err := url.QueryUnescape(raw)
	if err != nil || len(msg) > 500 {
		return ""
	}
	return msg
}

// seatHeartbeat is what the agent pages call every heartbeat_every
// seconds. It answers JSON: 200 while the seat is held; 409 with the
// reason (moved to another workstation, released by an admin) once it is
// not, the session having ended; 503 while the seat service is down.
func (s *Server) seatHeartbeat(c *fiber.Ctx) error {
	p, ok := s.sessionPrincipal(c)
	if !ok {
		return jsonError(c, errNoToken)
	}
	if err := s.holdSeat(c, p); err != nil {
		if cic.ErrorKind(err) == cic.ECONFLICT {
			s.endSeatSession(c, err)
		}
		return jsonError(c, err)
	}
	return c.JSON(fiber.Map{"ok": true, "heartbeat_every": s.heartbeatEvery()})
}

func jsonError(c *fiber.Ctx, err error) error {
	st, code, msg := classify(err)
	if st >= 500 && cic.ErrorKind(err) != cic.EUNAVAILABLE {
		return err
	}
	return c.Status(st).JSON(errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// seatsPageData is the seats page: the pool, its holders and its use.
type seatsPageData struct {
	Overview    seatsAnswer
	Usage       seats.Usage
	Departments []tenant.Department
	CanRelease  bool
	HourlyChart *seatChart
	DailyChart  *seatChart
	Refresh     int
}

var seatNotices = map[string]string{
	"released": "The seat was released; its holder's next heartbeat logs them out.",
	"reserved": "The reservation was saved.",
}

func (s *Server) seatsPage(c *fiber.Ctx) error {
	return s.renderSeats(c, pageData{Notice: seatNotices[c.Query("done")]}, nil)
}

func (s *Server) renderSeats(c *fiber.Ctx, d pageData, err error) error {
	a, _ := actor(c)
	ctx := c.UserContext()
	ov, oerr := s.cfg.Seats.Overview(ctx, a)
	if oerr != nil {
		return oerr
	}
	u, uerr := s.cfg.Seats.Usage(ctx, a)
	if uerr != nil {
		return uerr
	}
	data := seatsPageData{Overview: newSeatsAnswer(ov), Usage: u, CanRelease: a.Role.Manages(),
		HourlyChart: newSeatChart(u.Hourly, "hour"), DailyChart: newSeatChart(u.Daily, "day"), Refresh: 5}
	if a.Role.Manages() {
		ds, lerr := s.cfg.Tenants.ListDepartments(ctx, a)
		if lerr != nil {
			return lerr
		}
		data.Departments = ds
	}
	d.Title, d.Data = "Seats", data
	if err != nil {
		return s.pageError(c, "seats", d, err)
	}
	return s.render(c, "seats", d)
}

// seatsLive is the holders list the seats page polls to stay live.
func (s *Server) seatsLive(c *fiber.Ctx) error {
	a, _ := actor(c)
	ov, err := s.cfg.Seats.Overview(c.UserContext(), a)
	if err != nil {
		return jsonError(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(newSeatsAnswer(ov))
}

func (s *Server) seatReleaseSubmit(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "seat lease")
	if err != nil {
		return err
	}
	if err := s.cfg.Seats.ForceRelease(c.UserContext(), a, id); err != nil {
		return s.renderSeats(c, pageData{}, err)
	}
	return c.Redirect("/seats?done=released", fiber.StatusSeeOther)
}

func (s *Server) seatReserveSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	dept, err := uuid.Parse(c.FormValue("department"))
	if err != nil {
		return s.renderSeats(c, pageData{}, cic.Codef(cic.EINVALID, "invalid_department", "Choose a department."))
	}
	n, err := strconv.Atoi(c.FormValue("seats"))
	if err != nil {
		return s.renderSeats(c, pageData{}, cic.Codef(cic.EINVALID, "invalid_seats", "Reserved seats must be a whole number (0 removes the reservation)."))
	}
	if err := s.cfg.Seats.SetReservation(c.UserContext(), a, dept, n); err != nil {
		return s.renderSeats(c, pageData{}, err)
	}
	return c.Redirect("/seats?done=reserved", fiber.StatusSeeOther)
}
