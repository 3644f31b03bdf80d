package web

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

// Callbacks (routing/contacts/callback.go, channels/voice/callback.go):
//
//	POST /api/v1/callbacks {queue_id, to (E.164), name?, not_before?}  API key, or a user
//	     (owner, admin, supervisor, agent) -> 201 the contact (channel voice, direction
//	     outbound, kind callback) with its callback
//	GET  /api/v1/callbacks/{id}                                          API key or user
//	GET  /api/v1/callback-settings?queue_id=                             the retry settings in force
//	PUT  /api/v1/callback-settings {queue_id?, max_attempts, retry_delay_seconds} owners, admins
//	POST /chat/v1/callback {token, to, name?}  the widget's "call me back" (text/plain, like leave)
func (s *Server) callbackRoutes() {
	both, bearer := s.apiKeyOrBearer, s.requireBearer
	s.api.Post("/callbacks", both, s.needVoice, s.apiCreateCallback)
	s.api.Get("/callbacks/:id", both, s.needVoice, s.apiGetCallback)
	s.api.Get("/callback-settings", bearer, s.needVoice, s.apiGetCallbackSettings)
	s.api.Put("/callback-settings", bearer, s.needVoice, s.apiPutCallbackSettings)
	s.app.Post("/chat/v1/callback", s.needVoice, s.chatCallback)
}

// apiKeyOrBearer authenticates an API key (integrators) or a user's token.
func (s *Server) apiKeyOrBearer(c *fiber.Ctx) error {
	scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	if ok && strings.EqualFold(scheme, "Bearer") && tenant.IsAPIKey(strings.TrimSpace(token)) {
		return s.requireAPIKey(c)
	}
	return s.requireBearer(c)
}

// callbackTenant is the caller's tenant: the API key's, or the user's when
// their role may ask for callbacks (those who handle or manage contacts).
func callbackTenant(c *fiber.Ctx) (tenantID uuid.UUID, p *tenant.Principal, err error) {
	if id, err := apiKeyTenant(c); err == nil {
		return id, nil, nil
	}
	pr, err := principalOrErr(c)
	if err != nil {
		return uuid.Nil, nil, err
	}
	return pr.TenantID, &pr, nil
}

var errCallbackRole = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only owners, admins, supervisors and agents ask for callbacks.")

func (s *Server) apiCreateCallback(c *fiber.Ctx) error {
	tenantID, p, err := callbackTenant(c)
	if err != nil {
		return err
	}
	if p != nil && !p.Role.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleSupervisor, cic.RoleAgent) {
		return errCallbackRole
	}
	var in struct {
		QueueID   uuid.UUID  `json:"queue_id"`
		To        string     `json:"to"`
		Name      string     `json:"name"`
		NotBefore *time.Time `json:"not_before"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.QueueID == uuid.Nil {
		return cic.Codef(cic.EINVALID, "invalid_queue_id", "queue_id must be a queue's id.")
	}
	if !contacts.ValidE164(in.To) {
		return cic.Codef(cic.EINVALID, "invalid_phone", "to must be a phone number in E.164 form (+4930123456).")
	}
	var custID *uuid.UUID
	err = s.cfg.Tenants.DB.Tx(c.UserContext(), tenantID, func(tx pgx.Tx) error {
		id, err := customer.ResolveTx(c.UserContext(), tx, tenantID, customer.KindPhone, in.To, "")
		if err == nil {
			custID = &id
		}
		return err
	})
	if err != nil {
		return err
	}
	cb, err := s.cfg.Contacts.CreateCallback(c.UserContext(), tenantID, contacts.CallbackInput{QueueID: in.QueueID, To: in.To,
		Name: in.Name, NotBefore: in.NotBefore, CustomerID: custID})
	if err != nil {
		return err
	}
	c.Location("/api/v1/callbacks/" + cb.ID.String())
	return c.Status(fiber.StatusCreated).JSON(cb)
}

func (s *Server) apiGetCallback(c *fiber.Ctx) error {
	tenantID, p, err := callbackTenant(c)
	if err != nil {
		return err
	}
	id, err := paramID(c, "callback")
	if err != nil {
		return err
	}
	var cb contacts.CallbackContact
	if p != nil {
		cb, err = s.cfg.Contacts.CallbackFor(c.UserContext(), *p, id)
	} else {
		cb, err = s.cfg.Contacts.GetCallback(c.UserContext(), tenantID, id)
	}
	if err != nil {
		return err
	}
	return c.JSON(cb)
}

func (s *Server) apiGetCallbackSettings(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	var q *uuid.UUID
	if v := c.Query("queue_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return cic.Codef(cic.EINVALID, "invalid_queue_id", "queue_id must be a queue's id.")
		}
		q = &id
	}
	set, err := s.cfg.Contacts.CallbackSettingsFor(c.UserContext(), p.TenantID, q)
	if err != nil {
		return err
	}
	return c.JSON(set)
}

func (s *Server) apiPutCallbackSettings(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	var in contacts.CallbackSettings
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	set, err := s.cfg.Contacts.PutCallbackSettings(c.UserContext(), p, in)
	if err != nil {
		return err
	}
	return c.JSON(set)
}

// chatCallback: POST /chat/v1/callback {token, to, name?}: the visitor
// asks to be called back instead of waiting in the chat; to may be
// written as people write numbers (+49 30 123456, 0049...). 201 with the
// callback's to and status.
func (s *Server) chatCallback(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderOrigin)
	var in struct {
		Token string `json:"token"`
		To    string `json:"to"`
		Name  string `json:"name"`
	}
	if err := json.Unmarshal(c.Body(), &in); err != nil || in.Token == "" {
		return cic.Codef(cic.EINVALID, "invalid_json", "Send {\"token\": \"...\", \"to\": \"+49...\"}.")
	}
	origin := c.Get(fiber.HeaderOrigin)
	v, err := s.cfg.Chat.Authenticate(c.UserContext(), in.Token, origin)
	if err != nil {
		return err
	}
	allowOrigin(c, origin)
	to, err := customer.NormalizePhone(in.To)
	if err != nil {
		return err
	}
	cb, err := s.cfg.Chat.CallbackInstead(c.UserContext(), v, to, in.Name)
	if e, ok := cic.AsError(err); ok && e.Code == "invalid_channel" {
		// The queue's name is not the visitor's business.
		return cic.Codef(cic.EINVALID, "callback_unavailable", "A callback is not offered here; please wait for an agent.")
	}
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"contact_id": cb.ID, "to": cb.Callback.To, "status": cb.Callback.Status})
}
