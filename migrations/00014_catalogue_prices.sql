-- +goose Up
-- Prices are the platform's, never the tenant's (issue #15, item 1).
--
-- A tenant chooses which catalogue tier an auto top-up buys and the
-- threshold; the price, contacts and validity come from the catalogue when
-- the top-up is charged. The overage price is the catalogue's pay-as-you-go
-- rate in the tenant's currency, unless the operator set a negotiated
-- price for the tenant. The tenant-set price columns are dropped, and
-- existing tenants are put back on catalogue prices.

-- The pay-as-you-go rate of one overage contact, by currency: platform
-- data (no tenant), edited by the operator like the other catalogue prices
-- (owned by billing/, read by metering/ when it records an overage contact).
CREATE TABLE catalog_overage_prices (
    currency    char(3) PRIMARY KEY CHECK (currency ~ '^[A-Z]{3}$'),
    price_minor bigint NOT NULL CHECK (price_minor > 0)
);
-- 5 minor units: what every tenant was given by default until now.
INSERT INTO catalog_overage_prices (currency, price_minor)
    SELECT c, 5 FROM unnest(ARRAY['EUR', 'USD', 'GBP', 'CHF', 'SEK', 'DKK', 'NOK', 'PLN', 'CZK', 'CAD', 'AUD']) AS c;

-- A tenant's negotiated overage price, set only by a platform operator
-- (audited with their name); it replaces the catalogue's rate.
CREATE TABLE negotiated_overage_prices (
    tenant_id   uuid PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    price_minor bigint NOT NULL CHECK (price_minor > 0),
    set_by      text NOT NULL CHECK (length(set_by) BETWEEN 1 AND 200),
    set_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE negotiated_overage_prices ENABLE ROW LEVEL SECURITY;
ALTER TABLE negotiated_overage_prices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON negotiated_overage_prices
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- The rewrite below touches every tenant's rows: as the owner, with the
-- policies set aside for this transaction only (goose runs a migration in
-- one transaction, so nobody sees the tables unforced).
ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
ALTER TABLE metering_settings NO FORCE ROW LEVEL SECURITY;
ALTER TABLE topup_requests NO FORCE ROW LEVEL SECURITY;
ALTER TABLE topup_charges NO FORCE ROW LEVEL SECURITY;

-- The tier an auto top-up buys. An existing choice becomes an active tier
-- in the tenant's currency: the smallest with at least as many contacts as
-- it had typed in, else (it asked for more than any tier holds) the
-- smallest of all, so a made-up bundle never turns into a big charge.
ALTER TABLE metering_settings ADD COLUMN topup_tier text;
UPDATE metering_settings s SET topup_tier = (
    SELECT t.id FROM catalog_tiers t JOIN catalog_prices p ON p.tier_id = t.id JOIN tenants tn ON tn.currency = p.currency
    WHERE t.active AND tn.tenant_id = s.tenant_id
    ORDER BY t.contacts < s.topup_contacts, t.contacts, t.id
    LIMIT 1)
WHERE s.topup_contacts IS NOT NULL;
-- Nothing in the catalogue for its currency: auto top-up cannot buy, so
-- the tenant is back on the default policy.
UPDATE metering_settings SET policy = 'overage' WHERE policy = 'auto_topup' AND topup_tier IS NULL;
ALTER TABLE metering_settings DROP COLUMN overage_price_minor, DROP COLUMN topup_contacts,
    DROP COLUMN topup_price_minor, DROP COLUMN topup_validity_days;
ALTER TABLE metering_settings ADD CONSTRAINT metering_settings_topup_complete
    CHECK (policy <> 'auto_topup' OR (topup_threshold IS NOT NULL AND topup_tier IS NOT NULL));

-- A top-up request names the tier; what it costs is read from the
-- catalogue when it is charged (and kept on its topup_charges row).
ALTER TABLE topup_requests ADD COLUMN tier_id text;
UPDATE topup_requests r SET tier_id = s.topup_tier FROM metering_settings s
    WHERE r.status = 'pending' AND s.tenant_id = r.tenant_id;
UPDATE topup_requests SET status = 'skipped' WHERE status = 'pending' AND tier_id IS NULL;
ALTER TABLE topup_requests DROP COLUMN contacts, DROP COLUMN price_minor, DROP COLUMN validity_days;
ALTER TABLE topup_requests ADD CONSTRAINT topup_requests_pending_tier CHECK (status <> 'pending' OR tier_id IS NOT NULL);

-- A charge not yet paid whose amount is not a catalogue price for its
-- contacts was priced by the tenant: it is failed, never credited.
UPDATE topup_requests r SET status = 'failed' FROM topup_charges c
    WHERE c.tenant_id = r.tenant_id AND c.request_id = r.id AND c.status = 'pending'
      AND NOT EXISTS (SELECT 1 FROM catalog_tiers t JOIN catalog_prices p ON p.tier_id = t.id
                      WHERE t.contacts = c.contacts AND p.price_minor = c.price_minor AND p.currency = c.currency);
UPDATE topup_charges c SET status = 'failed', failure = 'price not from the catalogue', updated_at = now()
    WHERE c.status = 'pending'
      AND NOT EXISTS (SELECT 1 FROM catalog_tiers t JOIN catalog_prices p ON p.tier_id = t.id
                      WHERE t.contacts = c.contacts AND p.price_minor = c.price_minor AND p.currency = c.currency);

ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE metering_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE topup_requests FORCE ROW LEVEL SECURITY;
ALTER TABLE topup_charges FORCE ROW LEVEL SECURITY;

-- +goose Down
ALTER TABLE topup_requests DROP CONSTRAINT topup_requests_pending_tier;
ALTER TABLE topup_requests ADD COLUMN contacts bigint, ADD COLUMN price_minor bigint, ADD COLUMN validity_days integer;
ALTER TABLE topup_requests DROP COLUMN tier_id;
ALTER TABLE metering_settings DROP CONSTRAINT metering_settings_topup_complete;
ALTER TABLE metering_settings ADD COLUMN overage_price_minor bigint NOT NULL DEFAULT 5 CHECK (overage_price_minor >= 0),
    ADD COLUMN topup_contacts bigint, ADD COLUMN topup_price_minor bigint, ADD COLUMN topup_validity_days integer;
ALTER TABLE metering_settings NO FORCE ROW LEVEL SECURITY;
UPDATE metering_settings SET policy = 'overage' WHERE policy = 'auto_topup';
ALTER TABLE metering_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE metering_settings DROP COLUMN topup_tier;
DROP TABLE negotiated_overage_prices, catalog_overage_prices;
