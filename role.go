package cic

// Role is what a user may do inside their tenant.
type Role string

const (
	RoleOwner      Role = "owner"
	RoleAdmin      Role = "admin"
	RoleSupervisor Role = "supervisor"
	RoleAgent      Role = "agent"
	RoleFinance    Role = "finance"
)

// Roles lists every tenant role, most powerful first.
var Roles = []Role{RoleOwner, RoleAdmin, RoleSupervisor, RoleAgent, RoleFinance}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, k := range Roles {
		if r == k {
			return true
		}
	}
	return false
}

// Manages reports whether r may administer users, departments and settings.
func (r Role) Manages() bool { return r == RoleOwner || r == RoleAdmin }

// In reports whether r is one of roles.
func (r Role) In(roles ...Role) bool {
	for _, k := range roles {
		if r == k {
			return true
		}
	}
	return false
}
