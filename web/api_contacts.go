package web

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

// apiSetAgentStatus: PUT /agent/status {status}. Becoming available needs
// a live seat lease in X-Seat-Lease (the pages send the session's).
func (s *Server) apiSetAgentStatus(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	var in struct {
		Status string `json:"status"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	seated := false
	if in.Status == "available" {
		id, err := uuid.Parse(c.Get(headerSeatLease))
		if err != nil {
			return errSeatRequired
		}
		if _, err := s.cfg.Seats.Check(c.UserContext(), p, id); err != nil {
			return err
		}
		seated = true
	}
	if err := s.cfg.Contacts.SetStatus(c.UserContext(), p, in.Status, seated); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"status": in.Status})
}

func (s *Server) apiListContacts(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	f := contacts.Filter{State: c.Query("state")}
	if v := c.Query("queue_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return cic.Codef(cic.EINVALID, "invalid_queue_id", "queue_id must be a queue's id.")
		}
		f.QueueID = &id
	}
	if v := c.Query("before"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return cic.Codef(cic.EINVALID, "invalid_cursor", "before must be a contact id from the previous page.")
		}
		f.Before = &id
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return cic.Codef(cic.EINVALID, "invalid_limit", "limit must be between 1 and 200.")
		}
		f.Limit = n
	}
	list, err := s.cfg.Contacts.List(c.UserContext(), p, f)
	if err != nil {
		return err
	}
	ans := fiber.Map{"contacts": list}
	if f.Limit == 0 {
		f.Limit = 50
	}
	if len(list) == f.Limit {
		ans["next_before"] = list[len(list)-1].ID
	}
	return c.JSON(ans)
}

func (s *Server) contactAction(c *fiber.Ctx) (tenant.Principal, uuid.UUID, error) {
	p, err := principalOrErr(c)
	if err != nil {
		return p, uuid.Nil, err
	}
	id, err := paramID(c, "contact")
	return p, id, err
}

func (s *Server) apiGetContact(c *fiber.Ctx) error {
	p, id, err := s.contactAction(c)
	if err != nil {
		return err
	}
	d, err := s.cfg.Contacts.Get(c.UserContext(), p, id)
	if err != nil {
		return err
	}
	v := contactView{Detail: d}
	if d.State == contacts.StateQueued {
		// Where it stands in line (routing/contacts/position.go).
		pl, err := s.cfg.Contacts.PlaceOf(c.UserContext(), p.TenantID, id)
		if err != nil {
			return err
		}
		if pl.Position > 0 {
			w := pl.WaitSeconds()
			v.QueuePosition, v.EstimatedWait = &pl.Position, &w
		}
	}
	return c.JSON(v)
}

// contactView is a contact with its timeline and, while it is queued,
// its place in line (1 = next) and expected wait; null otherwise.
type contactView struct {
	contacts.Detail
	QueuePosition *int `json:"queue_position"`
	EstimatedWait *int `json:"estimated_wait_seconds"`
}

func (s *Server) apiAcceptContact(c *fiber.Ctx) error {
	p, id, err := s.contactAction(c)
	if err != nil {
		return err
	}
	ct, err := s.cfg.Contacts.Accept(c.UserContext(), p, id)
	if err != nil {
		return err
	}
	return c.JSON(ct)
}

func (s *Server) apiRejectContact(c *fiber.Ctx) error {
	p, id, err := s.contactAction(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Contacts.Reject(c.UserContext(), p, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) apiTransferContact(c *fiber.Ctx) error {
	p, id, err := s.contactAction(c)
	if err != nil {
		return err
	}
	var in contacts.TransferTo
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := s.cfg.Contacts.Transfer(c.UserContext(), p, id, in); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) apiWrapUpContact(c *fiber.Ctx) error {
	p, id, err := s.contactAction(c)
	if err != nil {
		return err
	}
	var in struct {
		Disposition string `json:"disposition"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := s.cfg.Contacts.WrapUp(c.UserContext(), p, id, in.Disposition); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) apiCloseContact(c *fiber.Ctx) error {
	p, id, err := s.contactAction(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Contacts.Close(c.UserContext(), p, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// apiOpenContact: POST /contacts with an API key, for integrators whose
// own systems (a PBX, a mail gateway) bring contacts to route.
func (s *Server) apiOpenContact(c *fiber.Ctx) error {
	tenantID, err := apiKeyTenant(c)
	if err != nil {
		return err
	}
	var in struct {
		QueueID     uuid.UUID `json:"queue_id"`
		Channel     string    `json:"channel"`
		Direction   string    `json:"direction"`
		CustomerRef string    `json:"customer_ref"`
		Campaign    string    `json:"campaign"`
		Priority    int       `json:"priority"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if len(in.CustomerRef) > 200 || len(in.Campaign) > 100 {
		return cic.Codef(cic.EINVALID, "invalid_contact", "customer_ref is at most 200 characters, campaign 100.")
	}
	ct, err := s.cfg.Contacts.Open(c.UserContext(), tenantID, contacts.OpenInput{QueueID: in.QueueID, Channel: in.Channel,
		Direction: in.Direction, CustomerRef: in.CustomerRef, Campaign: in.Campaign, Priority: in.Priority})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(ct)
}
