-- The routing status each agent last chose (or the engine set: away after
-- missed offers, offline when the seat lease went), so that routing
-- rebuilt after Redis lost its state (a flush, a restart without
-- persistence, a failover) puts the agents with a live seat back as they
-- were. Redis stays where routing reads it; this is the record.

-- +goose Up
CREATE TABLE agent_routing_status (
    tenant_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    status     text NOT NULL CHECK (status IN ('offline', 'available', 'away', 'busy', 'wrap_up')),
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE agent_routing_status ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_routing_status FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agent_routing_status
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- +goose Down
DROP TABLE agent_routing_status;
