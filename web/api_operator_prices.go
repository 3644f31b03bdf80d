package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
)

// Prices are the platform's: the operator sets the catalogue's overage
// rate per currency and, for one tenant, a negotiated overage price. A
// tenant sees its price (and where it comes from) in GET /usage/policy
// and on the usage page; it can never set one.

type overagePriceInput struct {
	PriceMinor int64 `json:"price_minor"`
}

// negotiatedAnswer is a tenant's overage price as the operator sees it.
type negotiatedAnswer struct {
	TenantID           uuid.UUID `json:"tenant_id"`
	OveragePriceMinor  int64     `json:"overage_price_minor"`
	OveragePriceSource string    `json:"overage_price_source"`
	Currency           string    `json:"currency"`
}

func answerNegotiated(c *fiber.Ctx, id uuid.UUID, st metering.Settings) error {
	return c.JSON(negotiatedAnswer{TenantID: id, OveragePriceMinor: st.OveragePriceMinor,
		OveragePriceSource: st.OveragePriceSource, Currency: st.Currency})
}

func operatorTenantID(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, cic.Codef(cic.ENOTFOUND, "not_found", "Tenant not found.")
	}
	return id, nil
}

// apiOperatorPutOveragePrice: PUT /operator/tenants/:id/overage-price
// {price_minor} negotiates the tenant's overage price.
func (s *Server) apiOperatorPutOveragePrice(c *fiber.Ctx) error {
	id, err := operatorTenantID(c)
	if err != nil {
		return err
	}
	var in overagePriceInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	st, err := s.cfg.Billing.SetNegotiatedOverage(c.UserContext(), id, in.PriceMinor, operatorName(c))
	if err != nil {
		return err
	}
	s.auditOperator(c, "tenant.overage_price_negotiated", "tenant", id.String(), map[string]any{"price_minor": in.PriceMinor})
	return answerNegotiated(c, id, st)
}

// apiOperatorDeleteOveragePrice puts the tenant back on the catalogue rate.
func (s *Server) apiOperatorDeleteOveragePrice(c *fiber.Ctx) error {
	id, err := operatorTenantID(c)
	if err != nil {
		return err
	}
	st, err := s.cfg.Billing.ClearNegotiatedOverage(c.UserContext(), id, operatorName(c))
	if err != nil {
		return err
	}
	s.auditOperator(c, "tenant.overage_price_catalogue", "tenant", id.String(), nil)
	return answerNegotiated(c, id, st)
}

// apiOperatorPutCatalogOveragePrice: PUT /operator/catalog/overage-prices/:currency.
func (s *Server) apiOperatorPutCatalogOveragePrice(c *fiber.Ctx) error {
	var in overagePriceInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := s.cfg.Billing.PutOveragePrice(c.UserContext(), c.Params("currency"), in.PriceMinor); err != nil {
		return err
	}
	s.auditOperator(c, "catalog.overage_price_put", "overage_price", strings.ToUpper(c.Params("currency")), map[string]any{"price_minor": in.PriceMinor})
	cat, err := s.cfg.Billing.ListCatalog(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(cat)
}
