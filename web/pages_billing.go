package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant/seats"
)

type billingView struct {
	Offer        billing.Offer
	CanBuy       bool
	Local        bool
	Off          bool
	Subscription *billing.Subscription
	SeatLimit    int
	Purchases    []billing.Purchase
	Documents    []billing.Document
	Settings     metering.Settings
}

var billingNotices = map[string]string{
	"paid":      "Thank you: the payment went through. The bundle is credited as soon as the payment provider confirms it (usually within seconds).",
	"seats":     "Thank you: the subscription is being set up; the seat limit follows as soon as the payment provider confirms it.",
	"updated":   "The new number of seats was sent to the payment provider; the seat limit follows as soon as it confirms.",
	"cancelled": "The checkout was cancelled; nothing was charged.",
}

// billingViewer is the caller, if their role may see billing (finance
// read-only).
func billingViewer(c *fiber.Ctx) (billingView, error) {
	a, _ := actor(c)
	if !billing.CanView(a.Role) {
		return billingView{}, cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner, admin or finance may see billing.")
	}
	return billingView{CanBuy: a.Role.Manages()}, nil
}

func (s *Server) billingPage(c *fiber.Ctx) error {
	return s.renderBilling(c, pageData{Notice: billingNotices[c.Query("done")]}, nil)
}

func (s *Server) renderBilling(c *fiber.Ctx, d pageData, err error) error {
	v, verr := billingViewer(c)
	if verr != nil {
		return verr
	}
	if s.cfg.Billing == nil {
		return billingOff
	}
	a, _ := actor(c)
	ctx := c.UserContext()
	var lerr error
	if v.Offer, lerr = s.cfg.Billing.OfferFor(ctx, a); lerr != nil {
		return lerr
	}
	v.Local = v.Offer.Mode == billing.ModeLocal
	if v.Off = v.Offer.Mode == billing.ModeOff; v.Off {
		// Nothing to buy: the page says why instead of offering forms
		// that would only answer 503.
		v.CanBuy = false
	}
	if v.Subscription, lerr = s.cfg.Billing.GetSubscription(ctx, a); lerr != nil {
		return lerr
	}
	if v.Purchases, lerr = s.cfg.Billing.ListPurchases(ctx, a, 20); lerr != nil {
		return lerr
	}
	if v.Documents, lerr = s.cfg.Billing.ListDocuments(ctx, a); lerr != nil {
		return lerr
	}
	if v.Settings, lerr = metering.GetSettings(ctx, s.cfg.Tenants.DB, a.TenantID); lerr != nil {
		return lerr
	}
	lerr = s.cfg.Tenants.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) (err error) {
		v.SeatLimit, err = seats.Limit(ctx, tx, a.TenantID, time.Now())
		return err
	})
	if lerr != nil {
		return lerr
	}
	d.Title, d.Data = "Billing", v
	if e, ok := cic.AsError(err); ok && e.Code == billing.ErrNotConfigured.Code {
		return s.renderStatus(c, fiber.StatusServiceUnavailable, "billing", d)
	}
	if err != nil {
		return s.pageError(c, "billing", d, err)
	}
	return s.render(c, "billing", d)
}

// billingBuySubmit starts a purchase and sends the browser to its
// checkout (Stripe's, or the local one).
func (s *Server) billingBuySubmit(c *fiber.Ctx) error {
	a, err := managerOnly(c)
	if err != nil {
		return err
	}
	p, err := s.cfg.Billing.BuyBundle(c.UserContext(), a, c.FormValue("tier"))
	if err != nil {
		return s.renderBilling(c, pageData{}, err)
	}
	return c.Redirect(s.checkoutRedirect(p.CheckoutURL), fiber.StatusSeeOther)
}

// checkoutRedirect keeps the browser on the address it is using for the
// local checkout (PUBLIC_URL may name another, e.g. behind a proxy); a
// Stripe checkout URL is followed as is.
func (s *Server) checkoutRedirect(url string) string {
	if i := strings.Index(url, "/billing/local-checkout/"); i >= 0 && s.cfg.Billing.Mode() == billing.ModeLocal {
		return url[i:]
	}
	return url
}

func (s *Server) billingSeatsSubmit(c *fiber.Ctx) error {
	a, err := managerOnly(c)
	if err != nil {
		return err
	}
	q, err := strconv.Atoi(strings.TrimSpace(c.FormValue("quantity")))
	if err != nil {
		return s.renderBilling(c, pageData{}, cic.Codef(cic.EINVALID, "invalid_quantity", "The number of seats must be a whole number."))
	}
	ch, err := s.cfg.Billing.ChangeSeats(c.UserContext(), a, q, s.selfURL(c))
	if err != nil {
		return s.renderBilling(c, pageData{}, err)
	}
	if ch.CheckoutURL != "" {
		return c.Redirect(s.checkoutRedirect(ch.CheckoutURL), fiber.StatusSeeOther)
	}
	return c.Redirect("/billing?done=updated", fiber.StatusSeeOther)
}

func (s *Server) billingPortalSubmit(c *fiber.Ctx) error {
	a, err := managerOnly(c)
	if err != nil {
		return err
	}
	url, err := s.cfg.Billing.PortalURL(c.UserContext(), a)
	if err != nil {
		return s.renderBilling(c, pageData{}, err)
	}
	return c.Redirect(url, fiber.StatusSeeOther)
}

type localCheckoutView struct {
	Checkout billing.LocalCheckout
	CanPay   bool
}

// localCheckoutPage is the stand-in for Stripe Checkout when the server
// has no Stripe keys.
func (s *Server) localCheckoutPage(c *fiber.Ctx) error {
	v, err := billingViewer(c)
	if err != nil {
		return err
	}
	a, id, err := actorAndID(c, "checkout")
	if err != nil {
		return err
	}
	lc, err := s.cfg.Billing.GetLocalCheckout(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return s.render(c, "local_checkout", pageData{Title: "Local checkout", Data: localCheckoutView{Checkout: lc, CanPay: v.CanBuy && !lc.Paid}})
}

func (s *Server) localCheckoutPaySubmit(c *fiber.Ctx) error {
	a, err := managerOnly(c)
	if err != nil {
		return err
	}
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return cic.Codef(cic.ENOTFOUND, "not_found", "No such checkout.")
	}
	lc, err := s.cfg.Billing.GetLocalCheckout(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	if err := s.cfg.Billing.LocalPay(c.UserContext(), a, id, s.selfURL(c)); err != nil {
		return err
	}
	if lc.Kind == "seats" {
		return c.Redirect("/billing?done=seats", fiber.StatusSeeOther)
	}
	return c.Redirect("/billing?done=paid", fiber.StatusSeeOther)
}
