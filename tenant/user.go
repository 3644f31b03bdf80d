package tenant

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// User statuses.
const (
	StatusActive      = "active"
	StatusInvited     = "invited"
	StatusDeactivated = "deactivated"
)

// User is a person of a tenant.
type User struct {
	ID           uuid.UUID  `json:"id"`
	TenantID     uuid.UUID  `json:"tenant_id"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Role         cic.Role   `json:"role"`
	DepartmentID *uuid.UUID `json:"department_id"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	LastLoginAt  *time.Time `json:"last_login_at"`

	passwordHash *string
	// sessionVersion is in every access token; bumping it ends them all.
	sessionVersion int64
}

const userColumns = `id, tenant_id, email, name, role, department_id, status, created_at, updated_at, last_login_at, password_hash, session_version`

func scanUser(row pgx.Row) (User, error) {
	var u User
	var role string
	err := row.Scan(&u.ID, &u.TenantID, &u.Email, &u.Name, &role, &u.DepartmentID, &u.Status, &u.CreatedAt, &u.UpdatedAt, &u.LastLoginAt, &u.passwordHash, &u.sessionVersion)
	u.Role = cic.Role(role)
	return u, err
}

var errUserNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "User not found.")

func getUser(ctx context.Context, q Querier, tenantID, id uuid.UUID, lock bool) (User, error) {
	sql := `SELECT ` + userColumns + ` FROM users WHERE tenant_id = $1 AND id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	u, err := scanUser(q.QueryRow(ctx, sql, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, errUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// NewUser is what an admin gives to create or invite a user.
type NewUser struct {
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Role         cic.Role   `json:"role"`
	Password     string     `json:"password"`
	DepartmentID *uuid.UUID `json:"department_id"`
}

func (in *NewUser) validate(withPassword bool) error {
	var err error
	if in.Email, err = NormalizeEmail(in.Email); err != nil {
		return err
	}
	if in.Name, err = ValidateName("name", in.Name, 200); err != nil {
		return err
	}
	if !in.Role.Valid() {
		return cic.Codef(cic.EINVALID, "invalid_role", "Role must be one of owner, admin, supervisor, agent, finance.")
	}
	if withPassword {
		return ValidatePassword(in.Password, in.Email)
	}
	return nil
}

// mayGrant: only an owner makes or unmakes owners; admins manage the rest.
func mayGrant(a Actor, role cic.Role) error {
	if err := requireManager(a); err != nil {
		return err
	}
	if role == cic.RoleOwner && a.Role != cic.RoleOwner {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner may grant or change the owner role.")
	}
	return nil
}

func insertUser(ctx context.Context, q Querier, tenantID uuid.UUID, in NewUser, hash *string, status string) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, `INSERT INTO users (tenant_id, id, email, name, role, department_id, password_hash, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+userColumns,
		tenantID, uuid.New(), in.Email, in.Name, string(in.Role), in.DepartmentID, hash, status))
	switch {
	case isUniqueViolation(err, "users_tenant_id_email_key"):
		return User{}, cic.Codef(cic.ECONFLICT, "email_taken", "A user with e-mail %s already exists.", in.Email)
	case isForeignKeyViolation(err):
		return User{}, cic.Codef(cic.EINVALID, "invalid_department", "Department not found.")
	case err != nil:
		return User{}, fmt.Errorf("insert user: %w", err)
	}
	return u, nil
}

// CreateUser creates an active user with a password set by the admin.
func (s *Service) CreateUser(ctx context.Context, a Actor, in NewUser) (User, error) {
	if err := mayGrant(a, in.Role); err != nil {
		return User{}, err
	}
	if err := in.validate(true); err != nil {
		return User{}, err
	}
	hash, err := hashPassword(s.Password, in.Password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		if u, err = insertUser(ctx, tx, a.TenantID, in, &hash, StatusActive); err != nil {
			return err
		}
		return Audit(ctx, tx, a, "user.create", "user", u.ID.String(), map[string]any{"email": u.Email, "role": u.Role})
	})
	return u, err
}

// GetUser returns a user of the actor's tenant. Anyone may read themselves;
// managers and supervisors may read everyone.
func (s *Service) GetUser(ctx context.Context, a Actor, id uuid.UUID) (User, error) {
	if id != a.UserID && !a.Role.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleSupervisor) {
		return User{}, cic.Codef(cic.EFORBIDDEN, "forbidden", "You may only see your own profile.")
	}
	var u User
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) (err error) {
		u, err = getUser(ctx, tx, a.TenantID, id, false)
		return err
	})
	return u, err
}

// UserFilter pages through users ordered by e-mail.
type UserFilter struct {
	Cursor string // opaque, from the previous page
	Limit  int
	Role   cic.Role
	Status string
}

// ListUsers returns one page of users and the cursor of the next ("" at the end).
func (s *Service) ListUsers(ctx context.Context, a Actor, f UserFilter) ([]User, string, error) {
	if !a.Role.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleSupervisor) {
		return nil, "", cic.Codef(cic.EFORBIDDEN, "forbidden", "Only owners, admins and supervisors may list users.")
	}
	after := ""
	if f.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		// The cursor is an e-mail address we made: text, never a NUL.
		if err != nil || !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
			return nil, "", cic.Codef(cic.EINVALID, "invalid_cursor", "The page cursor is invalid.")
		}
		after = string(b)
	}
	if f.Role != "" && !f.Role.Valid() {
		return nil, "", cic.Codef(cic.EINVALID, "invalid_role", "Unknown role filter.")
	}
	if f.Status != "" && f.Status != StatusActive && f.Status != StatusInvited && f.Status != StatusDeactivated {
		return nil, "", cic.Codef(cic.EINVALID, "invalid_status", "Status must be active, invited or deactivated.")
	}
	limit := clampLimit(f.Limit)
	var users []User
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM users
			WHERE tenant_id = $1 AND email > $2 AND ($3 = '' OR role = $3) AND ($4 = '' OR status = $4)
			ORDER BY email LIMIT $5`, a.TenantID, after, string(f.Role), f.Status, limit+1)
		if err != nil {
			return err
		}
		users, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(users[limit-1].Email))
	}
	return users, next, nil
}

// UserUpdate changes some of a user's fields; nil means unchanged.
// ClearDepartment removes the user from their department.
type UserUpdate struct {
	Name            *string    `json:"name"`
	Role            *cic.Role  `json:"role"`
	DepartmentID    *uuid.UUID `json:"department_id"`
	ClearDepartment bool       `json:"clear_department"`
	Status          *string    `json:"status"` // active or deactivated
}

// UpdateUser applies an admin's change to a user, keeping at least one
// active owner in the tenant.
func (s *Service) UpdateUser(ctx context.Context, a Actor, id uuid.UUID, up UserUpdate) (User, error) {
	if err := requireManager(a); err != nil {
		return User{}, err
	}
	if up.Name != nil {
		n, err := ValidateName("name", *up.Name, 200)
		if err != nil {
			return User{}, err
		}
		up.Name = &n
	}
	if up.Role != nil && !up.Role.Valid() {
		return User{}, cic.Codef(cic.EINVALID, "invalid_role", "Role must be one of owner, admin, supervisor, agent, finance.")
	}
	if up.Status != nil && *up.Status != StatusActive && *up.Status != StatusDeactivated {
		return User{}, cic.Codef(cic.EINVALID, "invalid_status", "Status must be active or deactivated.")
	}
	var u User
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		// Owners are locked first, in a fixed order, so two admins demoting
		// the last two owners at once cannot both succeed.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE tenant_id = $1 AND role = 'owner' ORDER BY id FOR UPDATE`, a.TenantID); err != nil {
			return fmt.Errorf("lock owners: %w", err)
		}
		old, err := getUser(ctx, tx, a.TenantID, id, true)
		if err != nil {
			return err
		}
		if old.Role == cic.RoleOwner || (up.Role != nil && *up.Role == cic.RoleOwner) {
			if err := mayGrant(a, cic.RoleOwner); err != nil {
				return err
			}
		}
		changes := map[string]any{}
		role, status, name, dept := old.Role, old.Status, old.Name, old.DepartmentID
		if up.Role != nil && *up.Role != old.Role {
			role, changes["role"] = *up.Role, map[string]any{"from": old.Role, "to": *up.Role}
		}
		if up.Name != nil && *up.Name != old.Name {
			name, changes["name"] = *up.Name, map[string]any{"from": old.Name, "to": *up.Name}
		}
		if up.ClearDepartment {
			dept, changes["department_id"] = nil, map[string]any{"from": old.DepartmentID, "to": nil}
		} else if up.DepartmentID != nil {
			dept, changes["department_id"] = up.DepartmentID, map[string]any{"from": old.DepartmentID, "to": up.DepartmentID}
		}
		if up.Status != nil && *up.Status != old.Status {
			// An invited user may be deactivated (which revokes the
			// invitation) but not activated without accepting it.
			if old.Status == StatusInvited && *up.Status != StatusDeactivated {
				return cic.Codef(cic.ECONFLICT, "invitation_pending", "This user has not accepted the invitation yet.")
			}
			status, changes["status"] = *up.Status, map[string]any{"from": old.Status, "to": *up.Status}
		}
		if id == a.UserID && (role != old.Role || status != old.Status) {
			return cic.Codef(cic.EINVALID, "cannot_change_self", "You cannot change your own role or deactivate yourself; ask another admin.")
		}
		if old.Role == cic.RoleOwner && old.Status == StatusActive && (role != cic.RoleOwner || status != StatusActive) {
			var owners int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'owner' AND status = 'active'`, a.TenantID).Scan(&owners); err != nil {
				return fmt.Errorf("count owners: %w", err)
			}
			if owners <= 1 {
				return cic.Codef(cic.ECONFLICT, "last_owner", "A company must keep at least one active owner.")
			}
		}
		u, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET role = $3, status = $4, name = $5, department_id = $6, updated_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING `+userColumns, a.TenantID, id, string(role), status, name, dept))
		if isForeignKeyViolation(err) {
			return cic.Codef(cic.EINVALID, "invalid_department", "Department not found.")
		}
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		if status == StatusDeactivated {
			if err := revokeUserTokens(ctx, tx, a.TenantID, id); err != nil {
				return err
			}
			if old.Status == StatusInvited {
				if _, err := revokeInvitations(ctx, tx, a.TenantID, id); err != nil {
					return err
				}
			}
		}
		// A role change or deactivation ends the user's access tokens now,
		// not when they expire.
		if role != old.Role || status != old.Status {
			if err := bumpSessionVersion(ctx, tx, a.TenantID, id); err != nil {
				return err
			}
		}
		if len(changes) == 0 {
			return nil
		}
		return Audit(ctx, tx, a, "user.update", "user", id.String(), changes)
	})
	if err == nil && u.Status == StatusDeactivated && s.AfterDeactivate != nil {
		if herr := s.AfterDeactivate(ctx, a.TenantID, id); herr != nil {
			s.logger().Error("after deactivate", "tenant", a.TenantID, "user", id, "err", herr)
		}
	}
	return u, err
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// DeactivateUser is UpdateUser with status deactivated: the user can no
// longer log in and their sessions end now.
func (s *Service) DeactivateUser(ctx context.Context, a Actor, id uuid.UUID) (User, error) {
	st := StatusDeactivated
	return s.UpdateUser(ctx, a, id, UserUpdate{Status: &st})
}
