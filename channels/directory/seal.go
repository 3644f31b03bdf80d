package directory

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/infra/secretbox"
)

// SealSecrets seals every provider secret still held in plain text (rows
// from before migration 00018) and, with rotate, seals again every one
// not sealed with the first key of d.Secrets (after SECRETS_KEY or the
// JWT key got a new first key). It visits every tenant, in its own Tx,
// and returns how many secrets it sealed. Running it twice, or on two
// replicas at once, is harmless: each row is locked while it is sealed.
func (d *Directory) SealSecrets(ctx context.Context, rotate bool) (int, error) {
	if d.Secrets == nil {
		return 0, errNoSecretsBox
	}
	var ids []uuid.UUID
	// Every tenant, suspended ones too: their secrets are as secret.
	err := d.DB.PlatformTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id FROM tenants ORDER BY tenant_id`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("seal secrets: list tenants: %w", err)
	}
	n := 0
	for _, id := range ids {
		k, err := sealTenant(ctx, d, id, rotate)
		n += k
		if err != nil {
			return n, fmt.Errorf("seal secrets of tenant %s: %w", id, err)
		}
	}
	return n, nil
}

func sealTenant(ctx context.Context, d *Directory, tenantID uuid.UUID, rotate bool) (int, error) {
	n := 0
	err := d.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		n = 0
		type row struct {
			provider string
			sealed   []byte
			plain    *string
		}
		rows, err := tx.Query(ctx, `SELECT provider, secret, secret_plain FROM channel_providers
			WHERE tenant_id = $1 AND (secret_plain IS NOT NULL OR $2) ORDER BY provider FOR UPDATE`, tenantID, rotate)
		if err != nil {
			return err
		}
		todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.provider, &x.sealed, &x.plain)
		})
		if err != nil {
			return err
		}
		for _, r := range todo {
			plain, err := unsealed(d.Secrets, r.sealed, r.plain)
			if err != nil {
				return fmt.Errorf("provider %s: %w", r.provider, err)
			}
			if plain == nil {
				continue // sealed with the first key already
			}
			sealed, err := d.Secrets.Seal(plain)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE channel_providers SET secret = $3, secret_plain = NULL
				WHERE tenant_id = $1 AND provider = $2`, tenantID, r.provider, sealed); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// unsealed is the secret of a row that needs sealing (again), or nil.
func unsealed(box *secretbox.Box, sealed []byte, plain *string) ([]byte, error) {
	if sealed == nil {
		if plain == nil {
			return nil, nil
		}
		return []byte(*plain), nil
	}
	if plain == nil && !box.NeedsRotation(sealed) {
		return nil, nil
	}
	return box.Open(sealed)
}
