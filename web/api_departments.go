package web

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

func (s *Server) apiListDepartments(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	ds, err := s.cfg.Tenants.ListDepartments(c.UserContext(), a)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []tenant.Department{}
	}
	return c.JSON(fiber.Map{"departments": ds})
}

func (s *Server) apiCreateDepartment(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	var in tenant.DepartmentInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	d, err := s.cfg.Tenants.CreateDepartment(c.UserContext(), a, in)
	if err != nil {
		return err
	}
	c.Location("/api/v1/departments/" + d.ID.String())
	return c.Status(fiber.StatusCreated).JSON(d)
}

func (s *Server) apiGetDepartment(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "department")
	if err != nil {
		return err
	}
	d, err := s.cfg.Tenants.GetDepartment(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Server) apiUpdateDepartment(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "department")
	if err != nil {
		return err
	}
	var in tenant.DepartmentInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	d, err := s.cfg.Tenants.UpdateDepartment(c.UserContext(), a, id, in)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Server) apiDeleteDepartment(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "department")
	if err != nil {
		return err
	}
	if err := s.cfg.Tenants.DeleteDepartment(c.UserContext(), a, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type auditPage struct {
	Entries    []tenant.AuditEntry `json:"entries"`
	NextBefore int64               `json:"next_before,omitempty"`
}

// apiListAudit pages backwards in time: ?before=<id of the last entry seen>.
func (s *Server) apiListAudit(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, 50, 200)
	if err != nil {
		return err
	}
	var before int64
	if raw := c.Query("before"); raw != "" {
		if before, err = strconv.ParseInt(raw, 10, 64); err != nil || before < 1 {
			return cic.Codef(cic.EINVALID, "invalid_cursor", "before must be the id of an audit entry.")
		}
	}
	es, err := s.cfg.Tenants.ListAudit(c.UserContext(), a, before, limit)
	if err != nil {
		return err
	}
	page := auditPage{Entries: es}
	if page.Entries == nil {
		page.Entries = []tenant.AuditEntry{}
	}
	if len(es) == limit {
		page.NextBefore = es[len(es)-1].ID
	}
	return c.JSON(page)
}
