package web

import (
	"fmt"
	"html/template"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/tenant"
)

type operatorView struct {
	LoggedIn bool
	Operator tenant.Operator
	Lang     string
	T        map[string]string
	Audit    []tenant.OperatorAuditEntry
	Catalog  billing.FullCatalog
	Tasks    []failedTask
	Findings []billing.Finding
	Queues   []queueHealth
	Tenants  []tenant.Tenant
	// Negotiated is the negotiated overage price of the listed tenants
	// that have one.
	Negotiated map[uuid.UUID]int64
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
	d := pageData{}
	if c.Query("done") == "saved" {
		d.Notice = operatorText[pageLang(c)]["saved"]
	}
	return s.renderOperator(c, d, nil)
}

func (s *Server) renderOperator(c *fiber.Ctx, d pageData, err error) error {
	lang := pageLang(c)
	v := operatorView{LoggedIn: s.isOperatorPage(c), Lang: lang, T: operatorText[lang]}
	v.Operator, _ = operatorOf(c)
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
		if s.cfg.Billing != nil {
			ids := make([]uuid.UUID, len(v.Tenants))
			for i, t := range v.Tenants {
				ids[i] = t.ID
			}
			if v.Negotiated, lerr = s.cfg.Billing.NegotiatedOverages(c.UserContext(), ids); lerr != nil {
				return lerr
			}
		}
		if v.Audit, lerr = s.operators.ListAudit(c.UserContext(), 0, 20); lerr != nil {
			return lerr
		}
	}
	d.Title, d.Data, d.Lang = v.T["title"], v, lang
	if err != nil {
		st, _, _ := classify(err)
		if st >= 500 {
			return err
		}
		d.Error = operatorError(lang, err)
		return s.renderStatus(c, st, "operator", d)
	}
	return s.render(c, "operator", d)
}

// operatorLoginSubmit logs an operator in on the console: with e-mail,
// password and code into the console; with the one-time password into
// the enrollment.
func (s *Server) operatorLoginSubmit(c *fiber.Ctx) error {
	in := tenant.OperatorLogin{Email: c.FormValue("email"), Password: c.FormValue("password"), Code: c.FormValue("code")}
	sess, err := s.operators.Login(c.UserContext(), in, tenant.OperatorPage, true, clientMeta(c))
	if err != nil {
		return s.renderOperator(c, pageData{Form: map[string]string{"email": in.Email}}, err)
	}
	if sess.Kind == tenant.OperatorEnroll {
		s.setCookie(c, cookieOperatorEnroll, sess.Token, time.Until(sess.ExpiresAt))
		return c.Redirect("/operator/enroll", fiber.StatusSeeOther)
	}
	s.setCookie(c, cookieOperator, sess.Token, time.Until(sess.ExpiresAt))
	s.newCSRFSeed(c)
	return c.Redirect("/operator", fiber.StatusSeeOther)
}

func (s *Server) operatorLogoutSubmit(c *fiber.Ctx) error {
	if err := s.operators.Logout(c.UserContext(), c.Cookies(cookieOperator)); err != nil {
		return err
	}
	s.setCookie(c, cookieOperator, "", -time.Hour)
	s.newCSRFSeed(c)
	return c.Redirect("/operator", fiber.StatusSeeOther)
}

type operatorEnrollView struct {
	Lang       string
	T          map[string]string
	Enrollment tenant.OperatorEnrollment
	// QR is the enrollment's data: URL, which the template would
	// otherwise refuse as an unsafe URL (we made it: it is a PNG).
	QR template.URL
}

// operatorEnrollPage shows the secret for the authenticator app and asks
// for the operator's own password and a first code.
func (s *Server) operatorEnrollPage(c *fiber.Ctx) error {
	return s.renderEnroll(c, nil)
}

func (s *Server) renderEnroll(c *fiber.Ctx, err error) error {
	lang := pageLang(c)
	e, eerr := s.operators.Enrollment(c.UserContext(), c.Cookies(cookieOperatorEnroll))
	if eerr != nil {
		if cic.ErrorKind(eerr) == cic.EUNAUTHORIZED {
			return c.Redirect("/operator", fiber.StatusSeeOther)
		}
		return eerr
	}
	d := pageData{Title: operatorText[lang]["enroll_title"], Lang: lang,
		Data: operatorEnrollView{Lang: lang, T: operatorText[lang], Enrollment: e, QR: template.URL(e.QR)}}
	if err != nil {
		st, _, _ := classify(err)
		if st >= 500 {
			return err
		}
		d.Error = operatorError(lang, err)
		return s.renderStatus(c, st, "operator_enroll", d)
	}
	return s.render(c, "operator_enroll", d)
}

func (s *Server) operatorEnrollSubmit(c *fiber.Ctx) error {
	tok := c.Cookies(cookieOperatorEnroll)
	if c.FormValue("password") != c.FormValue("password2") {
		return s.renderEnroll(c, cic.Codef(cic.EINVALID, "password_mismatch", "The two passwords differ."))
	}
	sess, err := s.operators.Enroll(c.UserContext(), tok, c.FormValue("password"), c.FormValue("code"), clientMeta(c))
	if cic.ErrorKind(err) == cic.EUNAUTHORIZED {
		return c.Redirect("/operator", fiber.StatusSeeOther)
	}
	if err != nil {
		return s.renderEnroll(c, err)
	}
	s.setCookie(c, cookieOperatorEnroll, "", -time.Hour)
	s.setCookie(c, cookieOperator, sess.Token, time.Until(sess.ExpiresAt))
	s.newCSRFSeed(c)
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
	t, err := s.cfg.Billing.PutTier(c.UserContext(), billing.CatalogTier{ID: c.FormValue("id"), Name: c.FormValue("name"),
		Contacts: contacts, ValidityMonths: months, Active: c.FormValue("active") != "", Prices: prices})
	if err != nil {
		return s.renderOperator(c, pageData{}, err)
	}
	s.auditTier(c, t)
	s.syncCatalogSoon(c)
	return c.Redirect("/operator?done=saved", fiber.StatusSeeOther)
}

// formPrice reads a whole number of minor units from the form.
func formPrice(c *fiber.Ctx) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(c.FormValue("price_minor")), 10, 64)
	if err != nil {
		return 0, cic.Codef(cic.EINVALID, "invalid_price", "The price must be a whole number of minor units.")
	}
	return n, nil
}

// operatorOverageRateSubmit sets the catalogue's overage rate of a currency.
func (s *Server) operatorOverageRateSubmit(c *fiber.Ctx) error {
	if !s.isOperatorPage(c) {
		return c.Redirect("/operator", fiber.StatusSeeOther)
	}
	n, err := formPrice(c)
	if err == nil {
		err = s.cfg.Billing.PutOveragePrice(c.UserContext(), c.FormValue("currency"), n)
	}
	if err != nil {
		return s.renderOperator(c, pageData{}, err)
	}
	s.auditOperator(c, "catalog.overage_price_put", "overage_price", strings.ToUpper(strings.TrimSpace(c.FormValue("currency"))), map[string]any{"price_minor": n})
	return c.Redirect("/operator?done=saved", fiber.StatusSeeOther)
}

// operatorNegotiatedSubmit negotiates one tenant's overage price; an
// empty price (or the "catalogue" button) puts it back on the catalogue.
func (s *Server) operatorNegotiatedSubmit(c *fiber.Ctx) error {
	if !s.isOperatorPage(c) {
		return c.Redirect("/operator", fiber.StatusSeeOther)
	}
	id, err := operatorTenantID(c)
	if err != nil {
		return s.renderOperator(c, pageData{}, err)
	}
	clear := c.FormValue("catalogue") != "" || strings.TrimSpace(c.FormValue("price_minor")) == ""
	var n int64
	if clear {
		_, err = s.cfg.Billing.ClearNegotiatedOverage(c.UserContext(), id, operatorName(c))
	} else if n, err = formPrice(c); err == nil {
		_, err = s.cfg.Billing.SetNegotiatedOverage(c.UserContext(), id, n, operatorName(c))
	}
	if err != nil {
		return s.renderOperator(c, pageData{}, err)
	}
	if clear {
		s.auditOperator(c, "tenant.overage_price_catalogue", "tenant", id.String(), nil)
	} else {
		s.auditOperator(c, "tenant.overage_price_negotiated", "tenant", id.String(), map[string]any{"price_minor": n})
	}
	return c.Redirect("/operator?done=saved", fiber.StatusSeeOther)
}

func (s *Server) operatorSeatPriceSubmit(c *fiber.Ctx) error {
	if !s.isOperatorPage(c) {
		return c.Redirect("/operator", fiber.StatusSeeOther)
	}
	n, err := formPrice(c)
	if err != nil {
		return s.renderOperator(c, pageData{}, err)
	}
	if err := s.cfg.Billing.PutSeatPrice(c.UserContext(), c.FormValue("currency"), n); err != nil {
		return s.renderOperator(c, pageData{}, err)
	}
	s.auditOperator(c, "catalog.seat_price_put", "seat_price", strings.ToUpper(strings.TrimSpace(c.FormValue("currency"))), map[string]any{"price_minor": n})
	s.syncCatalogSoon(c)
	return c.Redirect("/operator?done=saved", fiber.StatusSeeOther)
}
