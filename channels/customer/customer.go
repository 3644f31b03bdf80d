// Package customer is the one customer behind contacts on every channel:
// recognised by e-mail address, phone number, chat visitor or social
// handle, merged by an agent when two turn out to be one person, with
// preferences the desk shows, the timeline of all their contacts, and the
// satisfaction survey sent after a contact closes.
//
// Invariants: an identity belongs to one customer of a tenant; a merged
// customer keeps no identities or contacts and points at the customer
// that absorbed it, so a stale id still leads to the right person.
package customer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Opt-outs a customer may have.
const (
	NoSalesPhone = "no_sales_phone"
	NoSalesEmail = "no_sales_email"
	NoSalesSMS   = "no_sales_sms"
	NoSurveys    = "no_surveys"
)

// Customer is one person or company contacting a tenant.
type Customer struct {
	ID               uuid.UUID  `json:"id"`
	DisplayName      string     `json:"display_name"`
	PreferredChannel *string    `json:"preferred_channel"`
	OptOuts          []string   `json:"opt_outs"`
	Notes            string     `json:"notes"`
	Identities       []Identity `json:"identities"`
	CreatedAt        time.Time  `json:"created_at"`
}

// Identity is one way a customer is recognised.
type Identity struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// Service keeps the customers of every tenant.
type Service struct {
	DB *tenant.DB
}

var errNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "Customer not found.")

// Resolve returns the customer an identity belongs to, creating one (with
// displayName) the first time the identity is seen.
func (s *Service) Resolve(ctx context.Context, tenantID uuid.UUID, kind, value, displayName string) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		id, err = ResolveTx(ctx, tx, tenantID, kind, value, displayName)
		return err
	})
	return id, err
}

// ResolveTx is Resolve inside the caller's transaction, so a contact and
// its customer are recorded together.
func ResolveTx(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, kind, value, displayName string) (uuid.UUID, error) {
	v, err := Normalize(kind, value)
	if err != nil {
		return uuid.Nil, err
	}
	if len(displayName) > 200 {
		displayName = displayName[:200]
	}
	for range 3 {
		var id uuid.UUID
		err := tx.QueryRow(ctx, `SELECT customer_id FROM customer_identities WHERE tenant_id = $1 AND kind = $2 AND value = $3`,
			tenantID, kind, v).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return uuid.Nil, fmt.Errorf("find customer: %w", err)
		}
		id = uuid.New()
		if _, err := tx.Exec(ctx, `INSERT INTO customers (tenant_id, id, display_name) VALUES ($1, $2, $3)`, tenantID, id, displayName); err != nil {
			return uuid.Nil, fmt.Errorf("new customer: %w", err)
		}
		// A concurrent first contact from the same address may win the
		// identity; then ours is dropped and theirs is read back.
		tag, err := tx.Exec(ctx, `INSERT INTO customer_identities (tenant_id, kind, value, customer_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, tenantID, kind, v, id)
		if err != nil {
			return uuid.Nil, fmt.Errorf("new identity: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return id, nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM customers WHERE tenant_id = $1 AND id = $2`, tenantID, id); err != nil {
			return uuid.Nil, err
		}
	}
	return uuid.Nil, fmt.Errorf("resolve customer %s: identity kept changing", kind)
}

// Get returns a customer with its identities; a merged customer's id
// leads to the customer that absorbed it.
func (s *Service) Get(ctx context.Context, tenantID, id uuid.UUID) (Customer, error) {
	var c Customer
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		c, err = get(ctx, tx, tenantID, id)
		return err
	})
	return c, err
}

func get(ctx context.Context, tx pgx.Tx, tenantID, id uuid.UUID) (Customer, error) {
	var c Customer
	for range 10 { // follow merges
		var into *uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id, display_name, preferred_channel, opt_outs, notes, created_at, merged_into
			FROM customers WHERE tenant_id = $1 AND id = $2`, tenantID, id).
			Scan(&c.ID, &c.DisplayName, &c.PreferredChannel, &c.OptOuts, &c.Notes, &c.CreatedAt, &into)
		if errors.Is(err, pgx.ErrNoRows) {
			return Customer{}, errNotFound
		}
		if err != nil {
			return Customer{}, fmt.Errorf("customer: %w", err)
		}
		if into == nil {
			break
		}
		id = *into
	}
	rows, err := tx.Query(ctx, `SELECT kind, value FROM customer_identities WHERE tenant_id = $1 AND customer_id = $2 ORDER BY kind, value`, tenantID, c.ID)
	if err != nil {
		return Customer{}, err
	}
	c.Identities, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Identity])
	if err != nil {
		return Customer{}, fmt.Errorf("identities: %w", err)
	}
	return c, nil
}

// Preferences are what an agent may change about a customer.
type Preferences struct {
	DisplayName      *string  `json:"display_name"`
	PreferredChannel *string  `json:"preferred_channel"`
	OptOuts          []string `json:"opt_outs"`
	Notes            *string  `json:"notes"`
}

var channelNames = map[string]bool{"chat": true, "email": true, "voice": true, "sms": true, "social": true, "fax": true}

var optOuts = map[string]bool{NoSalesPhone: true, NoSalesEmail: true, NoSalesSMS: true, NoSurveys: true}

// SetPreferences changes what p sets (nil fields are kept; an empty
// preferred channel clears it).
func (s *Service) SetPreferences(ctx context.Context, a tenant.Actor, id uuid.UUID, p Preferences) (Customer, error) {
	if p.PreferredChannel != nil && *p.PreferredChannel != "" && !channelNames[*p.PreferredChannel] {
		return Customer{}, cic.Codef(cic.EINVALID, "invalid_channel", "The preferred channel is one of chat, email, voice, sms, social, fax.")
	}
	for _, o := range p.OptOuts {
		if !optOuts[o] {
			return Customer{}, cic.Codef(cic.EINVALID, "invalid_opt_out", "Unknown preference %q.", o)
		}
	}
	if p.DisplayName != nil && len(*p.DisplayName) > 200 {
		return Customer{}, cic.Codef(cic.EINVALID, "invalid_name", "A name is at most 200 characters.")
	}
	if p.Notes != nil && len(*p.Notes) > 2000 {
		return Customer{}, cic.Codef(cic.EINVALID, "invalid_notes", "Notes are at most 2000 characters.")
	}
	var c Customer
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		cur, err := get(ctx, tx, a.TenantID, id)
		if err != nil {
			return err
		}
		var pref *string
		if p.PreferredChannel != nil && *p.PreferredChannel != "" {
			pref = p.PreferredChannel
		}
		opt := p.OptOuts
		if opt == nil {
			opt = cur.OptOuts
		}
		_, err = tx.Exec(ctx, `UPDATE customers SET display_name = coalesce($3, display_name),
			preferred_channel = CASE WHEN $4 THEN $5 ELSE preferred_channel END, opt_outs = $6,
			notes = coalesce($7, notes), updated_at = now() WHERE tenant_id = $1 AND id = $2`,
			a.TenantID, cur.ID, p.DisplayName, p.PreferredChannel != nil, pref, opt, p.Notes)
		if err != nil {
			return fmt.Errorf("customer preferences: %w", err)
		}
		if err := tenant.Audit(ctx, tx, a, "customer.preferences", "customer", cur.ID.String(), map[string]any{
			"preferred_channel": pref, "opt_outs": opt}); err != nil {
			return err
		}
		c, err = get(ctx, tx, a.TenantID, cur.ID)
		return err
	})
	return c, err
}

// Link adds an identity to a customer. An identity that already belongs
// to another customer is refused with that customer's id in the message:
// the agent merges the two instead.
func (s *Service) Link(ctx context.Context, a tenant.Actor, id uuid.UUID, kind, value string) (Customer, error) {
	v, err := Normalize(kind, value)
	if err != nil {
		return Customer{}, err
	}
	var c Customer
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		cur, err := get(ctx, tx, a.TenantID, id)
		if err != nil {
			return err
		}
		var owner uuid.UUID
		err = tx.QueryRow(ctx, `INSERT INTO customer_identities (tenant_id, kind, value, customer_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant_id, kind, value) DO UPDATE SET kind = EXCLUDED.kind RETURNING customer_id`,
			a.TenantID, kind, v, cur.ID).Scan(&owner)
		if err != nil {
			return fmt.Errorf("link identity: %w", err)
		}
		if owner != cur.ID {
			return cic.Codef(cic.ECONFLICT, "identity_taken", "%s belongs to another customer (%s); merge the two instead.", v, owner)
		}
		if err := tenant.Audit(ctx, tx, a, "customer.link", "customer", cur.ID.String(), map[string]any{"kind": kind, "value": v}); err != nil {
			return err
		}
		c, err = get(ctx, tx, a.TenantID, cur.ID)
		return err
	})
	return c, err
}

// Merge makes from and into one customer: from's identities, contacts
// and surveys move to into, and from points at into from then on.
func (s *Service) Merge(ctx context.Context, a tenant.Actor, into, from uuid.UUID) (Customer, error) {
	var c Customer
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		dst, err := get(ctx, tx, a.TenantID, into)
		if err != nil {
			return err
		}
		src, err := get(ctx, tx, a.TenantID, from)
		if err != nil {
			return err
		}
		if src.ID == dst.ID {
			return cic.Codef(cic.EINVALID, "same_customer", "These are already the same customer.")
		}
		// Lock both rows in id order, so two opposite merges cannot deadlock.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM customers WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE`,
			a.TenantID, []uuid.UUID{src.ID, dst.ID}); err != nil {
			return err
		}
		for _, q := range []string{
			`UPDATE customer_identities SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2`,
			`UPDATE contacts SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2`,
			`UPDATE csat_surveys SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2`,
			`UPDATE customers SET merged_into = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
			`UPDATE customers c SET merged_into = $3 WHERE tenant_id = $1 AND merged_into = $2`,
			`UPDATE customers SET display_name = CASE WHEN display_name = '' THEN (SELECT display_name FROM customers
				WHERE tenant_id = $1 AND id = $2) ELSE display_name END, updated_at = now() WHERE tenant_id = $1 AND id = $3`,
		} {
			if _, err := tx.Exec(ctx, q, a.TenantID, src.ID, dst.ID); err != nil {
				return fmt.Errorf("merge customers: %w", err)
			}
		}
		if err := tenant.Audit(ctx, tx, a, "customer.merge", "customer", dst.ID.String(), map[string]any{"merged": src.ID}); err != nil {
			return err
		}
		c, err = get(ctx, tx, a.TenantID, dst.ID)
		return err
	})
	return c, err
}

// Search finds customers whose name or identity contains q (at most 20).
func (s *Service) Search(ctx context.Context, tenantID uuid.UUID, q string) ([]Customer, error) {
	if len(q) < 2 || len(q) > 200 {
		return nil, cic.Codef(cic.EINVALID, "invalid_query", "Search for 2 to 200 characters.")
	}
	var out []Customer
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT c.id FROM customers c
			LEFT JOIN customer_identities i ON i.tenant_id = c.tenant_id AND i.customer_id = c.id
			WHERE c.tenant_id = $1 AND c.merged_into IS NULL
			  AND (strpos(lower(c.display_name), lower($2)) > 0 OR strpos(i.value, lower($2)) > 0)
			LIMIT 20`, tenantID, q)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		out = make([]Customer, 0, len(ids))
		for _, id := range ids {
			c, err := get(ctx, tx, tenantID, id)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search customers: %w", err)
	}
	return out, nil
}

// Find returns the customer an identity belongs to, without creating one.
func (s *Service) Find(ctx context.Context, tenantID uuid.UUID, kind, value string) (Customer, bool, error) {
	v, err := Normalize(kind, value)
	if err != nil {
		return Customer{}, false, err
	}
	var c Customer
	found := false
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var id uuid.UUID
		err := tx.QueryRow(ctx, `SELECT customer_id FROM customer_identities WHERE tenant_id = $1 AND kind = $2 AND value = $3`,
			tenantID, kind, v).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		c, err = get(ctx, tx, tenantID, id)
		found = err == nil
		return err
	})
	return c, found, err
}

// identityKind is the kind of identity a channel's address is.
func identityKind(channel string) string {
	switch channel {
	case "email":
		return KindEmail
	case "social":
		return KindHandle
	case "chat":
		return KindVisitor
	}
	return KindPhone
}

// IdentityKind is the kind of identity a customer has on channel.
func IdentityKind(channel string) string { return identityKind(channel) }

// OutboundAllowed applies the customer's opt-outs to a contact an agent
// starts: a campaign (a sales offer) is not sent on a channel the
// customer said no sales offers on; service contacts always may be.
func OutboundAllowed(c Customer, channel, campaign string) error {
	if campaign == "" {
		return nil
	}
	no := map[string]string{"voice": NoSalesPhone, "email": NoSalesEmail, "sms": NoSalesSMS}[channel]
	for _, o := range c.OptOuts {
		if o == no {
			return cic.Codef(cic.ECONFLICT, "customer_opted_out", "This customer asked for no sales offers by %s.",
				map[string]string{"voice": "phone", "email": "e-mail", "sms": "SMS"}[channel])
		}
	}
	return nil
}
