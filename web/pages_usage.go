package web

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

func init() {
	pageFuncs["money"] = formatMinor
	pageFuncs["policyLabel"] = policyLabel
}

// zeroDecimal lists the ISO 4217 currencies without minor units that a
// tenant is likely to use; every other currency shows two decimals.
var zeroDecimal = map[string]bool{"JPY": true, "KRW": true, "ISK": true, "CLP": true, "VND": true}

// formatMinor shows an amount of minor units in major units ("12.50 EUR"),
// by integer arithmetic.
func formatMinor(minor int64, currency string) string {
	if zeroDecimal[currency] {
		return fmt.Sprintf("%d %s", minor, currency)
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, currency)
}

func policyLabel(p string) string {
	switch p {
	case metering.PolicyOverage:
		return "Overage: keep serving, bill each extra contact"
	case metering.PolicyAutoTopup:
		return "Auto top-up: buy a bundle when the balance runs low"
	case metering.PolicyBlock:
		return "Block: refuse new inbound contacts when nothing is left"
	}
	return p
}

// policyForm is the exhaustion-policy form as text, from the saved
// settings or from what the user typed. It holds no price: the tenant
// picks a catalogue tier; the overage price is shown, not edited.
type policyForm struct {
	Policy, TopupThreshold, TopupTier, WarnPercents string
	// priceFields are price fields the form was posted with (refused).
	priceFields []string
}

func policyFormOf(st metering.Settings) policyForm {
	f := policyForm{Policy: st.Policy}
	if st.TopupThreshold != nil {
		f.TopupThreshold = strconv.FormatInt(*st.TopupThreshold, 10)
	}
	if st.TopupTier != nil {
		f.TopupTier = *st.TopupTier
	}
	ws := make([]string, len(st.WarnPercents))
	for i, w := range st.WarnPercents {
		ws[i] = strconv.Itoa(w)
	}
	f.WarnPercents = strings.Join(ws, ", ")
	return f
}

func policyFormFrom(c *fiber.Ctx) policyForm {
	f := policyForm{Policy: c.FormValue("policy"), TopupThreshold: c.FormValue("topup_threshold"),
		TopupTier: c.FormValue("topup_tier"), WarnPercents: c.FormValue("warn_percents")}
	c.Request().PostArgs().VisitAll(func(k, _ []byte) { f.priceFields = append(f.priceFields, string(k)) })
	return f
}

// settings parses the form; metering.UpdateSettings validates the values.
func (f policyForm) settings() (metering.Settings, error) {
	if err := metering.RefusePriceFields(f.priceFields); err != nil {
		return metering.Settings{}, err
	}
	st := metering.Settings{Policy: f.Policy}
	if raw := strings.TrimSpace(f.TopupThreshold); raw != "" {
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return st, cic.Codef(cic.EINVALID, "invalid_topup_threshold", "The top-up threshold must be a whole number.")
		}
		st.TopupThreshold = &v
	}
	if tier := strings.TrimSpace(f.TopupTier); tier != "" {
		st.TopupTier = &tier
	}
	st.WarnPercents = []int{}
	for _, w := range strings.FieldsFunc(f.WarnPercents, func(r rune) bool { return r == ',' || r == ' ' || r == '%' }) {
		p, err := strconv.Atoi(w)
		if err != nil {
			return st, cic.Codef(cic.EINVALID, "invalid_warn_percents", "Warning thresholds are percents separated by commas, e.g. 20, 5, 0.")
		}
		st.WarnPercents = append(st.WarnPercents, p)
	}
	return st, nil
}

type usageView struct {
	Policies []string
	Form     policyForm
	Currency string
	// Settings as saved: the overage price and where it comes from.
	Settings metering.Settings
	// Tiers an auto top-up may buy (the catalogue in the tenant's currency).
	Tiers      []billing.Tier
	Keys       []tenant.APIKey
	NewKey     string
	NewKeyName string
}

var usageNotices = map[string]string{
	"saved":   "The exhaustion policy was saved.",
	"revoked": "The API key was revoked; calls with it are refused from now on.",
}

// managerOnly refuses pages that only an owner or admin may open.
func managerOnly(c *fiber.Ctx) (tenant.Actor, error) {
	a, _ := actor(c)
	if !a.Role.Manages() {
		return a, cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may do this.")
	}
	return a, nil
}

func (s *Server) usagePage(c *fiber.Ctx) error {
	if _, err := managerOnly(c); err != nil {
		return err
	}
	return s.renderUsage(c, pageData{Notice: usageNotices[c.Query("done")]}, nil, nil)
}

// renderUsage shows the usage settings page; form, when not nil, is what
// the user typed into a policy form that failed with err.
func (s *Server) renderUsage(c *fiber.Ctx, d pageData, form *policyForm, err error) error {
	a, _ := actor(c)
	ctx := c.UserContext()
	st, lerr := metering.GetSettings(ctx, s.cfg.Tenants.DB, a.TenantID)
	if lerr != nil {
		return lerr
	}
	keys, lerr := s.cfg.Tenants.ListAPIKeys(ctx, a)
	if lerr != nil {
		return lerr
	}
	v, _ := d.Data.(usageView)
	v.Policies, v.Currency, v.Keys, v.Form, v.Settings = metering.Policies, st.Currency, keys, policyFormOf(st), st
	if s.cfg.Billing != nil {
		cat, lerr := s.cfg.Billing.GetCatalog(ctx, st.Currency)
		if lerr != nil {
			return lerr
		}
		v.Tiers = cat.Tiers
	}
	if form != nil {
		v.Form = *form
	}
	d.Title, d.Data = "Usage settings", v
	if err != nil {
		return s.pageError(c, "usage", d, err)
	}
	return s.render(c, "usage", d)
}

func (s *Server) usagePolicySubmit(c *fiber.Ctx) error {
	a, err := managerOnly(c)
	if err != nil {
		return err
	}
	f := policyFormFrom(c)
	st, err := f.settings()
	if err == nil {
		_, err = metering.UpdateSettings(c.UserContext(), s.cfg.Tenants.DB, a, st)
	}
	if err != nil {
		return s.renderUsage(c, pageData{}, &f, err)
	}
	return c.Redirect("/usage?done=saved", fiber.StatusSeeOther)
}

// usageKeyCreateSubmit shows the new key on the answer itself: it is
// never put in a URL nor stored, so this page is the only place it appears.
func (s *Server) usageKeyCreateSubmit(c *fiber.Ctx) error {
	a, err := managerOnly(c)
	if err != nil {
		return err
	}
	k, key, err := s.cfg.Tenants.CreateAPIKey(c.UserContext(), a, c.FormValue("name"))
	if err != nil {
		return s.renderUsage(c, pageData{Form: formValues(c, "name")}, nil, err)
	}
	return s.renderUsage(c, pageData{Notice: "The API key was created. Copy it now: it is not shown again.",
		Data: usageView{NewKey: key, NewKeyName: k.Name}}, nil, nil)
}

func (s *Server) usageKeyRevokeSubmit(c *fiber.Ctx) error {
	a, err := managerOnly(c)
	if err != nil {
		return err
	}
	id, err := paramID(c, "API key")
	if err != nil {
		return err
	}
	if _, err := s.cfg.Tenants.RevokeAPIKey(c.UserContext(), a, id); err != nil {
		return s.renderUsage(c, pageData{}, nil, err)
	}
	return c.Redirect("/usage?done=revoked", fiber.StatusSeeOther)
}

// usageChart is a stacked bar chart of contacts per day by channel, drawn
// on the server as SVG: the content security policy allows no inline
// styles or scripts, so colours come from classes in app.css.
type usageChart struct {
	Width, Height int
	Left, Bottom  int // the plot's left edge and baseline
	Right, Top    int
	Bars          []chartBar
	XLabels       []chartLabel
	YLabels       []chartLabel
	Channels      []string
	Total         int64
	From, To      string
}

type chartBar struct {
	X, Y, W, H int
	Class      string
	Title      string
}

type chartLabel struct {
	X, Y int
	At   int // a grid line's height, for the y axis
	Text string
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten.
func niceCeil(n int64) int64 {
	if n <= 1 {
		return 1
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

func newUsageChart(days []metering.DayCount) *usageChart {
	ch := &usageChart{Width: 700, Height: 220, Left: 48, Right: 692, Top: 12, Bottom: 192, Channels: metering.Channels}
	if len(days) == 0 {
		return ch
	}
	ch.From, ch.To = days[0].Date, days[len(days)-1].Date
	var peak int64
	for _, d := range days {
		ch.Total += d.Total
		peak = max(peak, d.Total)
	}
	top := niceCeil(peak)
	plotH := int64(ch.Bottom - ch.Top)
	y := func(v int64) int { return ch.Bottom - int(v*plotH/top) }
	for _, v := range []int64{0, top / 2, top} {
		if n := len(ch.YLabels); n > 0 && ch.YLabels[n-1].Text == strconv.FormatInt(v, 10) {
			continue
		}
		ch.YLabels = append(ch.YLabels, chartLabel{X: ch.Left - 6, Y: y(v) + 4, At: y(v), Text: strconv.FormatInt(v, 10)})
	}
	slot := (ch.Right - ch.Left) / len(days)
	barW := max(slot*3/4, 1)
	for i, d := range days {
		x := ch.Left + i*slot + (slot-barW)/2
		var cum int64
		for _, name := range metering.Channels {
			n := d.Channels[name]
			if n == 0 {
				continue
			}
			y0, y1 := y(cum), y(cum+n)
			ch.Bars = append(ch.Bars, chartBar{X: x, Y: y1, W: barW, H: max(y0-y1, 1), Class: "ch-" + name,
				Title: fmt.Sprintf("%s %s: %d", d.Date, name, n)})
			cum += n
		}
		label := d.Date
		if len(label) == len("2006-01-02") {
			label = label[5:]
		}
		ch.XLabels = append(ch.XLabels, chartLabel{X: x + barW/2, Y: ch.Bottom + 16, Text: label})
	}
	return ch
}
