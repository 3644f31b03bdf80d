package web

import (
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/routing/setup"
)

// The channels page (/channels, owners and admins): which mailboxes,
// phone numbers, social pages and fax numbers lead to which queue, the
// company's accounts at its providers, and the webhook addresses to give
// those providers. The directory checks the role on every change.

var channelNotices = map[string]string{
	"address":  "The address was added: what arrives on it goes to its queue.",
	"removed":  "The address was removed.",
	"provider": "The provider settings were saved.",
}

type addressRow struct {
	ID        uuid.UUID
	Channel   string
	Address   string
	CreatedAt time.Time
	Queue     string
}

type channelsPageData struct {
	Addresses []addressRow
	Queues    []setup.Queue
	Providers map[string]directory.Provider
	Webhooks  map[string]map[string]string
	// MailDomain is where the company's own mailboxes live.
	MailDomain string
}

func (s *Server) channelsPage(c *fiber.Ctx) error {
	return s.renderChannels(c, pageData{Notice: channelNotices[c.Query("done")]}, nil)
}

func (s *Server) renderChannels(c *fiber.Ctx, d pageData, err error) error {
	p, _ := principalOf(c)
	ctx := c.UserContext()
	queues, lerr := s.cfg.Setup.ListQueues(ctx, p.Actor)
	if lerr != nil {
		return lerr
	}
	addrs, lerr := s.cfg.Directory.Addresses(ctx, p.TenantID)
	if lerr != nil {
		return lerr
	}
	provs, lerr := s.cfg.Directory.Providers(ctx, p.TenantID)
	if lerr != nil {
		return lerr
	}
	data := channelsPageData{Queues: queues, Providers: map[string]directory.Provider{}, Webhooks: s.webhookURLs(c, p.TenantID)}
	if s.cfg.InboundDomain != "" {
		data.MailDomain = p.TenantSlug + "." + s.cfg.InboundDomain
	}
	names := map[uuid.UUID]string{}
	for _, q := range queues {
		names[q.ID] = q.Name
	}
	for _, a := range addrs {
		r := addressRow{ID: a.ID, Channel: a.Channel, Address: a.Address, CreatedAt: a.CreatedAt, Queue: "IVR menu"}
		if a.QueueID != nil {
			r.Queue = names[*a.QueueID]
		}
		data.Addresses = append(data.Addresses, r)
	}
	for _, pr := range provs {
		data.Providers[pr.Provider] = pr
	}
	d.Title, d.Data = "Channels", data
	if err != nil {
		return s.pageError(c, "channels", d, err)
	}
	return s.render(c, "channels", d)
}

func (s *Server) channelsAddressSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	in := addressInput{Channel: c.FormValue("channel"), Address: c.FormValue("address"), QueueID: c.FormValue("queue_id")}
	addr, err := in.address()
	if err == nil {
		_, err = s.cfg.Directory.AddAddress(c.UserContext(), a, addr)
	}
	if err != nil {
		return s.renderChannels(c, pageData{Form: formValues(c, "channel", "address", "queue_id")}, err)
	}
	return c.Redirect("/channels?done=address", fiber.StatusSeeOther)
}

func (s *Server) channelsAddressDelete(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "address")
	if err != nil {
		return err
	}
	if err := s.cfg.Directory.RemoveAddress(c.UserContext(), a, id); err != nil {
		return s.renderChannels(c, pageData{}, err)
	}
	return c.Redirect("/channels?done=removed", fiber.StatusSeeOther)
}

func (s *Server) channelsProviderSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	name := c.Params("provider")
	if !slices.Contains([]string{directory.Twilio, directory.Social, directory.Fax}, name) {
		return fiber.ErrNotFound
	}
	p := directory.Provider{Provider: name, AccountID: c.FormValue("account_id"), Secret: c.FormValue("secret"),
		APIBase: c.FormValue("api_base"), From: c.FormValue("from")}
	if err := s.cfg.Directory.SetProvider(c.UserContext(), a, p); err != nil {
		return s.renderChannels(c, pageData{}, err)
	}
	return c.Redirect("/channels?done=provider#provider-"+name, fiber.StatusSeeOther)
}
