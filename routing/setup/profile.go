package setup

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// SkillLevel is an agent's level (1-10) in a skill.
type SkillLevel struct {
	SkillID uuid.UUID `json:"skill_id"`
	Level   int       `json:"level"`
}

// Profile is how an agent is routed to: skills with levels and how many
// contacts of each channel they take at once (e.g. 1 call, or 3 chats and
// 5 e-mails). A channel without capacity is never offered to them.
type Profile struct {
	UserID   uuid.UUID      `json:"user_id"`
	Skills   []SkillLevel   `json:"skills"`
	Capacity map[string]int `json:"capacity"`
}

// ProfileInput replaces an agent's profile.
type ProfileInput struct {
	Skills   []SkillLevel   `json:"skills"`
	Capacity map[string]int `json:"capacity"`
}

func (in ProfileInput) validate() error {
	seen := map[uuid.UUID]bool{}
	for _, s := range in.Skills {
		if s.SkillID == uuid.Nil || s.Level < 1 || s.Level > 10 || seen[s.SkillID] {
			return bad("invalid_skills", "Each skill appears once, with a level from 1 to 10.")
		}
		seen[s.SkillID] = true
	}
	for ch, n := range in.Capacity {
		if !validChannel(ch) {
			return bad("invalid_capacity", "Unknown channel %q in capacity.", ch)
		}
		if n < 0 || n > 50 {
			return bad("invalid_capacity", "Capacity per channel is from 0 to 50.")
		}
	}
	return nil
}

var errAgentNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "User not found.")

// SetProfile replaces an agent's routing profile.
func (s *Service) SetProfile(ctx context.Context, a tenant.Actor, userID uuid.UUID, in ProfileInput) (Profile, error) {
	if err := requireManager(a); err != nil {
		return Profile{}, err
	}
	if err := in.validate(); err != nil {
		return Profile{}, err
	}
	var p Profile
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var role string
		err := tx.QueryRow(ctx, `SELECT role FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, a.TenantID, userID).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) {
			return errAgentNotFound
		}
		if err != nil {
			return fmt.Errorf("routing profile: %w", err)
		}
		ids := make([]uuid.UUID, len(in.Skills))
		for i, sk := range in.Skills {
			ids[i] = sk.SkillID
		}
		if err := skillsExist(ctx, tx, a.TenantID, ids); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM agent_skills WHERE tenant_id = $1 AND user_id = $2`,
			`DELETE FROM agent_capacity WHERE tenant_id = $1 AND user_id = $2`} {
			if _, err := tx.Exec(ctx, q, a.TenantID, userID); err != nil {
				return fmt.Errorf("routing profile: %w", err)
			}
		}
		for _, sk := range in.Skills {
			if _, err := tx.Exec(ctx, `INSERT INTO agent_skills (tenant_id, user_id, skill_id, level) VALUES ($1, $2, $3, $4)`,
				a.TenantID, userID, sk.SkillID, sk.Level); err != nil {
				return fmt.Errorf("routing profile: %w", err)
			}
		}
		for ch, n := range in.Capacity {
			if n == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO agent_capacity (tenant_id, user_id, channel, capacity) VALUES ($1, $2, $3, $4)`,
				a.TenantID, userID, ch, n); err != nil {
				return fmt.Errorf("routing profile: %w", err)
			}
		}
		ps, err := profiles(ctx, tx, a.TenantID, []uuid.UUID{userID})
		if err != nil {
			return err
		}
		p = ps[0]
		return tenant.Audit(ctx, tx, a, "routing_profile.set", "user", userID.String(),
			map[string]any{"skills": p.Skills, "capacity": p.Capacity})
	})
	if err != nil {
		return Profile{}, err
	}
	return p, s.changed(ctx, a.TenantID, "profile", userID.String())
}

// GetProfile returns an agent's routing profile (empty if never set).
// Agents may read their own.
func (s *Service) GetProfile(ctx context.Context, a tenant.Actor, userID uuid.UUID) (Profile, error) {
	if userID != a.UserID {
		if err := requireViewer(a); err != nil {
			return Profile{}, err
		}
	}
	var p Profile
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1 AND id = $2`, a.TenantID, userID).Scan(&n); err != nil {
			return fmt.Errorf("routing profile: %w", err)
		}
		if n == 0 {
			return errAgentNotFound
		}
		ps, err := profiles(ctx, tx, a.TenantID, []uuid.UUID{userID})
		if err != nil {
			return err
		}
		p = ps[0]
		return nil
	})
	return p, err
}

// Profiles returns the profiles of every user that has one, for the
// engine's sync.
func (s *Service) Profiles(ctx context.Context, tenantID uuid.UUID) ([]Profile, error) {
	var out []Profile
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT user_id FROM agent_capacity WHERE tenant_id = $1
			UNION SELECT user_id FROM agent_skills WHERE tenant_id = $1`, tenantID)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		out, err = profiles(ctx, tx, tenantID, ids)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("routing profiles: %w", err)
	}
	return out, nil
}

func profiles(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, ids []uuid.UUID) ([]Profile, error) {
	out := make([]Profile, len(ids))
	idx := map[uuid.UUID]int{}
	for i, id := range ids {
		out[i] = Profile{UserID: id, Skills: []SkillLevel{}, Capacity: map[string]int{}}
		idx[id] = i
	}
	rows, err := tx.Query(ctx, `SELECT user_id, skill_id, level FROM agent_skills WHERE tenant_id = $1 AND user_id = ANY($2) ORDER BY skill_id`, tenantID, ids)
	if err != nil {
		return nil, fmt.Errorf("agent skills: %w", err)
	}
	var uid uuid.UUID
	var sl SkillLevel
	if _, err := pgx.ForEachRow(rows, []any{&uid, &sl.SkillID, &sl.Level}, func() error {
		out[idx[uid]].Skills = append(out[idx[uid]].Skills, sl)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("agent skills: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT user_id, channel, capacity FROM agent_capacity WHERE tenant_id = $1 AND user_id = ANY($2)`, tenantID, ids)
	if err != nil {
		return nil, fmt.Errorf("agent capacity: %w", err)
	}
	var ch string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&uid, &ch, &n}, func() error {
		out[idx[uid]].Capacity[ch] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("agent capacity: %w", err)
	}
	return out, nil
}

// ProfileOf returns one user's routing profile, for the engine's use.
func (s *Service) ProfileOf(ctx context.Context, tenantID, userID uuid.UUID) (Profile, error) {
	var p Profile
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		ps, err := profiles(ctx, tx, tenantID, []uuid.UUID{userID})
		if err != nil {
			return err
		}
		p = ps[0]
		return nil
	})
	return p, err
}
