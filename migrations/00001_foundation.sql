-- Foundation: tenants, users, departments, sessions, audit, and the trial
-- grant tables that metering (bundles) and seats (seat_grants) read.
--
-- Every table here is tenant data: tenant_id leads its primary key (ready
-- for distribution by tenant in Citus) and row-level security is enabled
-- AND forced, with a policy on the per-transaction setting app.tenant_id.
-- A transaction that has not set it sees no rows.

-- +goose Up
CREATE TABLE tenants (
    tenant_id  uuid PRIMARY KEY,
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
-- Login knows only the slug: a transaction that sets app.tenant_slug may
-- read that one tenant row, and nothing else.
CREATE POLICY tenant_by_slug ON tenants FOR SELECT
    USING (slug = nullif(current_setting('app.tenant_slug', true), ''));
-- Platform jobs (the worker walking tenants) read the tenant list only.
CREATE POLICY platform_read ON tenants FOR SELECT
    USING (current_setting('app.platform', true) = 'on');

CREATE TABLE departments (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    cost_centre text NOT NULL DEFAULT '' CHECK (length(cost_centre) <= 50),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX departments_name ON departments (tenant_id, lower(name));

CREATE TABLE users (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    email         text NOT NULL CHECK (email = lower(email)),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role          text NOT NULL CHECK (role IN ('owner', 'admin', 'supervisor', 'agent', 'finance')),
    department_id uuid,
    password_hash text,
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'invited', 'deactivated')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email),
    FOREIGN KEY (tenant_id, department_id) REFERENCES departments (tenant_id, id) ON DELETE RESTRICT
);

CREATE TABLE invitations (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    user_id     uuid NOT NULL,
    token_hash  bytea NOT NULL,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- Refresh tokens are stored hashed and rotate on every use; a token used
-- twice means it leaked, and its whole family is revoked.
CREATE TABLE refresh_tokens (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    token_hash  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    ip          text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (tenant_id, expires_at);

CREATE TABLE audit_log (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid,
    actor_role  text NOT NULL DEFAULT '',
    ip          text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    action      text NOT NULL,
    target_type text NOT NULL DEFAULT '',
    target_id   text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_at ON audit_log (tenant_id, at DESC);

-- Prepaid contact bundles (owned by metering/). Money in minor units.
CREATE TABLE bundles (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    source      text NOT NULL CHECK (source IN ('trial', 'purchase', 'grant', 'auto_topup')),
    contacts    bigint NOT NULL CHECK (contacts > 0),
    remaining   bigint NOT NULL,
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    currency    char(3) NOT NULL,
    valid_from  timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (remaining BETWEEN 0 AND contacts),
    CHECK (valid_until > valid_from),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX bundles_drawdown ON bundles (tenant_id, valid_until) WHERE remaining > 0;

-- Concurrent-seat grants (owned by tenant/seats). The pool's limit is the
-- sum of the grants valid now.
CREATE TABLE seat_grants (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    source      text NOT NULL CHECK (source IN ('trial', 'subscription', 'grant')),
    seats       integer NOT NULL CHECK (seats > 0),
    valid_from  timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until > valid_from),
    PRIMARY KEY (tenant_id, id)
);

-- Same isolation policy on every tenant table but tenants (above).
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['departments', 'users', 'invitations', 'refresh_tokens',
                             'audit_log', 'bundles', 'seat_grants'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE seat_grants, bundles, audit_log, refresh_tokens, invitations, users, departments, tenants;
