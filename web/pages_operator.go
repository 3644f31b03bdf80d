package web

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/tenant"
)

type operatorView struct {
	Enabled  bool
	LoggedIn bool
	Catalog  billing.FullCatalog
	Tasks    []failedTask
	Findings []billing.Finding
	Queues   []queueHealth
	Tenants  []tenant.Tenant
}

// pricesText shows a tier's prices as "EUR=49000, USD=53000".
func pricesText(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func init() { pageFuncs["pricesText"] = pricesText }

func (s *Server) operatorPage(c *fiber.Ctx) error {
	return s.renderOperator(c, pageData{Notice: map[string]string{"saved": "Saved; the Stripe sync follows in the background."}[c.Query("done")]}, nil)
}

func (s *Server) renderOperator(c *fiber.Ctx, d pageData, err error) error {
	v := operatorView{Enabled: s.cfg.OperatorToken != "", LoggedIn: s.isOperatorPage(c)}
	if v.LoggedIn && s.cfg.Billing != nil {
		var lerr error
		if v.Catalog, lerr = s.cfg.Billing.ListCatalog(c.UserContext()); lerr != nil {
			return lerr
		}
		if v.Findings, lerr = s.cfg.Billing.ListFindings(c.UserContext(), 50); lerr != nil {
			return lerr
		}
	}
	if v.LoggedIn {
		var lerr error
		if v.Tasks, lerr = s.failedTasks(); lerr != nil {
			d.Error = "The job queue cannot be read now."
		}
		if v.Queues, lerr = s.queueHealth(); lerr != nil {
			d.Error = "The job queue cannot be read now."
		}
		if v.Tenants, lerr = s.cfg.Tenants.DB.ListTenants(c.UserContext(), operatorTenantsPage, nil); lerr != nil {
			return lerr
		}
	}
	d.Title, d.Data = "Platform operator", v
	if err != nil {
		return s.pageError(c, "operator", d, err)
	}
	return s.render(c, "operator", d)
}

func (s *Server) operatorLoginSubmit(c *fiber.Ctx) error {
	if s.cfg.OperatorToken == "" {
		return errOperatorOff
	}
	if !sameSecret(c.FormValue("token"), s.cfg.OperatorToken) {
		return s.renderOperator(c, pageData{}, cic.Codef(cic.EUNAUTHORIZED, "invalid_credentials", "That is not the operator token."))
	}
	s.setCookie(c, cookieOperator, s.operatorSession(), 12*time.Hour)
	return c.Redirect("/operator", fiber.StatusSeeOther)
}

func (s *Server) operatorLogoutSubmit(c *fiber.Ctx) error {
	s.setCookie(c, cookieOperator, "", -time.Hour)
	return c.Redirect("/operator", fiber.StatusSeeOther)
}

// operatorTierSubmit creates or edits a tier from the page's form.
func (s *Server) operatorTierSubmit(c *fiber.Ctx) error {
	if !s.isOperatorPage(c) {
		return c.Redirect("/operator", fiber.StatusSeeOther)
	}
	bad := func(format string, args ...any) error {
		return s.renderOperator(c, pageData{}, cic.Codef(cic.EINVALID, "invalid_tier", format, args...))
	}
	contacts, err := strconv.ParseInt(strings.TrimSpace(c.FormValue("contacts")), 10, 64)
	if err != nil {
		return bad("Contacts must be a whole number.")
	}
	months, err := strconv.Atoi(strings.TrimSpace(c.FormValue("validity_months")))
	if err != nil {
		return bad("Validity must be a whole number of months.")
	}
	prices := map[string]int64{}
	for _, part := range strings.Split(c.FormValue("prices"), ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		cur, amount, ok := strings.Cut(part, "=")
		n, err := strconv.ParseInt(strings.TrimSpace(amount), 10, 64)
		if !ok || err != nil {
			return bad("Prices are CUR=minor units separated by commas, e.g. EUR=49000, USD=53000.")
		}
		prices[strings.ToUpper(strings.TrimSpace(cur))] = n
	}
	_, err = s.cfg.Billing.PutTier(c.UserContext(), billing.CatalogTier{ID: c.FormValue("id"), Name: c.FormValue("name"),
		Contacts: contacts, ValidityMonths: months, Active: c.FormValue("active") != "", Prices: prices})
	if err != nil {
		return s.renderOperator(c, pageData{}, err)
	}
	s.syncCatalogSoon(c)
	return c.Redirect("/operator?done=saved", fiber.StatusSeeOther)
}

func (s *Server) operatorSeatPriceSubmit(c *fiber.Ctx) error {
	if !s.isOperatorPage(c) {
		return c.Redirect("/operator", fiber.StatusSeeOther)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(c.FormValue("price_minor")), 10, 64)
	if err != nil {
		return s.renderOperator(c, pageData{}, cic.Codef(cic.EINVALID, "invalid_price", "The price must be a whole number of minor units."))
	}
	if err := s.cfg.Billing.PutSeatPrice(c.UserContext(), c.FormValue("currency"), n); err != nil {
		return s.renderOperator(c, pageData{}, err)
	}
	s.syncCatalogSoon(c)
	return c.Redirect("/operator?done=saved", fiber.StatusSeeOther)
}
