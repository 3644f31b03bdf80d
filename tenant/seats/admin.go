package seats

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Holder is a live lease with the names an admin reads.
type Holder struct {
	Lease
	UserName   string
	UserEmail  string
	Department string
}

// Overview is the pool as the seats page shows it.
type Overview struct {
	Limit        int
	Reservations []ReservationUse
	Holders      []Holder
}

// ReservationUse is a reservation and how many of its department's
// members hold a seat now.
type ReservationUse struct {
	Reservation
	Held int `json:"held"`
}

var (
	errNotSeatViewer = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner, admin or supervisor may see who holds the seats.")
	errNotSeatAdmin  = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may change seats.")
	errLeaseNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "No such seat lease: it was released or ran out.")
	errDeptNotFound  = cic.Codef(cic.ENOTFOUND, "not_found", "Department not found.")
)

// CanView says whether a role may see the seat holders.
func CanView(r cic.Role) bool { return r.In(cic.RoleOwner, cic.RoleAdmin, cic.RoleSupervisor) }

// Overview lists the holders with their names, the limit and the
// reservations.
func (s *Service) Overview(ctx context.Context, a tenant.Actor) (Overview, error) {
	if !CanView(a.Role) {
		return Overview{}, errNotSeatViewer
	}
	leases, err := s.Leases.List(ctx, a.TenantID)
	if err != nil {
		return Overview{}, s.leaseError(err, tenant.Principal{}, PoolInfo{})
	}
	var ov Overview
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		info, err := loadPool(ctx, tx, a.TenantID, s.Now())
		if err != nil {
			return err
		}
		ov.Limit = info.Limit
		ids := make([]uuid.UUID, len(leases))
		for i, l := range leases {
			ids[i] = l.UserID
		}
		rows, err := tx.Query(ctx, `SELECT u.id, u.name, u.email, coalesce(d.name, '')
			FROM users u LEFT JOIN departments d ON d.tenant_id = u.tenant_id AND d.id = u.department_id
			WHERE u.tenant_id = $1 AND u.id = ANY($2)`, a.TenantID, ids)
		if err != nil {
			return fmt.Errorf("seat holders: %w", err)
		}
		type who struct{ name, email, dept string }
		names := map[uuid.UUID]who{}
		for rows.Next() {
			var id uuid.UUID
			var w who
			if err := rows.Scan(&id, &w.name, &w.email, &w.dept); err != nil {
				rows.Close()
				return fmt.Errorf("seat holders: %w", err)
			}
			names[id] = w
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("seat holders: %w", err)
		}
		held := map[uuid.UUID]int{}
		for _, l := range leases {
			w := names[l.UserID]
			ov.Holders = append(ov.Holders, Holder{Lease: l, UserName: w.name, UserEmail: w.email, Department: w.dept})
			if l.DepartmentID != nil {
				held[*l.DepartmentID]++
			}
		}
		slices.SortStableFunc(ov.Holders, func(a, b Holder) int {
			// Leases taken in the same millisecond: the fencing token says which came first.
			return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.Token, b.Token))
		})
		for _, r := range info.Reservations {
			ov.Reservations = append(ov.Reservations, ReservationUse{Reservation: r, Held: held[r.DepartmentID]})
		}
		return nil
	})
	if err != nil {
		return Overview{}, fmt.Errorf("seat overview: %w", err)
	}
	return ov, nil
}

// ForceRelease frees another user's seat (an admin's action, audited).
// The holder's next heartbeat learns that an admin released it.
func (s *Service) ForceRelease(ctx context.Context, a tenant.Actor, leaseID uuid.UUID) error {
	if !a.Role.Manages() {
		return errNotSeatAdmin
	}
	holder, err := s.Leases.ForceRelease(ctx, a.TenantID, leaseID)
	var gone *Gone
	if errors.As(err, &gone) {
		return errLeaseNotFound
	}
	if err != nil {
		return s.leaseError(err, tenant.Principal{}, PoolInfo{})
	}
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		return tenant.Audit(ctx, tx, a, "seat.force_release", "seat_lease", leaseID.String(), map[string]any{"user_id": holder})
	})
	if err != nil {
		return fmt.Errorf("audit force release: %w", err)
	}
	return nil
}

// ReleaseUser frees whatever seat a user holds, e.g. when the user is
// deactivated.
func (s *Service) ReleaseUser(ctx context.Context, tenantID, userID uuid.UUID) error {
	if err := s.Leases.ReleaseUser(ctx, tenantID, userID); err != nil {
		return s.leaseError(err, tenant.Principal{}, PoolInfo{})
	}
	return nil
}

// SetReservation reserves seats for a department (0 removes the
// reservation). Reservations may not add up to more than the limit.
func (s *Service) SetReservation(ctx context.Context, a tenant.Actor, deptID uuid.UUID, n int) error {
	if !a.Role.Manages() {
		return errNotSeatAdmin
	}
	if n < 0 || n > 100000 {
		return cic.Codef(cic.EINVALID, "invalid_seats", "Reserved seats must be between 0 and 100000.")
	}
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		// Serialise reservation changes of a tenant so two admins cannot
		// together reserve more than the limit.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('seat_reservations'), hashtext($1))`, a.TenantID.String()); err != nil {
			return fmt.Errorf("lock reservations: %w", err)
		}
		// An unknown department is the client's mistake whatever n is: it
		// must not pass as a removal (audited as if it were one) nor be
		// reported as a sum over the limit. RLS hides other tenants'.
		var known bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM departments WHERE tenant_id = $1 AND id = $2)`,
			a.TenantID, deptID).Scan(&known); err != nil {
			return fmt.Errorf("find department: %w", err)
		}
		if !known {
			return errDeptNotFound
		}
		if n == 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM seat_reservations WHERE tenant_id = $1 AND department_id = $2`, a.TenantID, deptID); err != nil {
				return fmt.Errorf("delete reservation: %w", err)
			}
		} else {
			info, err := loadPool(ctx, tx, a.TenantID, s.Now())
			if err != nil {
				return err
			}
			others := info.ReservedTotal()
			if r, ok := info.reservation(&deptID); ok {
				others -= r.Seats
			}
			if others+n > info.Limit {
				return cic.Codef(cic.EINVALID, "reservation_exceeds_limit",
					"Reservations would add up to %d seats, more than the %d the company has.", others+n, info.Limit)
			}
			_, err = tx.Exec(ctx, `INSERT INTO seat_reservations (tenant_id, department_id, seats) VALUES ($1, $2, $3)
				ON CONFLICT (tenant_id, department_id) DO UPDATE SET seats = excluded.seats, updated_at = now()`, a.TenantID, deptID, n)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" {
				return errDeptNotFound // deleted meanwhile
			}
			if err != nil {
				return fmt.Errorf("save reservation: %w", err)
			}
		}
		return tenant.Audit(ctx, tx, a, "seat.reserve", "department", deptID.String(), map[string]any{"seats": n})
	})
	if err != nil {
		return err
	}
	s.cache.forget(a.TenantID)
	return nil
}
