-- Dunning (billing.DunningGrace): when a renewal fails (invoice.payment_failed,
-- or Stripe says past_due/unpaid) the subscription records since when it is
-- unpaid; its seats are kept until past_due_since + the grace, owners are
-- e-mailed once per episode (dunning_mailed_at) and the end of the seats is
-- audited once (dunning_seats_ended_at). Paying (invoice.paid, or Stripe
-- saying active) clears all three.

-- +goose Up
ALTER TABLE subscriptions
    ADD COLUMN past_due_since timestamptz,
    ADD COLUMN dunning_mailed_at timestamptz,
    ADD COLUMN dunning_seats_ended_at timestamptz;
-- The renewal invoice that failed is kept (status 'payment_failed') so its
-- owner can pay it on Stripe's hosted page.
CREATE INDEX subscriptions_dunning ON subscriptions (tenant_id) WHERE past_due_since IS NOT NULL;

-- +goose Down
DROP INDEX subscriptions_dunning;
ALTER TABLE subscriptions
    DROP COLUMN past_due_since,
    DROP COLUMN dunning_mailed_at,
    DROP COLUMN dunning_seats_ended_at;
