-- Channels beyond chat share these: one customer across channels (linked
-- by e-mail, phone, chat visitor or social handle), the messages of
-- e-mail, SMS, social and fax conversations with their attachments, the
-- addresses (mailboxes, phone numbers, pages) that lead to a tenant's
-- queues, each tenant's provider credentials, the receipts that make
-- provider webhooks idempotent, and the satisfaction survey of a contact.

-- +goose Up
CREATE TABLE customers (
    tenant_id         uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id                uuid NOT NULL,
    display_name      text NOT NULL DEFAULT '' CHECK (length(display_name) <= 200),
    preferred_channel text CHECK (preferred_channel IN ('chat', 'email', 'voice', 'sms', 'social', 'fax')),
    -- consent flags, e.g. {no_sales_phone}
    opt_outs          text[] NOT NULL DEFAULT '{}' CHECK (opt_outs <@ ARRAY['no_sales_phone', 'no_sales_email', 'no_sales_sms', 'no_surveys']),
    notes             text NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
    -- a merged customer points at the one that absorbed it
    merged_into       uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, merged_into) REFERENCES customers (tenant_id, id) ON DELETE SET NULL (merged_into)
);

-- How a customer is recognised: normalised e-mail (lower case), phone
-- (E.164), chat visitor id, social handle ("<platform>:<handle>").
CREATE TABLE customer_identities (
    tenant_id   uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('email', 'phone', 'visitor', 'handle')),
    value       text NOT NULL CHECK (length(value) BETWEEN 1 AND 320),
    customer_id uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, value),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX customer_identities_customer ON customer_identities (tenant_id, customer_id);

ALTER TABLE contacts ADD COLUMN customer_id uuid;
ALTER TABLE contacts ADD FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE SET NULL (customer_id);
CREATE INDEX contacts_customer ON contacts (tenant_id, customer_id, created_at) WHERE customer_id IS NOT NULL;
-- the subject of an e-mail thread, the caller's number... shown in lists
ALTER TABLE contacts ADD COLUMN subject text NOT NULL DEFAULT '' CHECK (length(subject) <= 500);

-- The messages of non-chat conversations (e-mail, SMS, social, fax, call
-- notes), numbered per contact. external_id is the provider's id (the
-- Message-ID of a mail, an SMS sid, a social event id): a webhook or mail
-- delivered twice stores nothing twice.
CREATE TABLE contact_messages (
    tenant_id   uuid NOT NULL,
    contact_id  uuid NOT NULL,
    seq         integer NOT NULL CHECK (seq > 0),
    id          uuid NOT NULL,
    channel     text NOT NULL CHECK (channel IN ('email', 'voice', 'sms', 'social', 'fax', 'chat')),
    direction   text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- customer, agent, system (surveys, notices), ivr
    sender      text NOT NULL CHECK (sender IN ('customer', 'agent', 'system', 'ivr')),
    agent_id    uuid,
    from_addr   text NOT NULL DEFAULT '' CHECK (length(from_addr) <= 320),
    to_addr     text NOT NULL DEFAULT '' CHECK (length(to_addr) <= 320),
    subject     text NOT NULL DEFAULT '' CHECK (length(subject) <= 500),
    body        text NOT NULL DEFAULT '' CHECK (length(body) <= 200000),
    external_id text CHECK (length(external_id) BETWEEN 1 AND 500),
    -- channel specifics: mail headers (In-Reply-To, References), media...
    meta        jsonb NOT NULL DEFAULT '{}',
    -- outbound delivery: queued -> sent | failed; inbound: received
    status      text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'queued', 'sent', 'failed')),
    error       text NOT NULL DEFAULT '' CHECK (length(error) <= 1000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contact_id, seq),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX contact_messages_external ON contact_messages (tenant_id, channel, direction, external_id)
    WHERE external_id IS NOT NULL;

CREATE TABLE contact_attachments (
    tenant_id    uuid NOT NULL,
    id           uuid NOT NULL,
    contact_id   uuid NOT NULL,
    message_id   uuid NOT NULL,
    filename     text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    content_type text NOT NULL CHECK (length(content_type) BETWEEN 1 AND 255),
    size         integer NOT NULL CHECK (size >= 0),
    data         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES contact_messages (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_attachments_contact ON contact_attachments (tenant_id, contact_id);

-- What leads a customer to a tenant: a mailbox, a phone number, a social
-- page. address is normalised (lower-case e-mail, E.164 number,
-- "<platform>:<page>"). An address belongs to one tenant platform-wide;
-- before the tenant is known (an SMTP RCPT TO), a transaction that sets
-- app.channel_address may read that one row (policy address_lookup).
CREATE TABLE channel_addresses (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    channel    text NOT NULL CHECK (channel IN ('email', 'voice', 'sms', 'social', 'fax')),
    address    text NOT NULL CHECK (length(address) BETWEEN 1 AND 320),
    lookup_key text GENERATED ALWAYS AS (channel || ':' || address) STORED,
    queue_id   uuid,
    -- calls to a number with an IVR menu go through it (channels/voice)
    ivr_menu_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (lookup_key),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE SET NULL (queue_id)
);

-- A tenant's credentials at its providers: twilio (voice, SMS: account
-- sid, auth token that signs webhooks and authenticates API calls),
-- social (the shared secret of the generic JSON webhook, the reply API),
-- fax. api_base is the provider's API root (a test points it at a stub).
CREATE TABLE channel_providers (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    provider   text NOT NULL CHECK (provider IN ('twilio', 'social', 'fax')),
    account_id text NOT NULL DEFAULT '' CHECK (length(account_id) <= 200),
    secret     text NOT NULL CHECK (length(secret) BETWEEN 8 AND 500),
    api_base   text NOT NULL DEFAULT '' CHECK (length(api_base) <= 500),
    from_addr  text NOT NULL DEFAULT '' CHECK (length(from_addr) <= 320),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, provider)
);

-- Every provider event handled, by the provider's id for it: a replayed
-- or retried webhook is answered as before and changes nothing.
CREATE TABLE webhook_receipts (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    provider    text NOT NULL CHECK (length(provider) BETWEEN 1 AND 40),
    external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 500),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, provider, external_id)
);

-- The one-question satisfaction survey sent after a contact closes, on
-- its channel; score 1 (bad) to 5 (good).
CREATE TABLE csat_surveys (
    tenant_id   uuid NOT NULL,
    contact_id  uuid NOT NULL,
    channel     text NOT NULL,
    customer_id uuid,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    score       smallint CHECK (score BETWEEN 1 AND 5),
    answered_at timestamptz,
    PRIMARY KEY (tenant_id, contact_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX csat_surveys_pending ON csat_surveys (tenant_id, customer_id, channel, sent_at) WHERE score IS NULL;

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['customers', 'customer_identities', 'contact_messages', 'contact_attachments',
                             'channel_addresses', 'channel_providers', 'webhook_receipts', 'csat_surveys'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd
CREATE POLICY address_lookup ON channel_addresses FOR SELECT
    USING (lookup_key = nullif(current_setting('app.channel_address', true), ''));

-- +goose Down
DROP TABLE csat_surveys, webhook_receipts, channel_providers, channel_addresses, contact_attachments, contact_messages;
ALTER TABLE contacts DROP COLUMN subject, DROP COLUMN customer_id;
DROP TABLE customer_identities, customers;
