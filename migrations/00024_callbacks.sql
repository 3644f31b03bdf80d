-- Callbacks (routing/contacts/callback.go): a customer asks to be called
-- back instead of waiting (a key in the voice hold loop, the chat widget,
-- POST /api/v1/callbacks). The callback is a voice contact, outbound, of
-- kind 'callback', queued like any contact (in the caller's original
-- place when it replaces a waiting call); when an agent accepts it, the
-- call is placed through the provider, and retried when nobody answers.

-- +goose Up
-- What a contact is beyond its channel: 'standard', or 'callback'.
ALTER TABLE contacts ADD COLUMN kind text NOT NULL DEFAULT 'standard' CHECK (length(kind) BETWEEN 1 AND 20);

-- One row per callback contact. status: waiting (queued, or waiting for
-- its next attempt at next_attempt_at), dialing (an attempt's call is
-- ringing: call_sid), connected (the customer answered), unreachable
-- (max_attempts calls went unanswered; the contact is closed).
-- from_contact_id is the waiting call or chat it replaced (at most one
-- callback each). max_attempts and retry_delay_seconds are copied from
-- the settings when the callback is made.
CREATE TABLE callbacks (
    tenant_id           uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    contact_id          uuid NOT NULL,
    to_number           text NOT NULL CHECK (to_number ~ '^\+[1-9][0-9]{6,14}$'),
    name                text NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    not_before          timestamptz,
    from_contact_id     uuid,
    status              text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'dialing', 'connected', 'unreachable')),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts        integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 10),
    retry_delay_seconds integer NOT NULL CHECK (retry_delay_seconds BETWEEN 1 AND 86400),
    next_attempt_at     timestamptz,
    call_sid            text CHECK (length(call_sid) <= 64),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contact_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX callbacks_due ON callbacks (tenant_id, next_attempt_at) WHERE status = 'waiting';
CREATE UNIQUE INDEX callbacks_from ON callbacks (tenant_id, from_contact_id) WHERE from_contact_id IS NOT NULL;

-- Retry settings: per queue, else the tenant's row (queue_id NULL), else
-- 3 attempts, 120 seconds apart.
CREATE TABLE callback_settings (
    tenant_id           uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    queue_id            uuid,
    max_attempts        integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 10),
    retry_delay_seconds integer NOT NULL CHECK (retry_delay_seconds BETWEEN 1 AND 86400),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX callback_settings_scope ON callback_settings (tenant_id, coalesce(queue_id, '00000000-0000-0000-0000-000000000000'::uuid));

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['callbacks', 'callback_settings'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE callback_settings;
DROP TABLE callbacks;
ALTER TABLE contacts DROP COLUMN kind;
