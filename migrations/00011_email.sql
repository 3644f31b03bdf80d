-- The e-mail channel (channels/email): mail that arrived while the
-- queue of its mailbox was closed. It is kept (the sender was answered
-- 250 and got the queue's closed message) and delivered as a contact
-- when the queue opens again, so no mail is lost to business hours.

-- +goose Up
CREATE TABLE email_held (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    -- the mail's Message-ID (as the channel stores it): a redelivery of a
    -- held mail is held once
    message_id  text NOT NULL CHECK (length(message_id) BETWEEN 1 AND 500),
    -- the mailbox it was sent to (a channel_addresses entry's address)
    rcpt        text NOT NULL CHECK (length(rcpt) BETWEEN 1 AND 320),
    mail_from   text NOT NULL DEFAULT '' CHECK (length(mail_from) <= 320),
    raw         bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text NOT NULL DEFAULT '' CHECK (length(last_error) <= 1000),
    PRIMARY KEY (tenant_id, message_id, rcpt)
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['email_held'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE email_held;
