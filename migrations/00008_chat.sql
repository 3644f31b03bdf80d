-- Web chat: the widgets a tenant puts on its web pages (a public key, the
-- queue its chats go to, the origins allowed to use it), one chat session
-- per chat contact (the visitor's token, stored hashed) and the messages
-- of each conversation, numbered per contact so a reconnect resumes
-- exactly after the last one it saw.

-- +goose Up
CREATE TABLE chat_widgets (
    tenant_id       uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    -- "cw1.<tenant>.<random>": public (it sits in the page), not a secret;
    -- the tenant in it scopes the lookup to that tenant's rows.
    public_key      text NOT NULL CHECK (length(public_key) BETWEEN 10 AND 200),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    queue_id        uuid,
    -- exact scheme://host[:port] origins; never '*'
    allowed_origins text[] NOT NULL CHECK (cardinality(allowed_origins) BETWEEN 1 AND 20
                        AND NOT ('*' = ANY (allowed_origins))),
    greeting        text NOT NULL DEFAULT '' CHECK (length(greeting) <= 500),
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE SET NULL (queue_id)
);
CREATE UNIQUE INDEX chat_widgets_key ON chat_widgets (tenant_id, public_key);

-- One per chat contact: how the visitor proves it is theirs, where from.
CREATE TABLE chat_sessions (
    tenant_id    uuid NOT NULL,
    contact_id   uuid NOT NULL,
    widget_id    uuid NOT NULL,
    token_hash   bytea NOT NULL,
    origin       text NOT NULL CHECK (length(origin) <= 300),
    -- the seq of the newest message; appends lock the row and bump it, so
    -- seqs are gapless and commit in order
    last_seq     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz,
    ended_by     text CHECK (ended_by IN ('visitor', 'timeout', 'agent')),
    PRIMARY KEY (tenant_id, contact_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, widget_id) REFERENCES chat_widgets (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE chat_messages (
    tenant_id     uuid NOT NULL,
    contact_id    uuid NOT NULL,
    seq           integer NOT NULL CHECK (seq > 0),
    id            uuid NOT NULL,
    sender        text NOT NULL CHECK (sender IN ('visitor', 'agent', 'system')),
    agent_id      uuid,
    -- the sender's own id for the message: a resend after a lost ack finds
    -- the stored message instead of adding a second one
    client_msg_id text CHECK (length(client_msg_id) BETWEEN 1 AND 64),
    body          text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contact_id, seq),
    UNIQUE (tenant_id, contact_id, sender, client_msg_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES chat_sessions (tenant_id, contact_id) ON DELETE CASCADE
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['chat_widgets', 'chat_sessions', 'chat_messages'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE chat_messages, chat_sessions, chat_widgets;
