package web

import (
	"encoding/base64"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

// The channel-independent side of every conversation: its messages, the
// agent's reply on the contact's channel, outbound contacts, attachments.
// The same handlers serve the API (bearer) and the desk (session).

// visibleContact is the route's contact, when the caller may see it
// (contacts.Service.Get's rule: agents only theirs); else 404.
func (s *Server) visibleContact(c *fiber.Ctx) (tenant.Principal, contacts.Detail, error) {
	p, id, err := s.contactAction(c)
	if err != nil {
		return p, contacts.Detail{}, err
	}
	d, err := s.cfg.Contacts.Get(c.UserContext(), p, id)
	return p, d, err
}

func (s *Server) apiContactMessages(c *fiber.Ctx) error {
	p, d, err := s.visibleContact(c)
	if err != nil {
		return err
	}
	msgs, err := s.cfg.Conversations.List(c.UserContext(), p.TenantID, d.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"contact": d.Contact, "messages": msgs})
}

type sendInput struct {
	Subject     string `json:"subject"`
	Body        string `json:"body"`
	ClientID    string `json:"client_id"`
	Attachments []struct {
		Filename    string `json:"filename"`
		ContentType string `json:"content_type"`
		Data        string `json:"data"` // base64
	} `json:"attachments"`
}

const maxReplyAttachments = 10

func (in sendInput) attachments() ([]channels.Attachment, error) {
	if len(in.Attachments) > maxReplyAttachments {
		return nil, cic.Codef(cic.EINVALID, "too_many_attachments", "At most %d attachments.", maxReplyAttachments)
	}
	out := make([]channels.Attachment, 0, len(in.Attachments))
	for i, a := range in.Attachments {
		data, err := base64.StdEncoding.DecodeString(a.Data)
		if err != nil {
			return nil, cic.Codef(cic.EINVALID, "invalid_attachment", "Attachment %d is not base64.", i+1)
		}
		if a.Filename == "" || len(a.Filename) > 255 {
			return nil, cic.Codef(cic.EINVALID, "invalid_attachment", "Attachment %d needs a file name (at most 255 characters).", i+1)
		}
		out = append(out, channels.Attachment{Filename: a.Filename, ContentType: a.ContentType, Data: data})
	}
	return out, nil
}

// apiSendMessage is the agent's reply on the contact's channel: an
// e-mail, an SMS, a social message (chat goes through its live socket).
func (s *Server) apiSendMessage(c *fiber.Ctx) error {
	p, id, err := s.contactAction(c)
	if err != nil {
		return err
	}
	var in sendInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Body == "" && len(in.Attachments) == 0 {
		return cic.Codef(cic.EINVALID, "empty_message", "Write a message first.")
	}
	atts, err := in.attachments()
	if err != nil {
		return err
	}
	d, err := s.cfg.Contacts.Get(c.UserContext(), p, id)
	if err != nil {
		return err
	}
	if d.AcceptedAt == nil {
		// The channel's Send refuses it too (contacts.Service.BeforeAnswer);
		// said first, whoever asks.
		return contacts.ErrNotAccepted
	}
	if d.AgentID == nil || (*d.AgentID != p.UserID && !p.Role.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleSupervisor)) {
		return cic.Codef(cic.EFORBIDDEN, "not_yours", "Only the agent handling this contact answers it.")
	}
	if d.State != contacts.StateAccepted && d.State != contacts.StateWrapUp {
		return cic.Codef(cic.ECONFLICT, "invalid_state", "Accept the contact before answering it (it is %s).", d.State)
	}
	if d.Channel == "chat" && s.cfg.Chat != nil {
		m, _, err := s.cfg.Chat.AgentSend(c.UserContext(), p, id, in.ClientID, in.Body)
		if err != nil {
			return err
		}
		return c.Status(fiber.StatusCreated).JSON(m)
	}
	err = s.cfg.Channels.Send(c.UserContext(), d.Channel, channels.Message{TenantID: p.TenantID, ContactID: id, AgentID: &p.UserID,
		Kind: channels.KindReply, Subject: in.Subject, Body: in.Body, Attachments: atts})
	if err != nil {
		return err
	}
	msgs, err := s.cfg.Conversations.List(c.UserContext(), p.TenantID, id)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return c.SendStatus(fiber.StatusAccepted)
	}
	return c.Status(fiber.StatusCreated).JSON(msgs[len(msgs)-1])
}

// apiAttachment downloads a file of a conversation the caller may see.
func (s *Server) apiAttachment(c *fiber.Ctx) error {
	aid, err := uuid.Parse(c.Params("aid"))
	if err != nil {
		return cic.Codef(cic.ENOTFOUND, "not_found", "Attachment not found.")
	}
	p, d, err := s.visibleContact(c)
	if err != nil {
		return err
	}
	a, data, err := s.cfg.Conversations.AttachmentData(c.UserContext(), p.TenantID, d.ID, aid)
	if err != nil {
		return err
	}
	// Never rendered inline: a customer's HTML or SVG must not run in our
	// origin.
	c.Set(fiber.HeaderContentType, a.ContentType)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+safeFilename(a.Filename)+`"`)
	c.Set("Content-Security-Policy", "sandbox")
	return c.Send(data)
}

// safeFilename keeps a file name printable and free of quotes for the
// Content-Disposition header.
func safeFilename(name string) string {
	b := []rune{}
	for _, r := range name {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f || r > 0x7e {
			r = '_'
		}
		b = append(b, r)
	}
	if len(b) == 0 {
		return "attachment"
	}
	return string(b)
}

type outboundInput struct {
	Channel  string `json:"channel"`
	QueueID  string `json:"queue_id"`
	To       string `json:"to"`
	Subject  string `json:"subject"`
	Body     string `json:"body"`
	Campaign string `json:"campaign"`
}

// apiStartOutbound starts an e-mail, SMS, social message or call to a
// customer: a contact the caller handles, metered like any other.
func (s *Server) apiStartOutbound(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	if p.Role == cic.RoleFinance {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Finance does not contact customers.")
	}
	var in outboundInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	queueID, err := uuid.Parse(in.QueueID)
	if err != nil {
		return cic.Codef(cic.EINVALID, "invalid_queue", "Choose the queue the contact is charged to.")
	}
	if in.Channel == "chat" || in.Channel == "fax" {
		return cic.Codef(cic.EINVALID, "invalid_channel", "Outbound contacts are e-mails, SMS, social messages or calls.")
	}
	if len(in.Campaign) > 100 || len(in.Subject) > 500 || len(in.Body) > 100000 {
		return cic.Codef(cic.EINVALID, "too_long", "The campaign, subject or message is too long.")
	}
	if in.Channel != "voice" && in.Body == "" {
		return cic.Codef(cic.EINVALID, "empty_message", "Write the message first.")
	}
	kind := customer.IdentityKind(in.Channel)
	if _, err := customer.Normalize(kind, in.To); err != nil {
		return err
	}
	if cu, found, err := s.cfg.Customers.Find(c.UserContext(), p.TenantID, kind, in.To); err != nil {
		return err
	} else if found {
		if err := customer.OutboundAllowed(cu, in.Channel, in.Campaign); err != nil {
			return err
		}
	}
	ch, err := s.cfg.Channels.Get(in.Channel)
	if err != nil {
		return err
	}
	id, err := ch.Start(c.UserContext(), channels.Outbound{TenantID: p.TenantID, AgentID: p.UserID, QueueID: queueID,
		To: in.To, Subject: in.Subject, Body: in.Body, Campaign: in.Campaign})
	if err != nil {
		return err
	}
	ct, err := s.cfg.Contacts.Get(c.UserContext(), p, id)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(ct.Contact)
}

// customerView is a customer with the timeline of their contacts.
type customerView struct {
	customer.Customer
	Contacts []contacts.Contact `json:"contacts"`
	CSAT     map[string]int     `json:"csat"`
}

func (s *Server) customerView(c *fiber.Ctx, id uuid.UUID) (customerView, error) {
	p, err := principalOrErr(c)
	if err != nil {
		return customerView{}, err
	}
	if p.Role == cic.RoleFinance {
		return customerView{}, cic.Codef(cic.EFORBIDDEN, "forbidden", "Finance does not see customers.")
	}
	cu, err := s.cfg.Customers.Get(c.UserContext(), p.TenantID, id)
	if err != nil {
		return customerView{}, err
	}
	limit, _ := strconv.Atoi(c.Query("limit", "50"))
	cs, err := s.cfg.Contacts.OfCustomer(c.UserContext(), p, cu.ID, limit)
	if err != nil {
		return customerView{}, err
	}
	scores, err := s.cfg.Customers.Scores(c.UserContext(), p.TenantID, cu.ID)
	if err != nil {
		return customerView{}, err
	}
	return customerView{Customer: cu, Contacts: cs, CSAT: scores}, nil
}

func (s *Server) apiGetCustomer(c *fiber.Ctx) error {
	id, err := paramID(c, "customer")
	if err != nil {
		return err
	}
	v, err := s.customerView(c, id)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// apiContactCustomer is the customer of a contact, for the desk.
func (s *Server) apiContactCustomer(c *fiber.Ctx) error {
	_, d, err := s.visibleContact(c)
	if err != nil {
		return err
	}
	if d.CustomerID == nil {
		return c.JSON(fiber.Map{"customer": nil})
	}
	v, err := s.customerView(c, *d.CustomerID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"customer": v})
}

func (s *Server) apiSearchCustomers(c *fiber.Ctx) error {
	p, err := principalOrErr(c)
	if err != nil {
		return err
	}
	if p.Role == cic.RoleFinance {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Finance does not see customers.")
	}
	out, err := s.cfg.Customers.Search(c.UserContext(), p.TenantID, c.Query("q"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"customers": nonNil(out)})
}

func (s *Server) customerActor(c *fiber.Ctx) (cic.Role, uuid.UUID, error) {
	p, err := principalOrErr(c)
	if err != nil {
		return "", uuid.Nil, err
	}
	if p.Role == cic.RoleFinance {
		return "", uuid.Nil, cic.Codef(cic.EFORBIDDEN, "forbidden", "Finance does not change customers.")
	}
	id, err := paramID(c, "customer")
	return p.Role, id, err
}

func (s *Server) apiUpdateCustomer(c *fiber.Ctx) error {
	_, id, err := s.customerActor(c)
	if err != nil {
		return err
	}
	var in customer.Preferences
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	a, _ := actor(c)
	cu, err := s.cfg.Customers.SetPreferences(c.UserContext(), a, id, in)
	if err != nil {
		return err
	}
	return c.JSON(cu)
}

func (s *Server) apiLinkIdentity(c *fiber.Ctx) error {
	_, id, err := s.customerActor(c)
	if err != nil {
		return err
	}
	var in customer.Identity
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	a, _ := actor(c)
	cu, err := s.cfg.Customers.Link(c.UserContext(), a, id, in.Kind, in.Value)
	if err != nil {
		return err
	}
	return c.JSON(cu)
}

// apiMergeCustomer merges the customer in the body into the one in the
// path: two records that turned out to be one person.
func (s *Server) apiMergeCustomer(c *fiber.Ctx) error {
	_, id, err := s.customerActor(c)
	if err != nil {
		return err
	}
	var in struct {
		From string `json:"from"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	from, err := uuid.Parse(in.From)
	if err != nil {
		return cic.Codef(cic.EINVALID, "invalid_customer", "Name the customer to merge by its id.")
	}
	a, _ := actor(c)
	cu, err := s.cfg.Customers.Merge(c.UserContext(), a, id, from)
	if err != nil {
		return err
	}
	return c.JSON(cu)
}
