// Package seats is the tenant's concurrent-seat pool: how many users may
// be logged in at once. Grants (trial, subscription) live in PostgreSQL;
// the pool's limit is the sum of the grants valid now.
package seats

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/tenant"
)

// Trial is the seat grant of a new tenant.
type Trial struct {
	Seats    int
	Validity time.Duration
}

// DefaultTrial: 2 concurrent seats for 30 days.
var DefaultTrial = Trial{Seats: 2, Validity: 30 * 24 * time.Hour}

// TrialHook records the trial seats inside the sign-up transaction.
func TrialHook(tr Trial) tenant.SignupHook {
	return func(ctx context.Context, tx pgx.Tx, t tenant.Tenant, now time.Time) error {
		_, err := tx.Exec(ctx, `INSERT INTO seat_grants (tenant_id, id, source, seats, valid_from, valid_until)
			VALUES ($1, $2, 'trial', $3, $4, $5)`, t.ID, uuid.New(), tr.Seats, now, now.Add(tr.Validity))
		if err != nil {
			return fmt.Errorf("insert trial seats: %w", err)
		}
		return nil
	}
}

// Limit returns the number of concurrent seats the tenant holds at now.
func Limit(ctx context.Context, q tenant.Querier, tenantID uuid.UUID, now time.Time) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT coalesce(sum(seats), 0) FROM seat_grants
		WHERE tenant_id = $1 AND valid_from <= $2 AND valid_until > $2`, tenantID, now).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("seat limit: %w", err)
	}
	return n, nil
}
