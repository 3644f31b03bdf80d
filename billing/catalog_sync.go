package billing

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
)

// seatProduct is the Stripe product id of the concurrent seat.
const seatProduct = "cic_seat"

// SyncCatalog creates the Stripe products and prices the catalogue lacks:
// one product per tier (id cic_<tier>), one price per tier, currency and
// amount. Stripe prices are immutable, so a changed amount (PutTier
// forgets the old price id) gets a new price; checkouts made before the
// sync send the same amount as inline price data. Local mode: nothing to do.
func (s *Service) SyncCatalog(ctx context.Context) (created int, err error) {
	if s.Stripe == nil {
		return 0, nil
	}
	type price struct {
		tier, name, currency, product string
		amount                        int64
		seat                          bool
	}
	var products []price
	var prices []price
	err = pgx.BeginFunc(ctx, s.DB.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, name FROM catalog_tiers WHERE stripe_product_id IS NULL`)
		if err != nil {
			return err
		}
		var id, name, cur, prod string
		var amount int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error {
			products = append(products, price{tier: id, name: name})
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT p.tier_id, t.name, p.currency, p.price_minor FROM catalog_prices p
			JOIN catalog_tiers t ON t.id = p.tier_id WHERE p.stripe_price_id IS NULL`)
		if err != nil {
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&id, &name, &cur, &amount}, func() error {
			prices = append(prices, price{tier: id, name: name, currency: cur, amount: amount, product: "cic_" + id})
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT currency, price_minor, coalesce(stripe_product_id, '') FROM catalog_seat_prices WHERE stripe_price_id IS NULL`)
		if err != nil {
			return err
		}
		_, err = pgx.ForEachRow(rows, []any{&cur, &amount, &prod}, func() error {
			prices = append(prices, price{currency: cur, amount: amount, product: seatProduct, seat: true, name: "Concurrent seat"})
			return nil
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sync catalog: %w", err)
	}
	ensureProduct := func(id, name string, meta map[string]string) (string, error) {
		params := &stripe.ProductParams{ID: stripe.String(id), Name: stripe.String(name), Metadata: meta}
		idem(&params.Params, "product", id)
		p, err := s.Stripe.Products.New(params)
		if err != nil {
			return "", stripeErr("create product", err)
		}
		return p.ID, nil
	}
	for _, p := range products {
		pid, err := ensureProduct("cic_"+p.tier, p.name, map[string]string{"tier_id": p.tier})
		if err != nil {
			return created, err
		}
		if _, err := s.DB.Pool.Exec(ctx, `UPDATE catalog_tiers SET stripe_product_id = $2 WHERE id = $1`, p.tier, pid); err != nil {
			return created, fmt.Errorf("save product: %w", err)
		}
		created++
	}
	seatMade := false
	for _, p := range prices {
		if p.seat && !seatMade {
			if _, err := ensureProduct(seatProduct, "Concurrent seat", map[string]string{"kind": "seat"}); err != nil {
				return created, err
			}
			seatMade = true
		}
		params := &stripe.PriceParams{
			Product:    stripe.String(p.product),
			Currency:   stripe.String(strings.ToLower(p.currency)),
			UnitAmount: stripe.Int64(p.amount),
			Nickname:   stripe.String(p.name),
			Metadata:   map[string]string{"tier_id": p.tier},
		}
		key := []string{"price", p.product, p.currency, fmt.Sprint(p.amount)}
		if p.seat {
			params.Recurring = &stripe.PriceRecurringParams{Interval: stripe.String("month")}
			key = append(key, "month")
		}
		idem(&params.Params, key...)
		pr, err := s.Stripe.Prices.New(params)
		if err != nil {
			return created, stripeErr("create price", err)
		}
		// Only if the amount is still the one priced: an edit meanwhile
		// leaves it for the next sync.
		if p.seat {
			_, err = s.DB.Pool.Exec(ctx, `UPDATE catalog_seat_prices SET stripe_price_id = $3, stripe_product_id = $4
				WHERE currency = $1 AND price_minor = $2`, p.currency, p.amount, pr.ID, seatProduct)
		} else {
			_, err = s.DB.Pool.Exec(ctx, `UPDATE catalog_prices SET stripe_price_id = $4
				WHERE tier_id = $1 AND currency = $2 AND price_minor = $3`, p.tier, p.currency, p.amount, pr.ID)
		}
		if err != nil {
			return created, fmt.Errorf("save price: %w", err)
		}
		created++
	}
	return created, nil
}
