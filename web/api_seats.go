package web

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

// headerSeatLease carries the caller's lease id on routes that need a seat.
const headerSeatLease = "X-Seat-Lease"

const localLease = "seat_lease"

var errSeatRequired = cic.Codef(cic.EFORBIDDEN, "seat_required",
	"Only an agent at a seat may do this: take one with POST /api/v1/seats/lease and send its lease_id in the X-Seat-Lease header.")

type leaseAnswer struct {
	LeaseID        uuid.UUID `json:"lease_id"`
	Token          int64     `json:"token"`
	ExpiresAt      time.Time `json:"expires_at"`
	HeartbeatEvery int       `json:"heartbeat_every"` // seconds
	Workstation    string    `json:"workstation,omitempty"`
	MovedFrom      string    `json:"moved_from,omitempty"`
	Reacquired     bool      `json:"reacquired,omitempty"`
}

func (s *Server) heartbeatEvery() int { return int(s.cfg.Seats.Leases.HeartbeatEvery() / time.Second) }

func principalOrErr(c *fiber.Ctx) (tenant.Principal, error) {
	p, ok := principalOf(c)
	if !ok {
		return tenant.Principal{}, errNoToken
	}
	return p, nil
}

func (s *Server) apiAcquireSeat(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	var in struct {
		Workstation string `json:"workstation"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	g, err := s.cfg.Seats.Acquire(c.UserContext(), p, in.Workstation, clientIP(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(leaseAnswer{LeaseID: g.ID, Token: g.Token, ExpiresAt: g.ExpiresAt,
		HeartbeatEvery: s.heartbeatEvery(), Workstation: g.Workstation, MovedFrom: g.MovedFrom})
}

type leaseRef struct {
	LeaseID     string `json:"lease_id"`
	Workstation string `json:"workstation"`
}

// leaseID reads the lease id from the body, the query or the X-Seat-Lease
// header; required says whether it may be absent.
func leaseIDOf(c *fiber.Ctx, in leaseRef, required bool) (uuid.UUID, error) {
	raw := in.LeaseID
	if raw == "" {
		raw = c.Query("lease_id")
	}
	if raw == "" {
		raw = c.Get(headerSeatLease)
	}
	if raw == "" && !required {
		return uuid.Nil, nil
	}
	id, err := uuid.Parse(strings.TrimSpace(raw))
	if err != nil || id == uuid.Nil {
		return uuid.Nil, cic.Codef(cic.EINVALID, "invalid_lease_id", "Send the lease_id that POST /api/v1/seats/lease returned.")
	}
	return id, nil
}

// leaseRequest reads the caller and the lease a heartbeat or release
// names; the body is optional (DELETE may send none).
func leaseRequest(c *fiber.Ctx, required bool) (tenant.Principal, leaseRef, uuid.UUID, error) {
	var in leaseRef
	p, err := principalOrErr(c)
	if err != nil {
		return p, in, uuid.Nil, err
	}
	if len(c.Body()) > 0 {
		if err := decodeJSON(c, &in); err != nil {
			return p, in, uuid.Nil, err
		}
	}
	id, err := leaseIDOf(c, in, required)
	return p, in, id, err
}

func (s *Server) apiSeatHeartbeat(c *fiber.Ctx) error {
	p, in, id, err := leaseRequest(c, true)
	if err != nil {
		return err
	}
	hb, err := s.cfg.Seats.Heartbeat(c.UserContext(), p, id, in.Workstation, clientIP(c))
	if err != nil {
		return err
	}
	if hb.Reacquired {
		s.resumeRouting(c, p)
	}
	return c.JSON(leaseAnswer{LeaseID: hb.LeaseID, Token: hb.Token, ExpiresAt: hb.ExpiresAt,
		HeartbeatEvery: s.heartbeatEvery(), Reacquired: hb.Reacquired})
}

func (s *Server) apiReleaseSeat(c *fiber.Ctx) error {
	p, _, id, err := leaseRequest(c, false)
	if err != nil {
		return err
	}
	if err := s.cfg.Seats.Release(c.UserContext(), p, id); err != nil {
		return err
	}
	s.leaveRouting(c, p.TenantID, p.UserID)
	return c.SendStatus(fiber.StatusNoContent)
}

// requireSeat guards routes only an agent at a seat may use: the caller
// sends a live lease in X-Seat-Lease; using it renews it.
func (s *Server) requireSeat(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	raw := c.Get(headerSeatLease)
	if raw == "" {
		return errSeatRequired
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return errSeatRequired
	}
	r, err := s.cfg.Seats.Check(c.UserContext(), p, id)
	if err != nil {
		return err
	}
	c.Locals(localLease, leaseAnswer{LeaseID: id, Token: r.Token, ExpiresAt: r.ExpiresAt, HeartbeatEvery: s.heartbeatEvery()})
	return c.Next()
}

func (s *Server) apiCurrentSeat(c *fiber.Ctx) error {
	return c.JSON(c.Locals(localLease))
}

type holderJSON struct {
	LeaseID       uuid.UUID  `json:"lease_id"`
	UserID        uuid.UUID  `json:"user_id"`
	Name          string     `json:"name"`
	Email         string     `json:"email"`
	DepartmentID  *uuid.UUID `json:"department_id"`
	Department    string     `json:"department"`
	Workstation   string     `json:"workstation"`
	IP            string     `json:"ip"`
	Since         time.Time  `json:"since"`
	LastHeartbeat time.Time  `json:"last_heartbeat"`
	ExpiresAt     time.Time  `json:"expires_at"`
}

type seatsAnswer struct {
	Limit        int                    `json:"limit"`
	InUse        int                    `json:"in_use"`
	Reservations []seats.ReservationUse `json:"reservations"`
	Holders      []holderJSON           `json:"holders"`
}

func newSeatsAnswer(ov seats.Overview) seatsAnswer {
	a := seatsAnswer{Limit: ov.Limit, InUse: len(ov.Holders), Reservations: ov.Reservations, Holders: []holderJSON{}}
	if a.Reservations == nil {
		a.Reservations = []seats.ReservationUse{}
	}
	for _, h := range ov.Holders {
		a.Holders = append(a.Holders, holderJSON{LeaseID: h.ID, UserID: h.UserID, Name: h.UserName, Email: h.UserEmail,
			DepartmentID: h.DepartmentID, Department: h.Department, Workstation: h.Workstation, IP: h.IP,
			Since: h.Since, LastHeartbeat: h.Heartbeat, ExpiresAt: h.ExpiresAt})
	}
	return a
}

func (s *Server) apiListSeats(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	ov, err := s.cfg.Seats.Overview(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.JSON(newSeatsAnswer(ov))
}

func (s *Server) apiForceReleaseSeat(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "seat lease")
	if err != nil {
		return err
	}
	if err := s.cfg.Seats.ForceRelease(c.UserContext(), a, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) apiSetReservation(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "department")
	if err != nil {
		return err
	}
	var in struct {
		Seats *int `json:"seats"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Seats == nil {
		return cic.Codef(cic.EINVALID, "invalid_seats", "Send {\"seats\": n}; 0 removes the reservation.")
	}
	if err := s.cfg.Seats.SetReservation(c.UserContext(), a, id, *in.Seats); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"department_id": id, "seats": *in.Seats})
}

func (s *Server) apiSeatUsage(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	u, err := s.cfg.Seats.Usage(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

// freeSeat releases the seat a user holds (leaseID uuid.Nil: any) when
// their session ends. The logout stands even if this fails: the lease
// then runs out by itself within its TTL.
func (s *Server) freeSeat(c *fiber.Ctx, tenantID, userID, leaseID uuid.UUID) {
	if userID == uuid.Nil {
		return
	}
	p := tenant.Principal{Actor: tenant.Actor{TenantID: tenantID, UserID: userID}}
	if err := s.cfg.Seats.Release(c.UserContext(), p, leaseID); err != nil && cic.ErrorKind(err) != cic.ECONFLICT {
		s.log.Warn("free seat at logout", "tenant", tenantID, "user", userID, "err", err)
	}
	s.leaveRouting(c, tenantID, userID)
}

// leaveRouting takes a user who no longer holds a seat out of routing at
// once (the routing ticker would within seconds), so what was only
// offered to them goes to others.
func (s *Server) leaveRouting(c *fiber.Ctx, tenantID, userID uuid.UUID) {
	if err := s.cfg.Contacts.GoOffline(c.UserContext(), tenantID, userID); err != nil {
		s.log.Warn("leave routing", "tenant", tenantID, "user", userID, "err", err)
	}
}

// resumeRouting puts an agent whose seat Redis had lost (the heartbeat
// took it again) back into routing with their recorded status; the
// heartbeat answers either way.
func (s *Server) resumeRouting(c *fiber.Ctx, p tenant.Principal) {
	if s.cfg.Contacts == nil {
		return
	}
	if err := s.cfg.Contacts.Resume(c.UserContext(), p); err != nil {
		s.log.Warn("resume routing", "tenant", p.TenantID, "user", p.UserID, "err", err)
	}
}
