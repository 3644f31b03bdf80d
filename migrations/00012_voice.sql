-- Calls (channels/voice): the IVR menus a tenant's numbers lead to, and
-- the provider's calls behind voice contacts.

-- +goose Up
-- An admin-defined menu: tree is a validated node (prompt, digit options,
-- time-out path; leaves are actions: queue, self_service, hangup), see
-- channels/voice/ivr.go.
CREATE TABLE ivr_menus (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    tree       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

-- A number leads to a menu; deleting the menu is refused while a number
-- still leads to it (the caller would reach nothing).
ALTER TABLE channel_addresses ADD FOREIGN KEY (tenant_id, ivr_menu_id) REFERENCES ivr_menus (tenant_id, id) ON DELETE RESTRICT;

-- One row per provider call (CallSid). contact_id is set once the call
-- becomes a contact (a queue leaf, a metered self-service leaf, an
-- outbound call); menu_id is the menu it entered by, read at each IVR
-- step. held: the agent put the caller on hold. survey: '' | asked.
CREATE TABLE voice_calls (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    call_sid    text NOT NULL CHECK (length(call_sid) BETWEEN 1 AND 64),
    contact_id  uuid,
    menu_id     uuid,
    queue_id    uuid,
    from_addr   text NOT NULL DEFAULT '' CHECK (length(from_addr) <= 64),
    to_addr     text NOT NULL DEFAULT '' CHECK (length(to_addr) <= 64),
    direction   text NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound')),
    status      text NOT NULL DEFAULT 'ringing' CHECK (length(status) BETWEEN 1 AND 40),
    held        boolean NOT NULL DEFAULT false,
    survey      text NOT NULL DEFAULT '' CHECK (survey IN ('', 'asked')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    PRIMARY KEY (tenant_id, call_sid),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (contact_id)
);
CREATE UNIQUE INDEX voice_calls_contact ON voice_calls (tenant_id, contact_id) WHERE contact_id IS NOT NULL;

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ivr_menus', 'voice_calls'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE voice_calls;
ALTER TABLE channel_addresses DROP CONSTRAINT IF EXISTS channel_addresses_tenant_id_ivr_menu_id_fkey;
DROP TABLE ivr_menus;
