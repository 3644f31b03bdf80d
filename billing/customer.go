package billing

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	"github.com/cic-platform/cic/tenant"
)

// systemActor is the billing worker or Stripe acting on a tenant, for the
// audit log: no user, the request id says which.
func systemActor(tenantID uuid.UUID, what string) tenant.Actor {
	return tenant.Actor{TenantID: tenantID, RequestID: what}
}

// customerOf returns the tenant's Stripe customer id ("" when none yet).
func customerOf(ctx context.Context, q tenant.Querier, tenantID uuid.UUID) (string, error) {
	var id *string
	if err := q.QueryRow(ctx, `SELECT stripe_customer_id FROM tenants WHERE tenant_id = $1`, tenantID).Scan(&id); err != nil {
		return "", fmt.Errorf("stripe customer of tenant: %w", err)
	}
	if id == nil {
		return "", nil
	}
	return *id, nil
}

// EnsureCustomer returns the tenant's Stripe customer, creating it once.
// The idempotency key is the tenant id, so two racing callers (the sign-up
// job and a first purchase) get the same customer from Stripe, and only
// the first write is kept. In local mode there is no customer: "".
func (s *Service) EnsureCustomer(ctx context.Context, tenantID uuid.UUID) (string, error) {
	if s.Stripe == nil {
		return "", nil
	}
	var t tenant.Tenant
	var existing string
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if t, err = tenant.Get(ctx, tx, tenantID); err != nil {
			return err
		}
		existing, err = customerOf(ctx, tx, tenantID)
		return err
	})
	if err != nil || existing != "" {
		return existing, err
	}
	params := &stripe.CustomerParams{
		Name:     stripe.String(t.Name),
		Metadata: map[string]string{"tenant_id": tenantID.String(), "slug": t.Slug},
	}
	idem(&params.Params, "customer", tenantID.String())
	c, err := s.Stripe.Customers.New(params)
	if err != nil {
		return "", stripeErr("create customer", err)
	}
	var kept string
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tenants SET stripe_customer_id = $2 WHERE tenant_id = $1 AND stripe_customer_id IS NULL`, tenantID, c.ID)
		if err != nil {
			return fmt.Errorf("save stripe customer: %w", err)
		}
		if tag.RowsAffected() == 0 {
			kept, err = customerOf(ctx, tx, tenantID)
			return err
		}
		kept = c.ID
		return tenant.Audit(ctx, tx, systemActor(tenantID, "billing:customer"), "billing.customer_created", "tenant", tenantID.String(),
			map[string]any{"stripe_customer_id": c.ID})
	})
	if err != nil {
		return "", err
	}
	return kept, nil
}
