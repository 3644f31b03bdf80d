package directory

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Sealing is what SealSecrets did.
type Sealing struct {
	// Sealed is how many secrets it sealed (again).
	Sealed int
	// Opened is how many sealed secrets it found readable with the key.
	Opened int
	// Unreadable is how many sealed secrets no key of the box opens (a
	// wrong SECRETS_KEY, a JWT key dropped before rotating); First is the
	// first such error.
	Unreadable int
	First      error
}

// SealSecrets seals every provider secret still held in plain text (rows
// from before migration 00018), and checks that every sealed one opens.
// With rotate it also seals again every one not sealed with the first
// key of d.Secrets (after SECRETS_KEY or the JWT keys got a new first
// key), and stops at the first it cannot open. It visits every tenant,
// each in its own Tx; running it twice, or on two replicas at once, is
// harmless: each row is locked while it is sealed.
func (d *Directory) SealSecrets(ctx context.Context, rotate bool) (Sealing, error) {
	var res Sealing
	if d.Secrets == nil {
		return res, errNoSecretsBox
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
		return res, fmt.Errorf("seal secrets: list tenants: %w", err)
	}
	for _, id := range ids {
		if err := d.sealTenant(ctx, id, rotate, &res); err != nil {
			return res, fmt.Errorf("seal secrets of tenant %s: %w", id, err)
		}
	}
	return res, nil
}

func (d *Directory) sealTenant(ctx context.Context, tenantID uuid.UUID, rotate bool, total *Sealing) error {
	var res Sealing
	err := d.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		res = Sealing{}
		type row struct {
			provider string
			sealed   []byte
			plain    *string
		}
		rows, err := tx.Query(ctx, `SELECT provider, secret, secret_plain FROM channel_providers
			WHERE tenant_id = $1 ORDER BY provider FOR UPDATE`, tenantID)
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
			var plain []byte
			switch {
			case r.sealed == nil && r.plain != nil:
				plain = []byte(*r.plain)
			case r.sealed != nil:
				p, err := d.Secrets.Open(r.sealed)
				if err != nil {
					if rotate {
						return fmt.Errorf("provider %s: %w", r.provider, err)
					}
					res.Unreadable++
					if res.First == nil {
						res.First = fmt.Errorf("tenant %s provider %s: %w", tenantID, r.provider, err)
					}
					continue
				}
				res.Opened++
				if !rotate || !d.Secrets.NeedsRotation(r.sealed) {
					continue
				}
				plain = p
			default:
				continue
			}
			sealed, err := d.Secrets.Seal(plain)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE channel_providers SET secret = $3, secret_plain = NULL
				WHERE tenant_id = $1 AND provider = $2`, tenantID, r.provider, sealed); err != nil {
				return err
			}
			res.Sealed++
		}
		return nil
	})
	if err != nil {
		return err
	}
	total.Sealed += res.Sealed
	total.Opened += res.Opened
	total.Unreadable += res.Unreadable
	if total.First == nil {
		total.First = res.First
	}
	return nil
}
