package setup

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Skill is something an agent can do (a language, a product), with a
// level from 1 to 10 per agent.
type Skill struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

var errSkillNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "Skill not found.")

// CreateSkill adds a skill.
func (s *Service) CreateSkill(ctx context.Context, a tenant.Actor, name string) (Skill, error) {
	if err := requireManager(a); err != nil {
		return Skill{}, err
	}
	name, err := tenant.ValidateName("name", name, 100)
	if err != nil {
		return Skill{}, err
	}
	var sk Skill
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO skills (tenant_id, id, name) VALUES ($1, $2, $3) RETURNING id, name, created_at`,
			a.TenantID, uuid.New(), name).Scan(&sk.ID, &sk.Name, &sk.CreatedAt)
		if code, c := pgCode(err); code == "23505" && c == "skills_name" {
			return cic.Codef(cic.ECONFLICT, "skill_exists", "A skill named %q already exists.", name)
		}
		if err != nil {
			return fmt.Errorf("create skill: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "skill.create", "skill", sk.ID.String(), map[string]any{"name": name})
	})
	if err != nil {
		return Skill{}, err
	}
	return sk, s.changed(ctx, a.TenantID, "skill", sk.ID.String())
}

// ListSkills returns the tenant's skills by name.
func (s *Service) ListSkills(ctx context.Context, a tenant.Actor) ([]Skill, error) {
	if err := requireViewer(a); err != nil {
		return nil, err
	}
	var out []Skill
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, name, created_at FROM skills WHERE tenant_id = $1 ORDER BY lower(name) LIMIT 1000`, a.TenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Skill, error) {
			var sk Skill
			return sk, r.Scan(&sk.ID, &sk.Name, &sk.CreatedAt)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list skills: %w", err)
	}
	return out, nil
}

// DeleteSkill removes a skill no queue requires and no agent has.
func (s *Service) DeleteSkill(ctx context.Context, a tenant.Actor, id uuid.UUID) error {
	if err := requireManager(a); err != nil {
		return err
	}
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM skills WHERE tenant_id = $1 AND id = $2`, a.TenantID, id)
		if code, _ := pgCode(err); code == "23503" {
			return cic.Codef(cic.ECONFLICT, "skill_in_use", "A queue requires this skill or an agent has it; remove it there first.")
		}
		if err != nil {
			return fmt.Errorf("delete skill: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return errSkillNotFound
		}
		return tenant.Audit(ctx, tx, a, "skill.delete", "skill", id.String(), nil)
	})
	if err != nil {
		return err
	}
	return s.changed(ctx, a.TenantID, "skill", id.String())
}

// skillsExist fails unless every id is a skill of the tenant.
func skillsExist(ctx context.Context, q tenant.Querier, tenantID uuid.UUID, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	var n int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM skills WHERE tenant_id = $1 AND id = ANY($2)`, tenantID, ids).Scan(&n); err != nil {
		return fmt.Errorf("check skills: %w", err)
	}
	if n != len(ids) {
		return cic.Codef(cic.EINVALID, "unknown_skill", "One of the skills does not exist.")
	}
	return nil
}
