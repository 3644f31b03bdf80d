package tenant

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AuditEntry is one line of a tenant's audit log: who did what, when,
// from where.
type AuditEntry struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	ActorID    *uuid.UUID     `json:"actor_id,omitempty"`
	ActorRole  string         `json:"actor_role"`
	IP         string         `json:"ip"`
	RequestID  string         `json:"request_id"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   string         `json:"target_id"`
	Details    map[string]any `json:"details"`
}

// Audit appends to the audit log inside the caller's transaction, so the
// record exists exactly when the action does.
func Audit(ctx context.Context, q Querier, a Actor, action, targetType, targetID string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	d, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("audit details: %w", err)
	}
	var actor *uuid.UUID
	if a.UserID != uuid.Nil {
		actor = &a.UserID
	}
	_, err = q.Exec(ctx, `INSERT INTO audit_log (tenant_id, actor_id, actor_role, ip, request_id, action, target_type, target_id, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		a.TenantID, actor, string(a.Role), a.IP, a.RequestID, action, targetType, targetID, d)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// ListAudit returns the newest entries first; before (an id) pages back.
func (s *Service) ListAudit(ctx context.Context, a Actor, before int64, limit int) ([]AuditEntry, error) {
	if err := requireManager(a); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	if before <= 0 {
		before = 1<<63 - 1
	}
	var out []AuditEntry
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, at, actor_id, actor_role, ip, request_id, action, target_type, target_id, details
			FROM audit_log WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, a.TenantID, before, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e AuditEntry
			var d []byte
			if err := rows.Scan(&e.ID, &e.At, &e.ActorID, &e.ActorRole, &e.IP, &e.RequestID, &e.Action, &e.TargetType, &e.TargetID, &d); err != nil {
				return err
			}
			_ = json.Unmarshal(d, &e.Details)
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 200:
		return 200
	}
	return n
}
