package web

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/tenant/seats"
)

type dashboard struct {
	Tenant    tenant.Tenant
	Bundles   []metering.Bundle
	Remaining int64
	Seats     int
	Welcome   bool
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
	return s.render(c, "dashboard", pageData{Title: "Dashboard", Data: d})
}
