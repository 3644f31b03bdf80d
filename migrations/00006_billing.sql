-- +goose Up
-- Billing (owned by billing/): the catalogue, purchases through Stripe
-- Checkout, the seat subscription, Stripe events, invoices, overage charges
-- and auto top-up charges. Money is integer minor units.
--
-- Invariants: a checkout session credits at most one bundle (the purchase
-- row's session id and bundle id are unique, and the open -> paid step is
-- guarded); a Stripe event is applied at most once per tenant (its id is the
-- key of stripe_events, written in the same transaction as its effects); an
-- overage period is charged at most once per tenant (its key is the period);
-- an auto top-up is charged at most once per "cycle" (the total contacts
-- bought so far, which only a purchase changes: one crossing of the
-- threshold).

-- The tenant's Stripe customer. On tenants, not in a table of its own, so a
-- webhook that names only a customer finds its tenant through the existing
-- platform_read policy.
ALTER TABLE tenants ADD COLUMN stripe_customer_id text;
CREATE UNIQUE INDEX tenants_stripe_customer ON tenants (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;

-- The catalogue is platform data (no tenant): the operator edits it, every
-- tenant reads it. Tiers are sold in several currencies.
CREATE TABLE catalog_tiers (
    id                text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    contacts          bigint NOT NULL CHECK (contacts > 0),
    validity_months   integer NOT NULL CHECK (validity_months BETWEEN 1 AND 36),
    active            boolean NOT NULL DEFAULT true,
    stripe_product_id text,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE catalog_prices (
    tier_id         text NOT NULL REFERENCES catalog_tiers (id) ON DELETE CASCADE,
    currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    price_minor     bigint NOT NULL CHECK (price_minor > 0),
    -- the Stripe price of exactly this amount; NULL until synced (Stripe
    -- prices are immutable: a new amount gets a new price)
    stripe_price_id text,
    PRIMARY KEY (tier_id, currency)
);

-- One concurrent seat, per month, by currency.
CREATE TABLE catalog_seat_prices (
    currency          char(3) PRIMARY KEY CHECK (currency ~ '^[A-Z]{3}$'),
    price_minor       bigint NOT NULL CHECK (price_minor > 0),
    stripe_product_id text,
    stripe_price_id   text
);

-- The default catalogue: the bigger the bundle, the cheaper the contact
-- (EUR: 4.9, 3.5 and 1.9 cents).
INSERT INTO catalog_tiers (id, name, contacts, validity_months) VALUES
    ('bundle-10k', '10,000 contacts', 10000, 12),
    ('bundle-100k', '100,000 contacts', 100000, 12),
    ('bundle-1m', '1,000,000 contacts', 1000000, 12);
INSERT INTO catalog_prices (tier_id, currency, price_minor) VALUES
    ('bundle-10k', 'EUR', 49000), ('bundle-100k', 'EUR', 350000), ('bundle-1m', 'EUR', 1900000),
    ('bundle-10k', 'USD', 53000), ('bundle-100k', 'USD', 380000), ('bundle-1m', 'USD', 2050000),
    ('bundle-10k', 'GBP', 42000), ('bundle-100k', 'GBP', 300000), ('bundle-1m', 'GBP', 1630000);
INSERT INTO catalog_seat_prices (currency, price_minor) VALUES ('EUR', 2900), ('USD', 3100), ('GBP', 2500);

-- A bundle bought through a checkout session. Created before Stripe is
-- called (its id is the idempotency key and travels in the session's
-- metadata), fulfilled only by the webhook.
CREATE TABLE purchases (
    tenant_id           uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    tier_id             text NOT NULL,
    contacts            bigint NOT NULL CHECK (contacts > 0),
    price_minor         bigint NOT NULL CHECK (price_minor >= 0),
    currency            char(3) NOT NULL,
    validity_months     integer NOT NULL CHECK (validity_months > 0),
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'failed', 'expired')),
    mode                text NOT NULL CHECK (mode IN ('stripe', 'local')),
    checkout_session_id text,
    checkout_url        text,
    payment_intent_id   text,
    bundle_id           uuid,
    created_by          uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    paid_at             timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, bundle_id) REFERENCES bundles (tenant_id, id),
    CHECK ((status = 'paid') = (bundle_id IS NOT NULL))
);
-- One purchase, hence at most one bundle, per checkout session.
CREATE UNIQUE INDEX purchases_session ON purchases (tenant_id, checkout_session_id);
CREATE UNIQUE INDEX purchases_bundle ON purchases (tenant_id, bundle_id);
CREATE INDEX purchases_created ON purchases (tenant_id, created_at DESC);

-- A checkout session that starts the seat subscription.
CREATE TABLE seat_checkouts (
    tenant_id           uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    quantity            integer NOT NULL CHECK (quantity > 0),
    price_minor         bigint NOT NULL CHECK (price_minor >= 0),
    currency            char(3) NOT NULL,
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed')),
    mode                text NOT NULL CHECK (mode IN ('stripe', 'local')),
    checkout_session_id text,
    checkout_url        text,
    created_by          uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX seat_checkouts_session ON seat_checkouts (tenant_id, checkout_session_id);

-- The seat subscription as Stripe last told us. last_event_at is the
-- creation time of the newest event applied: an older event arriving late
-- changes nothing, and 'canceled' is final.
CREATE TABLE subscriptions (
    tenant_id          uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id                 text NOT NULL,
    item_id            text NOT NULL DEFAULT '',
    status             text NOT NULL,
    quantity           integer NOT NULL CHECK (quantity >= 0),
    current_period_end timestamptz NOT NULL,
    mode               text NOT NULL CHECK (mode IN ('stripe', 'local')),
    last_event_at      timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- The seat grant that follows a subscription (see billing.applySubscription).
ALTER TABLE seat_grants ADD COLUMN stripe_subscription_id text;
CREATE UNIQUE INDEX seat_grants_subscription ON seat_grants (tenant_id, stripe_subscription_id)
    WHERE stripe_subscription_id IS NOT NULL;

-- Every Stripe event applied, once: inserted in the transaction that
-- applies it, so a duplicate (or concurrent) delivery finds it and stops.
CREATE TABLE stripe_events (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    event_id    text NOT NULL,
    type        text NOT NULL,
    created     timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);

-- Invoices and receipts Stripe reported paid (invoice.paid), for the
-- billing page.
CREATE TABLE invoices (
    tenant_id    uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id           text NOT NULL,
    number       text NOT NULL DEFAULT '',
    status       text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    currency     char(3) NOT NULL,
    hosted_url   text NOT NULL DEFAULT '',
    pdf_url      text NOT NULL DEFAULT '',
    subscription_id text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    paid_at      timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- Overage of one calendar month (UTC), charged as a Stripe invoice item on
-- the tenant's next invoice. The row is written (pending) before Stripe is
-- called and its amount is frozen then, so a re-run sends the very same
-- request with the very same idempotency key.
CREATE TABLE overage_charges (
    tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    period         date NOT NULL CHECK (extract(day FROM period) = 1),
    contacts       bigint NOT NULL CHECK (contacts > 0),
    amount_minor   bigint NOT NULL CHECK (amount_minor >= 0),
    currency       char(3) NOT NULL,
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'charged')),
    mode           text NOT NULL CHECK (mode IN ('stripe', 'local')),
    invoice_item_id text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    charged_at     timestamptz,
    PRIMARY KEY (tenant_id, period)
);

-- Auto top-up charges. One per cycle (see the invariants above): a failed
-- charge is not retried on the next metered contact, only after the next
-- purchase or top-up.
CREATE TABLE topup_charges (
    tenant_id         uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    request_id        uuid NOT NULL,
    cycle             bigint NOT NULL,
    contacts          bigint NOT NULL CHECK (contacts > 0),
    price_minor       bigint NOT NULL CHECK (price_minor >= 0),
    currency          char(3) NOT NULL,
    validity_days     integer NOT NULL CHECK (validity_days > 0),
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'failed')),
    mode              text NOT NULL CHECK (mode IN ('stripe', 'local')),
    payment_intent_id text,
    bundle_id         uuid,
    failure           text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, request_id),
    UNIQUE (tenant_id, cycle),
    FOREIGN KEY (tenant_id, request_id) REFERENCES topup_requests (tenant_id, id),
    FOREIGN KEY (tenant_id, bundle_id) REFERENCES bundles (tenant_id, id)
);
-- A request whose balance went back over the threshold before it was
-- charged (a purchase came first) is skipped, not charged.
ALTER TABLE topup_requests DROP CONSTRAINT topup_requests_status_check;
ALTER TABLE topup_requests ADD CONSTRAINT topup_requests_status_check
    CHECK (status IN ('pending', 'done', 'failed', 'skipped'));

-- What the reconciliation task found different between the ledger here
-- and Stripe.
CREATE TABLE reconcile_findings (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    found_at   timestamptz NOT NULL DEFAULT now(),
    kind       text NOT NULL,
    ref        text NOT NULL,
    detail     text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX reconcile_findings_once ON reconcile_findings (tenant_id, kind, ref, detail);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['purchases', 'seat_checkouts', 'subscriptions', 'stripe_events', 'invoices',
                             'overage_charges', 'topup_charges', 'reconcile_findings'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE reconcile_findings, topup_charges, overage_charges, invoices, stripe_events, subscriptions,
    seat_checkouts, purchases, catalog_seat_prices, catalog_prices, catalog_tiers;
ALTER TABLE topup_requests DROP CONSTRAINT topup_requests_status_check;
ALTER TABLE topup_requests ADD CONSTRAINT topup_requests_status_check CHECK (status IN ('pending', 'done', 'failed'));
DROP INDEX seat_grants_subscription;
ALTER TABLE seat_grants DROP COLUMN stripe_subscription_id;
DROP INDEX tenants_stripe_customer;
ALTER TABLE tenants DROP COLUMN stripe_customer_id;
