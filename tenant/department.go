package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
)

// Department is a unit of the company, with the cost centre its contacts
// are charged back to.
type Department struct {
	ID         uuid.UUID `json:"id"`
	Name       string    `json:"name"`
	CostCentre string    `json:"cost_centre"`
	Users      int       `json:"users"`
	CreatedAt  time.Time `json:"created_at"`
}

// DepartmentInput creates or renames a department.
type DepartmentInput struct {
	Name       string `json:"name"`
	CostCentre string `json:"cost_centre"`
}

func (in *DepartmentInput) validate() error {
	var err error
	if in.Name, err = ValidateName("name", in.Name, 100); err != nil {
		return err
	}
	in.CostCentre = strings.TrimSpace(in.CostCentre)
	if len(in.CostCentre) > 50 || strings.ContainsAny(in.CostCentre, "\x00\r\n") {
		return cic.Codef(cic.EINVALID, "invalid_cost_centre", "Cost centre must be at most 50 characters on one line.")
	}
	return nil
}

var errDeptNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "Department not found.")

const deptSelect = `SELECT d.id, d.name, d.cost_centre, d.created_at,
	(SELECT count(*) FROM users u WHERE u.tenant_id = d.tenant_id AND u.department_id = d.id)
	FROM departments d`

func scanDept(row pgx.Row) (Department, error) {
	var d Department
	err := row.Scan(&d.ID, &d.Name, &d.CostCentre, &d.CreatedAt, &d.Users)
	return d, err
}

func deptErr(err error, name string) error {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return errDeptNotFound
	case isUniqueViolation(err, "departments_name"):
		return cic.Codef(cic.ECONFLICT, "department_exists", "A department named %q already exists.", name)
	case err != nil:
		return fmt.Errorf("department: %w", err)
	}
	return nil
}

// CreateDepartment adds a department.
func (s *Service) CreateDepartment(ctx context.Context, a Actor, in DepartmentInput) (Department, error) {
	if err := requireManager(a); err != nil {
		return Department{}, err
	}
	if err := in.validate(); err != nil {
		return Department{}, err
	}
	var d Department
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO departments (tenant_id, id, name, cost_centre) VALUES ($1, $2, $3, $4)
			RETURNING id, name, cost_centre, created_at, 0`, a.TenantID, uuid.New(), in.Name, in.CostCentre).
			Scan(&d.ID, &d.Name, &d.CostCentre, &d.CreatedAt, &d.Users)
		if err := deptErr(err, in.Name); err != nil {
			return err
		}
		return Audit(ctx, tx, a, "department.create", "department", d.ID.String(), map[string]any{"name": d.Name, "cost_centre": d.CostCentre})
	})
	return d, err
}

// ListDepartments returns all departments by name; a tenant has tens, not
// thousands, so there is no paging.
func (s *Service) ListDepartments(ctx context.Context, a Actor) ([]Department, error) {
	var out []Department
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, deptSelect+` WHERE d.tenant_id = $1 ORDER BY lower(d.name) LIMIT 1000`, a.TenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Department, error) { return scanDept(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	return out, nil
}

// GetDepartment returns one department.
func (s *Service) GetDepartment(ctx context.Context, a Actor, id uuid.UUID) (Department, error) {
	var d Department
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		d, err = scanDept(tx.QueryRow(ctx, deptSelect+` WHERE d.tenant_id = $1 AND d.id = $2`, a.TenantID, id))
		return deptErr(err, "")
	})
	return d, err
}

// UpdateDepartment renames a department or changes its cost centre.
func (s *Service) UpdateDepartment(ctx context.Context, a Actor, id uuid.UUID, in DepartmentInput) (Department, error) {
	if err := requireManager(a); err != nil {
		return Department{}, err
	}
	if err := in.validate(); err != nil {
		return Department{}, err
	}
	var d Department
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE departments SET name = $3, cost_centre = $4 WHERE tenant_id = $1 AND id = $2`, a.TenantID, id, in.Name, in.CostCentre)
		if err := deptErr(err, in.Name); err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errDeptNotFound
		}
		if d, err = scanDept(tx.QueryRow(ctx, deptSelect+` WHERE d.tenant_id = $1 AND d.id = $2`, a.TenantID, id)); err != nil {
			return deptErr(err, "")
		}
		return Audit(ctx, tx, a, "department.update", "department", id.String(), map[string]any{"name": d.Name, "cost_centre": d.CostCentre})
	})
	return d, err
}

// DeleteDepartment removes an empty department; one with users is kept
// (department_in_use) so nobody's chargeback silently changes.
func (s *Service) DeleteDepartment(ctx context.Context, a Actor, id uuid.UUID) error {
	if err := requireManager(a); err != nil {
		return err
	}
	return s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM departments WHERE tenant_id = $1 AND id = $2`, a.TenantID, id)
		if isForeignKeyViolation(err) {
			return cic.Codef(cic.ECONFLICT, "department_in_use", "Move this department's users elsewhere before deleting it.")
		}
		if err != nil {
			return fmt.Errorf("delete department: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return errDeptNotFound
		}
		return Audit(ctx, tx, a, "department.delete", "department", id.String(), nil)
	})
}
