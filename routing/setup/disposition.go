package setup

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Disposition is a wrap-up code an agent picks when a contact ends.
// Resolved says whether it counts as resolved for first-contact
// resolution.
type Disposition struct {
	Code     string `json:"code"`
	Label    string `json:"label"`
	Resolved bool   `json:"resolved"`
}

var dispositionCode = regexp.MustCompile(`^[a-z0-9_-]{1,40}$`)

// SetDisposition creates or relabels a disposition code.
func (s *Service) SetDisposition(ctx context.Context, a tenant.Actor, d Disposition) (Disposition, error) {
	if err := requireManager(a); err != nil {
		return Disposition{}, err
	}
	if !dispositionCode.MatchString(d.Code) {
		return Disposition{}, bad("invalid_code", "A disposition code is 1 to 40 of a-z, 0-9, _ and -.")
	}
	label, err := tenant.ValidateName("label", d.Label, 100)
	if err != nil {
		return Disposition{}, err
	}
	d.Label = label
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO dispositions (tenant_id, code, label, resolved) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant_id, code) DO UPDATE SET label = excluded.label, resolved = excluded.resolved`,
			a.TenantID, d.Code, d.Label, d.Resolved); err != nil {
			return fmt.Errorf("save disposition: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "disposition.set", "disposition", d.Code, map[string]any{"label": d.Label, "resolved": d.Resolved})
	})
	if err != nil {
		return Disposition{}, err
	}
	return d, s.changed(ctx, a.TenantID, "disposition", d.Code)
}

// ListDispositions returns the tenant's codes; every role may read them
// (agents pick one at wrap-up).
func (s *Service) ListDispositions(ctx context.Context, a tenant.Actor) ([]Disposition, error) {
	var out []Disposition
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT code, label, resolved FROM dispositions WHERE tenant_id = $1 ORDER BY code LIMIT 1000`, a.TenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Disposition, error) {
			var d Disposition
			return d, r.Scan(&d.Code, &d.Label, &d.Resolved)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list dispositions: %w", err)
	}
	return out, nil
}

// DeleteDisposition removes a code; contacts wrapped up with it keep it.
func (s *Service) DeleteDisposition(ctx context.Context, a tenant.Actor, code string) error {
	if err := requireManager(a); err != nil {
		return err
	}
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM dispositions WHERE tenant_id = $1 AND code = $2`, a.TenantID, code)
		if err != nil {
			return fmt.Errorf("delete disposition: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return cic.Codef(cic.ENOTFOUND, "not_found", "Disposition not found.")
		}
		return tenant.Audit(ctx, tx, a, "disposition.delete", "disposition", code, nil)
	})
	if err != nil {
		return err
	}
	return s.changed(ctx, a.TenantID, "disposition", code)
}
