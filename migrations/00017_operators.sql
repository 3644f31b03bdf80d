-- +goose Up
-- Platform operators (owned by tenant/operator.go): people, not a shared
-- secret. Platform data, so no tenant_id; but not readable by every
-- transaction either: each table forces row-level security with a policy
-- that only a transaction that set app.operator = 'on' (tenant.Operators,
-- nowhere else) passes, so a tenant's transaction never sees a password
-- hash, a TOTP secret or a session.

CREATE TABLE operators (
    id                  uuid PRIMARY KEY,
    email               text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- argon2id, as tenant users'
    password_hash       text NOT NULL,
    -- set while the password is the one-time one `cic operator add` or
    -- `reset` printed: it only opens the enrollment (new password, TOTP),
    -- and only until then
    one_time_until      timestamptz,
    -- AES-256-GCM (nonce || ciphertext) of the TOTP secret under a key
    -- derived from the signing key, with the operator id as associated
    -- data; NULL before enrollment starts
    totp_secret         bytea,
    totp_enabled        boolean NOT NULL DEFAULT false,
    -- the last time step whose code was accepted: a code is good once
    totp_last_step      bigint NOT NULL DEFAULT 0,
    -- failed logins since the last good one (the rate limits live in Redis)
    failed_logins       integer NOT NULL DEFAULT 0,
    last_failed_at      timestamptz,
    last_login_at       timestamptz,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Sessions: the page cookie, the API bearer token, the enrollment step.
-- Only a SHA-256 of the token is kept.
CREATE TABLE operator_sessions (
    token_hash   bytea PRIMARY KEY,
    operator_id  uuid NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('page', 'api', 'enroll')),
    ip           text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);

-- What each operator did, with their name as it was then.
CREATE TABLE operator_audit (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    operator_id    uuid REFERENCES operators (id) ON DELETE SET NULL,
    operator_name  text NOT NULL,
    operator_email text NOT NULL,
    ip             text NOT NULL DEFAULT '',
    request_id     text NOT NULL DEFAULT '',
    action         text NOT NULL,
    target_type    text NOT NULL DEFAULT '',
    target_id      text NOT NULL DEFAULT '',
    details        jsonb NOT NULL DEFAULT '{}'
);

ALTER TABLE operators ENABLE ROW LEVEL SECURITY;
ALTER TABLE operators FORCE ROW LEVEL SECURITY;
CREATE POLICY operator_only ON operators
    USING (current_setting('app.operator', true) = 'on')
    WITH CHECK (current_setting('app.operator', true) = 'on');
ALTER TABLE operator_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY operator_only ON operator_sessions
    USING (current_setting('app.operator', true) = 'on')
    WITH CHECK (current_setting('app.operator', true) = 'on');
ALTER TABLE operator_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_audit FORCE ROW LEVEL SECURITY;
CREATE POLICY operator_only ON operator_audit
    USING (current_setting('app.operator', true) = 'on')
    WITH CHECK (current_setting('app.operator', true) = 'on');

-- +goose Down
DROP TABLE operator_audit, operator_sessions, operators;
