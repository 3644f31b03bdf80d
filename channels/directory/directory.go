// Package directory knows what leads a customer to a tenant (its
// mailboxes, phone numbers and social pages, each routed to a queue or,
// for calls, an IVR menu) and the tenant's credentials at its providers.
// Addresses are unique platform-wide, so an inbound mail finds its tenant
// from the recipient alone. A provider's secret is kept sealed
// (infra/secretbox), never in plain text, and its API address is one the
// outbound policy allows (infra/outbound).
package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/infra/outbound"
	"github.com/cic-platform/cic/infra/secretbox"
	"github.com/cic-platform/cic/tenant"
)

// Providers.
const (
	Twilio = "twilio" // voice and SMS (Twilio-compatible)
	Social = "social" // the generic signed JSON webhook
	Fax    = "fax"
)

// Address is a mailbox, number or page of a tenant.
type Address struct {
	ID        uuid.UUID  `json:"id"`
	Channel   string     `json:"channel"`
	Address   string     `json:"address"`
	QueueID   *uuid.UUID `json:"queue_id"`
	IVRMenuID *uuid.UUID `json:"ivr_menu_id"`
	CreatedAt time.Time  `json:"created_at"`
}

// Provider is a tenant's account at a provider. Secret signs the
// provider's webhooks and authenticates our calls to its API.
type Provider struct {
	Provider  string    `json:"provider"`
	AccountID string    `json:"account_id"`
	Secret    string    `json:"-"`
	APIBase   string    `json:"api_base"`
	From      string    `json:"from"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Directory reads and keeps addresses and providers.
type Directory struct {
	DB *tenant.DB
	// InboundDomain is where tenants' own mailboxes live
	// (<name>@<slug>.<InboundDomain>): a tenant may only list addresses
	// under its own slug there.
	InboundDomain string
	// Secrets seals providers' secrets; nil: providers cannot be read or
	// saved (an internal error), never stored in plain text.
	Secrets *secretbox.Box
	// Outbound decides which API addresses may be saved; nil: the strict
	// policy (https to a public address).
	Outbound *outbound.Policy
}

var errNoSecretsBox = errors.New("directory: no secrets key configured")

var (
	errNoAddress  = cic.Codef(cic.ENOTFOUND, "unknown_address", "No company receives on this address.")
	errNoProvider = cic.Codef(cic.ENOTFOUND, "no_provider", "The provider is not set up for this company.")
)

// NormalizeAddress returns an address in its stored form for channel.
func NormalizeAddress(channel, address string) (string, error) {
	switch channel {
	case "email":
		return customer.Normalize(customer.KindEmail, address)
	case "voice", "sms", "fax":
		return customer.NormalizePhone(address)
	case "social":
		return customer.Normalize(customer.KindHandle, address)
	}
	return "", cic.Codef(cic.EINVALID, "invalid_channel", "Addresses are for email, voice, sms, social or fax.")
}

const addressColumns = `id, channel, address, queue_id, ivr_menu_id, created_at`

func scanAddress(row pgx.Row) (Address, error) {
	var a Address
	err := row.Scan(&a.ID, &a.Channel, &a.Address, &a.QueueID, &a.IVRMenuID, &a.CreatedAt)
	return a, err
}

// Lookup finds the tenant an address belongs to, before any tenant is
// known (the SMTP RCPT TO): it reads that one row and nothing else.
func (d *Directory) Lookup(ctx context.Context, channel, address string) (uuid.UUID, Address, error) {
	v, err := NormalizeAddress(channel, address)
	if err != nil {
		return uuid.Nil, Address{}, err
	}
	var tenantID uuid.UUID
	var a Address
	err = d.DB.AddressTx(ctx, channel+":"+v, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT `+addressColumns+`, tenant_id FROM channel_addresses WHERE lookup_key = $1`, channel+":"+v).
			Scan(&a.ID, &a.Channel, &a.Address, &a.QueueID, &a.IVRMenuID, &a.CreatedAt, &tenantID)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, Address{}, errNoAddress
	}
	if err != nil {
		return uuid.Nil, Address{}, fmt.Errorf("address lookup: %w", err)
	}
	return tenantID, a, nil
}

// AddressOf finds a tenant's own address (a webhook that named its tenant).
func (d *Directory) AddressOf(ctx context.Context, tenantID uuid.UUID, channel, address string) (Address, error) {
	v, err := NormalizeAddress(channel, address)
	if err != nil {
		return Address{}, err
	}
	var a Address
	err = d.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		a, err = scanAddress(tx.QueryRow(ctx, `SELECT `+addressColumns+` FROM channel_addresses WHERE tenant_id = $1 AND lookup_key = $2`,
			tenantID, channel+":"+v))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Address{}, errNoAddress
	}
	return a, err
}

// Addresses lists a tenant's addresses.
func (d *Directory) Addresses(ctx context.Context, tenantID uuid.UUID) ([]Address, error) {
	out := []Address{}
	err := d.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+addressColumns+` FROM channel_addresses WHERE tenant_id = $1 ORDER BY channel, address`, tenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Address, error) { return scanAddress(r) })
		return err
	})
	return out, err
}

// FirstAddress returns the tenant's first address on channel: the sender
// of outbound contacts on it.
func (d *Directory) FirstAddress(ctx context.Context, tenantID uuid.UUID, channel string) (Address, error) {
	var a Address
	err := d.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		a, err = scanAddress(tx.QueryRow(ctx, `SELECT `+addressColumns+` FROM channel_addresses WHERE tenant_id = $1 AND channel = $2
			ORDER BY created_at, address LIMIT 1`, tenantID, channel))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Address{}, cic.Codef(cic.ECONFLICT, "no_address", "Set up a %s address for the company first.", channel)
	}
	return a, err
}

// AddAddress gives the tenant an address leading to a queue (or an IVR
// menu, for calls). Only managers may; it is audited.
func (d *Directory) AddAddress(ctx context.Context, a tenant.Actor, in Address) (Address, error) {
	if !a.Role.Manages() {
		return Address{}, cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may change channel addresses.")
	}
	v, err := NormalizeAddress(in.Channel, in.Address)
	if err != nil {
		return Address{}, err
	}
	if in.QueueID == nil && in.IVRMenuID == nil {
		return Address{}, cic.Codef(cic.EINVALID, "invalid_target", "An address leads to a queue (or, for calls, an IVR menu).")
	}
	if in.IVRMenuID != nil && in.Channel != "voice" {
		return Address{}, cic.Codef(cic.EINVALID, "invalid_target", "Only phone numbers for calls lead to an IVR menu.")
	}
	var out Address
	err = d.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		if in.QueueID != nil {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM queues WHERE tenant_id = $1 AND id = $2`, a.TenantID, *in.QueueID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return cic.Codef(cic.EINVALID, "invalid_queue", "No such queue.")
			}
		}
		if in.IVRMenuID != nil {
			// Under row-level security another tenant's menu is not seen:
			// it is as unknown as one that never was.
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM ivr_menus WHERE tenant_id = $1 AND id = $2`, a.TenantID, *in.IVRMenuID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return cic.Codef(cic.EINVALID, "invalid_ivr_menu", "No such IVR menu.")
			}
		}
		if err := d.ownMailDomain(ctx, tx, a.TenantID, in.Channel, v); err != nil {
			return err
		}
		var err error
		out, err = scanAddress(tx.QueryRow(ctx, `INSERT INTO channel_addresses (tenant_id, id, channel, address, queue_id, ivr_menu_id)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (lookup_key) DO NOTHING RETURNING `+addressColumns,
			a.TenantID, uuid.New(), in.Channel, v, in.QueueID, in.IVRMenuID))
		if errors.Is(err, pgx.ErrNoRows) {
			return cic.Codef(cic.ECONFLICT, "address_taken", "%s is already in use.", v)
		}
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "23503" {
			// A queue or menu deleted since the checks above.
			return cic.Codef(cic.EINVALID, "invalid_target", "The queue or IVR menu no longer exists.")
		}
		if err != nil {
			return fmt.Errorf("add address: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "channel.address_add", "channel_address", out.ID.String(),
			map[string]any{"channel": in.Channel, "address": v})
	})
	return out, err
}

// RemoveAddress takes an address away from the tenant.
func (d *Directory) RemoveAddress(ctx context.Context, a tenant.Actor, id uuid.UUID) error {
	if !a.Role.Manages() {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may change channel addresses.")
	}
	return d.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var addr string
		err := tx.QueryRow(ctx, `DELETE FROM channel_addresses WHERE tenant_id = $1 AND id = $2 RETURNING lookup_key`, a.TenantID, id).Scan(&addr)
		if errors.Is(err, pgx.ErrNoRows) {
			return cic.Codef(cic.ENOTFOUND, "not_found", "Address not found.")
		}
		if err != nil {
			return err
		}
		return tenant.Audit(ctx, tx, a, "channel.address_remove", "channel_address", id.String(), map[string]any{"address": addr})
	})
}

// Provider returns the tenant's account at a provider, its secret
// unsealed.
func (d *Directory) Provider(ctx context.Context, tenantID uuid.UUID, provider string) (Provider, error) {
	var p Provider
	var sealed []byte
	var plain *string
	err := d.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT provider, account_id, secret, secret_plain, api_base, from_addr, updated_at FROM channel_providers
			WHERE tenant_id = $1 AND provider = $2`, tenantID, provider).Scan(&p.Provider, &p.AccountID, &sealed, &plain, &p.APIBase, &p.From, &p.UpdatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Provider{}, errNoProvider
	}
	if err != nil {
		return Provider{}, err
	}
	switch {
	case sealed != nil:
		if d.Secrets == nil {
			return Provider{}, errNoSecretsBox
		}
		secret, err := d.Secrets.Open(sealed)
		if err != nil {
			return Provider{}, fmt.Errorf("provider %s secret: %w", provider, err)
		}
		p.Secret = string(secret)
	case plain != nil:
		// From before secrets were sealed, until SealSecrets seals it.
		p.Secret = *plain
	}
	return p, nil
}

// Providers lists the tenant's provider accounts (secrets are not shown).
func (d *Directory) Providers(ctx context.Context, tenantID uuid.UUID) ([]Provider, error) {
	out := []Provider{}
	err := d.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT provider, account_id, '', api_base, from_addr, updated_at FROM channel_providers
			WHERE tenant_id = $1 ORDER BY provider`, tenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Provider])
		return err
	})
	return out, err
}

// SetProvider saves the tenant's account at a provider; an empty secret
// keeps the saved one. Audited, without the secret.
func (d *Directory) SetProvider(ctx context.Context, a tenant.Actor, p Provider) error {
	if !a.Role.Manages() {
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may change provider settings.")
	}
	if p.Provider != Twilio && p.Provider != Social && p.Provider != Fax {
		return cic.Codef(cic.EINVALID, "invalid_provider", "The provider is twilio, social or fax.")
	}
	if p.Secret != "" && (len(p.Secret) < 8 || len(p.Secret) > 500) {
		return cic.Codef(cic.EINVALID, "invalid_secret", "The secret is 8 to 500 characters.")
	}
	if len(p.AccountID) > 200 || len(p.APIBase) > 500 || len(p.From) > 320 {
		return cic.Codef(cic.EINVALID, "invalid_provider", "A provider field is too long.")
	}
	// We post the tenant's credentials to api_base and act on its answer:
	// only https to a public server (checked again at each connection).
	if p.APIBase != "" {
		if err := d.Outbound.CheckURL(ctx, p.APIBase); err != nil {
			return err
		}
	}
	var sealed []byte
	if p.Secret != "" {
		if d.Secrets == nil {
			return errNoSecretsBox
		}
		var err error
		if sealed, err = d.Secrets.Seal([]byte(p.Secret)); err != nil {
			return fmt.Errorf("seal provider secret: %w", err)
		}
	}
	return d.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		if p.Secret == "" {
			var tag interface{ RowsAffected() int64 }
			tag, err = tx.Exec(ctx, `UPDATE channel_providers SET account_id = $3, api_base = $4, from_addr = $5, updated_at = now()
				WHERE tenant_id = $1 AND provider = $2`, a.TenantID, p.Provider, p.AccountID, p.APIBase, p.From)
			if err == nil && tag.RowsAffected() == 0 {
				return cic.Codef(cic.EINVALID, "invalid_secret", "Enter the provider's secret (auth token).")
			}
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO channel_providers (tenant_id, provider, account_id, secret, api_base, from_addr)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, provider) DO UPDATE SET account_id = EXCLUDED.account_id,
				secret = EXCLUDED.secret, secret_plain = NULL, api_base = EXCLUDED.api_base, from_addr = EXCLUDED.from_addr, updated_at = now()`,
				a.TenantID, p.Provider, p.AccountID, sealed, p.APIBase, p.From)
		}
		if err != nil {
			return fmt.Errorf("set provider: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "channel.provider_set", "channel_provider", p.Provider,
			map[string]any{"account_id": p.AccountID, "api_base": p.APIBase, "secret_changed": p.Secret != ""})
	})
}

// ownMailDomain refuses a mailbox under another tenant's slug of the
// inbound domain: such mail is the other tenant's whatever is listed.
func (d *Directory) ownMailDomain(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, channel, address string) error {
	if channel != "email" || d.InboundDomain == "" {
		return nil
	}
	_, domain, _ := strings.Cut(address, "@")
	sub, ok := strings.CutSuffix(domain, "."+strings.ToLower(d.InboundDomain))
	if !ok {
		return nil
	}
	var slug string
	if err := tx.QueryRow(ctx, `SELECT slug FROM tenants WHERE tenant_id = $1`, tenantID).Scan(&slug); err != nil {
		return fmt.Errorf("tenant slug: %w", err)
	}
	if sub != slug {
		return cic.Codef(cic.EINVALID, "foreign_mail_domain", "Your mailboxes here end in @%s.%s.", slug, d.InboundDomain)
	}
	return nil
}
