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

// API keys read "ck1.<tenant>.<id>.<secret>", like refresh tokens: the
// tenant lets us enter its Tx, the id finds the row, sha256 is stored.
const apiKeyPrefix = "ck1"

// APIKey is an integrator's credential, as listed to admins (never the
// secret, which is shown once at creation).
type APIKey struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	CreatedBy  *uuid.UUID `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// IsAPIKey tells a bearer credential that is an API key from a JWT.
func IsAPIKey(token string) bool { return strings.HasPrefix(token, apiKeyPrefix+".") }

var errBadAPIKey = cic.Codef(cic.EUNAUTHORIZED, "invalid_api_key", "The API key is invalid or revoked.")

const apiKeyColumns = `id, name, created_by, created_at, last_used_at, revoked_at`

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	err := row.Scan(&k.ID, &k.Name, &k.CreatedBy, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	return k, err
}

// CreateAPIKey makes a key for the actor's tenant and returns it with its
// secret, which is not stored and cannot be shown again.
func (s *Service) CreateAPIKey(ctx context.Context, a Actor, name string) (APIKey, string, error) {
	if err := requireManager(a); err != nil {
		return APIKey{}, "", err
	}
	name, err := ValidateName("name", name, 100)
	if err != nil {
		return APIKey{}, "", err
	}
	secret, hash := newSecret()
	var k APIKey
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		k, err = scanAPIKey(tx.QueryRow(ctx, `INSERT INTO api_keys (tenant_id, id, name, secret_hash, created_by)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+apiKeyColumns, a.TenantID, uuid.New(), name, hash, a.UserID))
		if err != nil {
			return fmt.Errorf("insert api key: %w", err)
		}
		return Audit(ctx, tx, a, "api_key.create", "api_key", k.ID.String(), map[string]any{"name": name})
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, fmt.Sprintf("%s.%s.%s.%s", apiKeyPrefix, a.TenantID, k.ID, secret), nil
}

// ListAPIKeys lists the tenant's keys, newest first, revoked ones included.
func (s *Service) ListAPIKeys(ctx context.Context, a Actor) ([]APIKey, error) {
	if err := requireManager(a); err != nil {
		return nil, err
	}
	var out []APIKey
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id`, a.TenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) { return scanAPIKey(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey stops a key at once; revoking twice is harmless.
func (s *Service) RevokeAPIKey(ctx context.Context, a Actor, id uuid.UUID) (APIKey, error) {
	if err := requireManager(a); err != nil {
		return APIKey{}, err
	}
	var k APIKey
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		k, err = scanAPIKey(tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
			WHERE tenant_id = $1 AND id = $2 RETURNING `+apiKeyColumns, a.TenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return cic.Codef(cic.ENOTFOUND, "not_found", "No such API key.")
		}
		if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		return Audit(ctx, tx, a, "api_key.revoke", "api_key", id.String(), nil)
	})
	return k, err
}

// AuthenticateAPIKey checks an API key and returns the tenant it acts for
// and the key's id. last_used_at is refreshed at most once a minute so a
// busy integrator does not turn every call into a row update.
func (s *Service) AuthenticateAPIKey(ctx context.Context, key string) (tenantID, keyID uuid.UUID, err error) {
	tenantID, keyID, secret, ok := parseOpaque(key, apiKeyPrefix)
	if !ok {
		return uuid.Nil, uuid.Nil, errBadAPIKey
	}
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var hash []byte
		var revoked *time.Time
		var status string
		err := tx.QueryRow(ctx, `SELECT k.secret_hash, k.revoked_at, t.status FROM api_keys k
			JOIN tenants t ON t.tenant_id = k.tenant_id WHERE k.tenant_id = $1 AND k.id = $2`,
			tenantID, keyID).Scan(&hash, &revoked, &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return errBadAPIKey
		}
		if err != nil {
			return fmt.Errorf("load api key: %w", err)
		}
		if revoked != nil || status != "active" || !secretMatches(secret, hash) {
			return errBadAPIKey
		}
		_, err = tx.Exec(ctx, `UPDATE api_keys SET last_used_at = now() WHERE tenant_id = $1 AND id = $2
			AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, tenantID, keyID)
		return err
	})
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	return tenantID, keyID, nil
}
