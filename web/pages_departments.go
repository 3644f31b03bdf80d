package web

import (
	"github.com/gofiber/fiber/v2"

	"github.com/cic-platform/cic/tenant"
)

var departmentNotices = map[string]string{
	"created": "The department was created.",
	"updated": "The department was saved.",
	"deleted": "The department was deleted.",
}

func (s *Server) departmentsPage(c *fiber.Ctx) error {
	return s.renderDepartments(c, pageData{Notice: departmentNotices[c.Query("done")]}, nil)
}

// renderDepartments shows the list, with err (a failed form) on top.
func (s *Server) renderDepartments(c *fiber.Ctx, d pageData, err error) error {
	a, _ := actor(c)
	ds, lerr := s.cfg.Tenants.ListDepartments(c.UserContext(), a)
	if lerr != nil {
		return lerr
	}
	d.Title, d.Data = "Departments", ds
	if err != nil {
		return s.pageError(c, "departments", d, err)
	}
	return s.render(c, "departments", d)
}

func (s *Server) departmentCreateSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	in := tenant.DepartmentInput{Name: c.FormValue("name"), CostCentre: c.FormValue("cost_centre")}
	if _, err := s.cfg.Tenants.CreateDepartment(c.UserContext(), a, in); err != nil {
		return s.renderDepartments(c, pageData{Form: formValues(c, "name", "cost_centre")}, err)
	}
	return c.Redirect("/departments?done=created", fiber.StatusSeeOther)
}

func (s *Server) departmentUpdateSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	id, err := paramID(c, "department")
	if err != nil {
		return err
	}
	in := tenant.DepartmentInput{Name: c.FormValue("name"), CostCentre: c.FormValue("cost_centre")}
	if _, err := s.cfg.Tenants.UpdateDepartment(c.UserContext(), a, id, in); err != nil {
		return s.renderDepartments(c, pageData{}, err)
	}
	return c.Redirect("/departments?done=updated", fiber.StatusSeeOther)
}

func (s *Server) departmentDeleteSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	id, err := paramID(c, "department")
	if err != nil {
		return err
	}
	if err := s.cfg.Tenants.DeleteDepartment(c.UserContext(), a, id); err != nil {
		return s.renderDepartments(c, pageData{}, err)
	}
	return c.Redirect("/departments?done=deleted", fiber.StatusSeeOther)
}

type auditView struct {
	Entries    []tenant.AuditEntry
	NextBefore int64
}

func (s *Server) auditPage(c *fiber.Ctx) error {
	a, _ := actor(c)
	before := int64(c.QueryInt("before", 0))
	es, err := s.cfg.Tenants.ListAudit(c.UserContext(), a, before, 50)
	if err != nil {
		return err
	}
	v := auditView{Entries: es}
	if len(es) == 50 {
		v.NextBefore = es[len(es)-1].ID
	}
	return s.render(c, "audit", pageData{Title: "Audit log", Data: v})
}
