package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
)

// billingOff answers when the server was built without billing (tests of
// other features).
var billingOff = cic.Codef(cic.EUNAVAILABLE, "billing_unavailable", "Billing is not configured on this server.")

func (s *Server) apiCatalog(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	o, err := s.cfg.Billing.OfferFor(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.JSON(o)
}

type purchaseInput struct {
	Tier string `json:"tier"`
}

func (s *Server) apiCreatePurchase(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in purchaseInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	p, err := s.cfg.Billing.BuyBundle(c.UserContext(), a, in.Tier)
	if err != nil {
		return err
	}
	c.Location("/api/v1/purchases/" + p.ID.String())
	return c.Status(fiber.StatusCreated).JSON(p)
}

func (s *Server) apiListPurchases(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, 50, 200)
	if err != nil {
		return err
	}
	ps, err := s.cfg.Billing.ListPurchases(c.UserContext(), a, limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"purchases": ps})
}

func (s *Server) apiGetPurchase(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "purchase")
	if err != nil {
		return err
	}
	p, err := s.cfg.Billing.GetPurchase(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

type seatsInput struct {
	Quantity int `json:"quantity"`
}

// apiChangeSeats answers 201 with the checkout to pay for a first
// subscription, or 202 when the new quantity went to Stripe: the seat
// limit follows once Stripe confirms.
func (s *Server) apiChangeSeats(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in seatsInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ch, err := s.cfg.Billing.ChangeSeats(c.UserContext(), a, in.Quantity, s.selfURL(c))
	if err != nil {
		return err
	}
	if ch.CheckoutURL != "" {
		return c.Status(fiber.StatusCreated).JSON(ch)
	}
	return c.Status(fiber.StatusAccepted).JSON(ch)
}

func (s *Server) apiGetSubscription(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	sub, err := s.cfg.Billing.GetSubscription(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"subscription": sub})
}

func (s *Server) apiListInvoices(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	docs, err := s.cfg.Billing.ListDocuments(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"invoices": docs})
}

func (s *Server) apiPortal(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	url, err := s.cfg.Billing.PortalURL(c.UserContext(), a)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"url": url})
}

// stripeWebhook hands the raw body, untouched, to billing, which checks
// its signature before reading it. Stripe retries anything but a 2xx, so
// a bad signature is a 400 and a failure of ours a 500 (retried later).
func (s *Server) stripeWebhook(c *fiber.Ctx) error {
	body := append([]byte(nil), c.Body()...)
	res, err := s.cfg.Billing.HandleWebhook(c.UserContext(), body, c.Get("Stripe-Signature"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"received": true, "result": res})
}

// selfURL is where the local checkout posts its signed event: the
// configured address of this server, else the address this request came
// in on.
func (s *Server) selfURL(c *fiber.Ctx) string {
	if s.cfg.SelfURL != "" {
		return strings.TrimRight(s.cfg.SelfURL, "/")
	}
	return c.BaseURL()
}

// requireBilling keeps billing routes off when billing is not wired.
func (s *Server) requireBilling(c *fiber.Ctx) error {
	if s.cfg.Billing == nil {
		return billingOff
	}
	return c.Next()
}
