-- Secrets at rest (infra/secretbox): a tenant's provider secret (the auth
-- token that signs webhooks and authenticates our API calls, the social
-- and fax webhook-signing secrets) is kept sealed with AES-256-GCM in
-- channel_providers.secret (bytea). SQL cannot seal without the key, so
-- the plain text of rows from before this migration moves to
-- secret_plain, which `cic serve` seals at start (and `cic secrets
-- rotate` too) and then empties; nothing writes it again.

-- +goose Up
ALTER TABLE channel_providers DROP CONSTRAINT IF EXISTS channel_providers_secret_check;
ALTER TABLE channel_providers RENAME COLUMN secret TO secret_plain;
ALTER TABLE channel_providers ALTER COLUMN secret_plain DROP NOT NULL;
ALTER TABLE channel_providers ADD COLUMN secret bytea CHECK (octet_length(secret) <= 1024);
ALTER TABLE channel_providers ADD CONSTRAINT channel_providers_secret_held CHECK (secret IS NOT NULL OR secret_plain IS NOT NULL);

-- +goose Down
-- Sealed secrets cannot be unsealed in SQL: going down is refused while
-- there are any (re-enter them after going down, or stay up).
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM channel_providers WHERE secret_plain IS NULL) THEN
        RAISE EXCEPTION 'channel_providers holds sealed secrets; they cannot be unsealed by SQL';
    END IF;
END $$;
-- +goose StatementEnd
ALTER TABLE channel_providers DROP CONSTRAINT channel_providers_secret_held;
ALTER TABLE channel_providers DROP COLUMN secret;
ALTER TABLE channel_providers RENAME COLUMN secret_plain TO secret;
ALTER TABLE channel_providers ALTER COLUMN secret SET NOT NULL;
ALTER TABLE channel_providers ADD CONSTRAINT channel_providers_secret_check CHECK (length(secret) BETWEEN 8 AND 500);
