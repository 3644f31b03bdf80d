-- Chat identity (issue #15, item 10): a page links a chat to the customer
-- with an e-mail address only when it signs the address with the widget's
-- identity secret. The secret is never stored: it is derived from the
-- server's key and this random per-widget salt, and rotating it is a new
-- salt. What a visitor claims without a valid signature is kept on the
-- chat session as unverified, and links to no one.

-- +goose Up
ALTER TABLE chat_widgets
    ADD COLUMN identity_salt bytea NOT NULL DEFAULT decode(replace(gen_random_uuid()::text, '-', ''), 'hex')
        CHECK (length(identity_salt) BETWEEN 16 AND 64),
    ADD COLUMN identity_rotated_at timestamptz;

ALTER TABLE chat_sessions
    ADD COLUMN email text CHECK (length(email) <= 320),
    ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE chat_sessions DROP COLUMN email_verified, DROP COLUMN email;
ALTER TABLE chat_widgets DROP COLUMN identity_rotated_at, DROP COLUMN identity_salt;
