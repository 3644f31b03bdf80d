package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

type usersView struct {
	Users       []tenant.User
	Departments []tenant.Department
	NextCursor  string
	InviteURL   string
	Invited     *tenant.User
	CanManage   bool
}

var userNotices = map[string]string{
	"updated":     "The user was updated.",
	"deactivated": "The user was deactivated and logged out everywhere.",
	"revoked":     "The invitation was revoked; its link no longer works.",
}

// loadUsers fills the users page; cursor pages through users by e-mail.
func (s *Server) loadUsers(c *fiber.Ctx, a tenant.Actor) (usersView, error) {
	v := usersView{CanManage: a.Role.Manages()}
	users, next, err := s.cfg.Tenants.ListUsers(c.UserContext(), a, tenant.UserFilter{Cursor: c.Query("cursor"), Limit: 50})
	if err != nil {
		return v, err
	}
	v.Users, v.NextCursor = users, next
	if v.CanManage {
		if v.Departments, err = s.cfg.Tenants.ListDepartments(c.UserContext(), a); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (s *Server) usersPage(c *fiber.Ctx) error {
	a, _ := actor(c)
	v, err := s.loadUsers(c, a)
	if err != nil {
		return err
	}
	return s.render(c, "users", pageData{Title: "Users", Data: v, Notice: userNotices[c.Query("done")],
		Form: map[string]string{"role": string(cic.RoleAgent)}})
}

// formUUID reads an optional id field; "" means none.
func formUUID(c *fiber.Ctx, key string) (*uuid.UUID, error) {
	raw := c.FormValue(key)
	if raw == "" {
		return nil, nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil, cic.Codef(cic.EINVALID, "invalid_"+key, "Choose a department from the list.")
	}
	return &id, nil
}

func (s *Server) usersInviteSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	in := tenant.NewUser{Email: c.FormValue("email"), Name: c.FormValue("name"), Role: cic.Role(c.FormValue("role"))}
	dept, err := formUUID(c, "department_id")
	if err == nil {
		in.DepartmentID = dept
		var u tenant.User
		var token string
		u, token, err = s.cfg.Tenants.InviteUser(c.UserContext(), a, in)
		if err == nil {
			v, lerr := s.loadUsers(c, a)
			if lerr != nil {
				return lerr
			}
			v.Invited, v.InviteURL = &u, s.publicLink(c, "/invite/"+token)
			return s.render(c, "users", pageData{Title: "Users", Data: v, Form: map[string]string{"role": string(cic.RoleAgent)},
				Notice: "Invitation created for " + u.Email + ". Send them the link below; it works once, for 7 days."})
		}
	}
	v, lerr := s.loadUsers(c, a)
	if lerr != nil {
		return lerr
	}
	return s.pageError(c, "users", pageData{Title: "Users", Data: v, Form: formValues(c, "email", "name", "role", "department_id")}, err)
}

func (s *Server) userUpdateSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	id, err := paramID(c, "user")
	if err != nil {
		return err
	}
	role := cic.Role(c.FormValue("role"))
	up := tenant.UserUpdate{Role: &role}
	dept, err := formUUID(c, "department_id")
	if err == nil {
		if dept == nil {
			up.ClearDepartment = true
		} else {
			up.DepartmentID = dept
		}
		_, err = s.cfg.Tenants.UpdateUser(c.UserContext(), a, id, up)
	}
	if err != nil {
		return s.usersPageError(c, a, err)
	}
	return c.Redirect("/users?done=updated", fiber.StatusSeeOther)
}

func (s *Server) userDeactivateSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	id, err := paramID(c, "user")
	if err != nil {
		return err
	}
	if _, err := s.cfg.Tenants.DeactivateUser(c.UserContext(), a, id); err != nil {
		return s.usersPageError(c, a, err)
	}
	return c.Redirect("/users?done=deactivated", fiber.StatusSeeOther)
}

func (s *Server) userRevokeInvitationSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	id, err := paramID(c, "user")
	if err != nil {
		return err
	}
	if err := s.cfg.Tenants.RevokeInvitation(c.UserContext(), a, id); err != nil {
		return s.usersPageError(c, a, err)
	}
	return c.Redirect("/users?done=revoked", fiber.StatusSeeOther)
}

func (s *Server) usersPageError(c *fiber.Ctx, a tenant.Actor, err error) error {
	v, lerr := s.loadUsers(c, a)
	if lerr != nil {
		return lerr
	}
	return s.pageError(c, "users", pageData{Title: "Users", Data: v, Form: map[string]string{"role": string(cic.RoleAgent)}}, err)
}
