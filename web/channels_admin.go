package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/directory"
)

// The admin's side of channels: which mailboxes, numbers and pages lead
// to which queue, and the company's accounts at its providers.

type addressInput struct {
	Channel   string `json:"channel"`
	Address   string `json:"address"`
	QueueID   string `json:"queue_id"`
	IVRMenuID string `json:"ivr_menu_id"`
}

func (in addressInput) address() (directory.Address, error) {
	a := directory.Address{Channel: in.Channel, Address: in.Address}
	if in.QueueID != "" {
		id, err := uuid.Parse(in.QueueID)
		if err != nil {
			return a, cic.Codef(cic.EINVALID, "invalid_queue", "No such queue.")
		}
		a.QueueID = &id
	}
	if in.IVRMenuID != "" {
		id, err := uuid.Parse(in.IVRMenuID)
		if err != nil {
			return a, cic.Codef(cic.EINVALID, "invalid_ivr_menu", "No such IVR menu.")
		}
		a.IVRMenuID = &id
	}
	return a, nil
}

func (s *Server) apiListAddresses(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	if !a.Role.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleSupervisor) {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only managers and supervisors see channel addresses.")
	}
	out, err := s.cfg.Directory.Addresses(c.UserContext(), a.TenantID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"addresses": out})
}

func (s *Server) apiAddAddress(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in addressInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	addr, err := in.address()
	if err != nil {
		return err
	}
	out, err := s.cfg.Directory.AddAddress(c.UserContext(), a, addr)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (s *Server) apiRemoveAddress(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "address")
	if err != nil {
		return err
	}
	if err := s.cfg.Directory.RemoveAddress(c.UserContext(), a, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// providerView is a provider account with the webhook addresses to give
// the provider (the secret is never shown back).
type providerView struct {
	directory.Provider
	Webhooks map[string]string `json:"webhooks"`
}

func (s *Server) webhookURLs(c *fiber.Ctx, tenantID uuid.UUID) map[string]map[string]string {
	base := strings.TrimRight(s.publicLink(c, ""), "/") + "/webhooks/"
	t := tenantID.String()
	return map[string]map[string]string{
		directory.Twilio: {"voice": base + "twilio/" + t + "/voice", "voice_status": base + "twilio/" + t + "/voice/status",
			"sms": base + "twilio/" + t + "/sms", "sms_status": base + "twilio/" + t + "/sms/status"},
		directory.Social: {"messages": base + "social/" + t},
		directory.Fax:    {"fax": base + "fax/" + t},
	}
}

func (s *Server) apiListProviders(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	if !a.Role.Manages() {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin sees provider settings.")
	}
	ps, err := s.cfg.Directory.Providers(c.UserContext(), a.TenantID)
	if err != nil {
		return err
	}
	urls := s.webhookURLs(c, a.TenantID)
	out := []providerView{}
	for _, p := range ps {
		out = append(out, providerView{Provider: p, Webhooks: urls[p.Provider]})
	}
	return c.JSON(fiber.Map{"providers": out, "webhooks": urls})
}

func (s *Server) apiSetProvider(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in struct {
		AccountID string `json:"account_id"`
		Secret    string `json:"secret"`
		APIBase   string `json:"api_base"`
		From      string `json:"from"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	p := directory.Provider{Provider: c.Params("provider"), AccountID: in.AccountID, Secret: in.Secret, APIBase: in.APIBase, From: in.From}
	if err := s.cfg.Directory.SetProvider(c.UserContext(), a, p); err != nil {
		return err
	}
	return c.JSON(providerView{Provider: p, Webhooks: s.webhookURLs(c, a.TenantID)[p.Provider]})
}
