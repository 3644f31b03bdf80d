package billing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// Overage prices are the platform's: the catalogue's pay-as-you-go rate
// per currency (catalog_overage_prices), or a price the operator
// negotiated with one tenant (negotiated_overage_prices). metering reads
// both when it records an overage contact; only the operator's edge calls
// what is here, and every change is audited in the tenant's log with the
// operator's name, so the tenant sees who set its price.

// PutOveragePrice sets the catalogue's pay-as-you-go rate in currency.
func (s *Service) PutOveragePrice(ctx context.Context, currency string, priceMinor int64) error {
	cur, err := tenant.ValidateCurrency(currency)
	if err != nil {
		return err
	}
	if priceMinor < 1 || priceMinor > maxPrice {
		return cic.Codef(cic.EINVALID, "invalid_price", "Prices are whole minor units from 1 to %d.", int64(maxPrice))
	}
	if _, err := s.DB.Pool.Exec(ctx, `INSERT INTO catalog_overage_prices (currency, price_minor) VALUES ($1, $2)
		ON CONFLICT (currency) DO UPDATE SET price_minor = EXCLUDED.price_minor`, cur, priceMinor); err != nil {
		return fmt.Errorf("put overage price: %w", err)
	}
	return nil
}

// OverageRates returns the catalogue's pay-as-you-go rate per currency.
func (s *Service) OverageRates(ctx context.Context) (map[string]int64, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT currency, price_minor FROM catalog_overage_prices`)
	if err != nil {
		return nil, fmt.Errorf("overage rates: %w", err)
	}
	out := map[string]int64{}
	var cur string
	var p int64
	if _, err := pgx.ForEachRow(rows, []any{&cur, &p}, func() error { out[cur] = p; return nil }); err != nil {
		return nil, fmt.Errorf("overage rates: %w", err)
	}
	return out, nil
}

func operatorActor(tenantID uuid.UUID, operator string) tenant.Actor {
	return tenant.Actor{TenantID: tenantID, Role: "operator", RequestID: "operator:" + operator}
}

func cleanOperator(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("overage price: operator name %q is not usable", name)
	}
	return name, nil
}

// SetNegotiatedOverage gives the tenant a negotiated overage price, set by
// the named operator. It answers the tenant's settings as they now read.
func (s *Service) SetNegotiatedOverage(ctx context.Context, tenantID uuid.UUID, priceMinor int64, operator string) (metering.Settings, error) {
	if priceMinor < 1 || priceMinor > maxPrice {
		return metering.Settings{}, cic.Codef(cic.EINVALID, "invalid_price", "price_minor must be whole minor units from 1 to %d.", int64(maxPrice))
	}
	return s.negotiate(ctx, tenantID, operator, func(tx pgx.Tx, name string) (map[string]any, error) {
		var before *int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT price_minor FROM negotiated_overage_prices WHERE tenant_id = $1)`, tenantID).Scan(&before); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO negotiated_overage_prices (tenant_id, price_minor, set_by, set_at) VALUES ($1, $2, $3, now())
			ON CONFLICT (tenant_id) DO UPDATE SET price_minor = EXCLUDED.price_minor, set_by = EXCLUDED.set_by, set_at = now()`,
			tenantID, priceMinor, name); err != nil {
			return nil, fmt.Errorf("set negotiated overage price: %w", err)
		}
		return map[string]any{"operator": name, "price_minor": priceMinor, "before": before}, nil
	}, "billing.overage_price_negotiated")
}

// ClearNegotiatedOverage puts the tenant back on the catalogue's rate.
func (s *Service) ClearNegotiatedOverage(ctx context.Context, tenantID uuid.UUID, operator string) (metering.Settings, error) {
	return s.negotiate(ctx, tenantID, operator, func(tx pgx.Tx, name string) (map[string]any, error) {
		var before *int64
		if err := tx.QueryRow(ctx, `DELETE FROM negotiated_overage_prices WHERE tenant_id = $1 RETURNING price_minor`, tenantID).Scan(&before); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("clear negotiated overage price: %w", err)
		}
		return map[string]any{"operator": name, "before": before}, nil
	}, "billing.overage_price_catalogue")
}

// negotiate runs change in the tenant's transaction, audits it and reads
// the settings back. An unknown tenant is a 404.
func (s *Service) negotiate(ctx context.Context, tenantID uuid.UUID, operator string,
	change func(pgx.Tx, string) (map[string]any, error), action string) (metering.Settings, error) {
	name, err := cleanOperator(operator)
	if err != nil {
		return metering.Settings{}, err
	}
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := tenant.Get(ctx, tx, tenantID); err != nil {
			return err
		}
		details, err := change(tx, name)
		if err != nil {
			return err
		}
		return tenant.Audit(ctx, tx, operatorActor(tenantID, name), action, "tenant", tenantID.String(), details)
	})
	if err != nil {
		return metering.Settings{}, err
	}
	return metering.GetSettings(ctx, s.DB, tenantID)
}

// NegotiatedOverages reads the negotiated overage price of each tenant in
// ids that has one, in one transaction that enters each tenant in turn
// (RLS confines every statement to its tenant).
func (s *Service) NegotiatedOverages(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int64, error) {
	out := make(map[uuid.UUID]int64)
	err := s.DB.MultiTx(ctx, func(tx pgx.Tx, enter func(uuid.UUID) error) error {
		for _, id := range ids {
			if err := enter(id); err != nil {
				return err
			}
			var p int64
			err := tx.QueryRow(ctx, `SELECT price_minor FROM negotiated_overage_prices WHERE tenant_id = $1`, id).Scan(&p)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return fmt.Errorf("read negotiated overage price: %w", err)
			default:
				out[id] = p
			}
		}
		return nil
	})
	return out, err
}
