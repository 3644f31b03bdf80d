-- Text conversations (SMS, social): which contact a customer's next
-- message on a channel opens when none of theirs is open. Two messages
-- from a new customer in the same instant both claim here; the row lock
-- makes the second wait and then join the first's contact (whose id the
-- claim names, and contacts.Open is idempotent by id), so they open one
-- contact, not two. A claim on a contact that has ended is replaced.

-- +goose Up
CREATE TABLE conversation_claims (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    customer_id uuid NOT NULL,
    channel     text NOT NULL CHECK (length(channel) BETWEEN 1 AND 20),
    contact_id  uuid NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id, channel)
);

ALTER TABLE conversation_claims ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversation_claims FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversation_claims
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- +goose Down
DROP TABLE conversation_claims;
