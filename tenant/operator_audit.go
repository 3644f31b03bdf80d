package tenant

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// OperatorAuditEntry is one line of the platform's audit log: which
// operator (by name, as it was then) did what, when, from where.
type OperatorAuditEntry struct {
	ID            int64          `json:"id"`
	At            time.Time      `json:"at"`
	OperatorID    *uuid.UUID     `json:"operator_id,omitempty"`
	OperatorName  string         `json:"operator_name"`
	OperatorEmail string         `json:"operator_email"`
	IP            string         `json:"ip"`
	RequestID     string         `json:"request_id"`
	Action        string         `json:"action"`
	TargetType    string         `json:"target_type"`
	TargetID      string         `json:"target_id"`
	Details       map[string]any `json:"details"`
}

// Audit records an operator's action (a catalogue edit, a negotiated
// price) in the platform audit log.
func (o *Operators) Audit(ctx context.Context, op Operator, m ClientMeta, action, targetType, targetID string, details map[string]any) error {
	return o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
		return operatorAudit(ctx, tx, op, m, action, targetType, targetID, details)
	})
}

func operatorAudit(ctx context.Context, q Querier, op Operator, m ClientMeta, action, targetType, targetID string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	d, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("operator audit details: %w", err)
	}
	var id *uuid.UUID
	if op.ID != uuid.Nil {
		id = &op.ID
	}
	_, err = q.Exec(ctx, `INSERT INTO operator_audit (operator_id, operator_name, operator_email, ip, request_id, action, target_type, target_id, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, id, op.Name, op.Email, m.IP, m.RequestID, action, targetType, targetID, d)
	if err != nil {
		return fmt.Errorf("operator audit %s: %w", action, err)
	}
	return nil
}

// ListAudit returns the platform audit log, newest first; before (an id)
// pages back.
func (o *Operators) ListAudit(ctx context.Context, before int64, limit int) ([]OperatorAuditEntry, error) {
	limit = clampLimit(limit)
	if before <= 0 {
		before = 1<<63 - 1
	}
	out := []OperatorAuditEntry{}
	err := o.DB.operatorTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, at, operator_id, operator_name, operator_email, ip, request_id, action, target_type, target_id, details
			FROM operator_audit WHERE id < $1 ORDER BY id DESC LIMIT $2`, before, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e OperatorAuditEntry
			var d []byte
			if err := rows.Scan(&e.ID, &e.At, &e.OperatorID, &e.OperatorName, &e.OperatorEmail, &e.IP, &e.RequestID, &e.Action, &e.TargetType, &e.TargetID, &d); err != nil {
				return err
			}
			_ = json.Unmarshal(d, &e.Details)
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list operator audit: %w", err)
	}
	return out, nil
}
