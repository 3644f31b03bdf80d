package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/billing/chargeback"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

// pageData is what every template gets; Data carries the page's own.
type pageData struct {
	Title     string
	Principal *tenant.Principal
	CSRF      string
	Error     string
	Notice    string
	Form      map[string]string
	Data      any
	// Heartbeat is how often (s) the page renews the user's seat; 0 for
	// users without one.
	Heartbeat int
	// Dunning is the tenant's failed subscription payment, shown as a
	// banner to those who see billing; nil: none.
	Dunning *billing.DunningNotice
	// Lang is the page's language ("de", "en"); empty: English.
	Lang string
}

// navItem is one entry of the role-dependent navigation.
type navItem struct {
	Path, Label string
}

// navFor lists what a role may open; pages check again on the server.
func navFor(r cic.Role) []navItem {
	items := []navItem{{"/dashboard", "Dashboard"}}
	if r.In(cic.RoleAgent, cic.RoleSupervisor, cic.RoleAdmin, cic.RoleOwner) {
		items = append(items, navItem{"/desk", "Desk"})
	}
	if r.In(cic.RoleSupervisor, cic.RoleAdmin, cic.RoleOwner) {
		items = append(items, navItem{"/wallboard", "Wallboard"}, navItem{"/kpis", "KPIs"})
	}
	if r.Manages() {
		items = append(items, navItem{"/routing", "Routing"}, navItem{"/chat-widgets", "Chat widgets"},
			navItem{"/channels", "Channels"}, navItem{"/ivr", "IVR menus"})
	}
	if r.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleSupervisor) {
		items = append(items, navItem{"/users", "Users"})
	}
	if seats.CanView(r) {
		items = append(items, navItem{"/seats", "Seats"})
	}
	if r.Manages() {
		items = append(items, navItem{"/departments", "Departments"}, navItem{"/usage", "Usage"})
	}
	if billing.CanView(r) {
		items = append(items, navItem{"/billing", "Billing"})
	}
	if chargeback.CanUse(r) {
		items = append(items, navItem{"/reports", "Reports"})
	}
	if r.Manages() {
		items = append(items, navItem{"/audit", "Audit log"})
	}
	return items
}

var pageFuncs = template.FuncMap{
	"nav": navFor,
	"date": func(t time.Time) string {
		return t.UTC().Format("2006-01-02")
	},
	"datetime": func(t time.Time) string {
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"roles":   func() []cic.Role { return cic.Roles },
	"manages": func(r cic.Role) bool { return r.Manages() },
	"eqs":     func(a, b any) bool { return fmt.Sprint(a) == fmt.Sprint(b) },
	// dict makes a map of key/value pairs (ranged in key order).
	"dict": func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	},
	"list": func(v ...any) []any { return v },
}

// parsePages builds one template set per page: the layout, the partials
// (templates/_*.html, pieces such as charts that several pages show) and
// the page.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	partials, err := fs.Glob(templateFS, "templates/_*.html")
	if err != nil {
		return nil, fmt.Errorf("list partials: %w", err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		files := append([]string{"templates/layout.html"}, partials...)
		t, err := template.New("layout.html").Funcs(pageFuncs).ParseFS(templateFS, append(files, n)...)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		out[base] = t
	}
	return out, nil
}

// render writes page name with status 200.
func (s *Server) render(c *fiber.Ctx, name string, d pageData) error {
	return s.renderStatus(c, http.StatusOK, name, d)
}

func (s *Server) renderStatus(c *fiber.Ctx, status int, name string, d pageData) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	if d.Principal == nil {
		if p, ok := principalOf(c); ok {
			d.Principal = &p
		}
	}
	if d.CSRF == "" {
		d.CSRF, _ = c.Locals(localCSRF).(string)
	}
	if d.Principal != nil && seats.NeedsSeat(d.Principal.Role) {
		d.Heartbeat = s.heartbeatEvery()
	}
	if d.Principal != nil && s.cfg.Billing != nil && billing.CanView(d.Principal.Role) {
		// A failed lookup must not take the page down: the banner waits.
		if n, err := s.cfg.Billing.Dunning(c.UserContext(), d.Principal.Actor); err == nil {
			d.Dunning = n
		}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// pageError shows a domain error on the page it came from, with the
// status its kind maps to, keeping what the user typed (never passwords).
func (s *Server) pageError(c *fiber.Ctx, name string, d pageData, err error) error {
	st, _, msg := classify(err)
	if st >= 500 {
		return err
	}
	d.Error = msg
	return s.renderStatus(c, st, name, d)
}

// formValues keeps the named form fields to refill the form.
func formValues(c *fiber.Ctx, keys ...string) map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = c.FormValue(k)
	}
	return m
}
