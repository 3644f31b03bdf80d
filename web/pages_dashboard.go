package web

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

// chartDays is how many days the dashboard's usage chart shows.
const chartDays = 14

type dashboard struct {
	Tenant    tenant.Tenant
	Bundles   []metering.Bundle
	Remaining int64
	Seats     int
	Welcome   bool
	// Usage, Chart and Warnings are for roles that may see usage.
	Usage    *metering.Balance
	Chart    *usageChart
	Warnings []metering.Warning
}

func (s *Server) dashboardPage(c *fiber.Ctx) error {
	p, _ := principalOf(c)
	ctx := c.UserContext()
	d := dashboard{Welcome: c.Query("welcome") != ""}
	now := time.Now()
	err := s.cfg.Tenants.DB.Tx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var err error
		if d.Tenant, err = tenant.Get(ctx, tx, p.TenantID); err != nil {
			return err
		}
		if d.Bundles, err = metering.ActiveBundles(ctx, tx, p.TenantID, now); err != nil {
			return err
		}
		d.Seats, err = seats.Limit(ctx, tx, p.TenantID, now)
		return err
	})
	if err != nil {
		return err
	}
	for _, b := range d.Bundles {
		d.Remaining += b.Remaining
	}
	if metering.CanView(p.Role) {
		b, err := metering.GetBalance(ctx, s.cfg.Tenants.DB, p.TenantID, now)
		if err != nil {
			return err
		}
		d.Usage = &b
		days, err := metering.Daily(ctx, s.cfg.Tenants.DB, p.TenantID, now.AddDate(0, 0, -(chartDays-1)), now)
		if err != nil {
			return err
		}
		d.Chart = newUsageChart(days)
		if d.Warnings, err = metering.UnreadWarnings(ctx, s.cfg.Tenants.DB, p.TenantID); err != nil {
			return err
		}
	}
	pd := pageData{Title: "Dashboard", Data: d}
	if from := c.Query("moved_from"); from != "" && len(from) <= 100 {
		pd.Notice = "Your seat moved here from workstation \"" + from + "\"; that workstation has been told and logged out."
	}
	return s.render(c, "dashboard", pd)
}

// warningsReadSubmit dismisses the low-balance warnings on the dashboard.
func (s *Server) warningsReadSubmit(c *fiber.Ctx) error {
	a, err := usageViewer(c)
	if err != nil {
		return err
	}
	if err := metering.MarkWarningsRead(c.UserContext(), s.cfg.Tenants.DB, a.TenantID); err != nil {
		return err
	}
	return c.Redirect("/dashboard", fiber.StatusSeeOther)
}
