-- +goose Up
-- Metering (owned by metering/). Invariant: for every bundle, the number of
-- meter_records drawn from it equals contacts - remaining. Expiry never
-- touches remaining; what expires unused is written to forfeits instead.

-- The tenant's exhaustion policy. No row means the defaults.
CREATE TABLE metering_settings (
    tenant_id             uuid PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    policy                text NOT NULL DEFAULT 'overage' CHECK (policy IN ('overage', 'auto_topup', 'block')),
    -- pay-as-you-go price of one overage contact, minor units of the tenant's currency
    overage_price_minor   bigint NOT NULL DEFAULT 5 CHECK (overage_price_minor >= 0),
    -- auto_topup: when the contacts left fall under topup_threshold, request
    -- a bundle of topup_contacts for topup_price_minor, valid topup_validity_days
    topup_threshold       bigint CHECK (topup_threshold >= 0),
    topup_contacts        bigint CHECK (topup_contacts > 0),
    topup_price_minor     bigint CHECK (topup_price_minor >= 0),
    topup_validity_days   integer CHECK (topup_validity_days > 0),
    -- low-balance warnings, as percents of the contacts bought, descending
    warn_percents         integer[] NOT NULL DEFAULT '{20,5,0}',
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (policy <> 'auto_topup' OR (topup_threshold IS NOT NULL AND topup_contacts IS NOT NULL
                                      AND topup_price_minor IS NOT NULL AND topup_validity_days IS NOT NULL))
);

-- One row per handled contact id per tenant: the primary key is what makes
-- metering exactly-once. Cost is the exact rational cost_num / cost_den
-- minor units (bundle price / bundle size; overage price / 1).
CREATE TABLE meter_records (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    contact_id  text NOT NULL CHECK (length(contact_id) BETWEEN 1 AND 128),
    bundle_id   uuid,
    cost_num    bigint NOT NULL CHECK (cost_num >= 0),
    cost_den    bigint NOT NULL CHECK (cost_den > 0),
    currency    char(3) NOT NULL,
    channel     text NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    handled_at  timestamptz NOT NULL,
    queue       text NOT NULL DEFAULT '',
    department  text NOT NULL DEFAULT '',
    cost_centre text NOT NULL DEFAULT '',
    campaign    text NOT NULL DEFAULT '',
    agent       text NOT NULL DEFAULT '',
    source      text NOT NULL CHECK (source IN ('routing', 'api')),
    metered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contact_id),
    FOREIGN KEY (tenant_id, bundle_id) REFERENCES bundles (tenant_id, id)
);
CREATE INDEX meter_records_bundle ON meter_records (tenant_id, bundle_id);
CREATE INDEX meter_records_handled ON meter_records (tenant_id, handled_at);

-- What a bundle still held when it expired. One per bundle.
CREATE TABLE forfeits (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    bundle_id   uuid NOT NULL,
    contacts    bigint NOT NULL CHECK (contacts > 0),
    value_num   bigint NOT NULL CHECK (value_num >= 0),
    value_den   bigint NOT NULL CHECK (value_den > 0),
    currency    char(3) NOT NULL,
    expired_at  timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, bundle_id),
    FOREIGN KEY (tenant_id, bundle_id) REFERENCES bundles (tenant_id, id)
);

-- Auto top-up requests, written by the metering path when the balance falls
-- under the threshold; billing turns them into a charge and a bundle. At most
-- one pending request per tenant.
CREATE TABLE topup_requests (
    tenant_id    uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    contacts     bigint NOT NULL CHECK (contacts > 0),
    price_minor  bigint NOT NULL CHECK (price_minor >= 0),
    currency     char(3) NOT NULL,
    validity_days integer NOT NULL CHECK (validity_days > 0),
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    requested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX topup_requests_one_pending ON topup_requests (tenant_id) WHERE status = 'pending';

-- Low-balance warnings already given: one per threshold per "cycle", a
-- cycle being the total contacts bought so far (a new purchase starts a
-- new cycle, so the same threshold can warn again).
CREATE TABLE balance_warnings (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    cycle       bigint NOT NULL,
    percent     integer NOT NULL,
    remaining   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz,
    emailed_at  timestamptz,
    PRIMARY KEY (tenant_id, cycle, percent)
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['metering_settings', 'meter_records', 'forfeits', 'topup_requests',
                             'balance_warnings'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE balance_warnings, topup_requests, forfeits, meter_records, metering_settings;
