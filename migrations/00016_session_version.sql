-- Access tokens end at once: each names its session (the refresh-token
-- family) and the user's session version, bumped by deactivation, a role
-- change and a password change; Authenticate compares both on every
-- request. Invitations can be revoked.

-- +goose Up
ALTER TABLE users ADD COLUMN session_version bigint NOT NULL DEFAULT 0;
ALTER TABLE invitations ADD COLUMN revoked_at timestamptz;
CREATE INDEX refresh_tokens_live_family ON refresh_tokens (tenant_id, family_id) WHERE revoked_at IS NULL;

-- +goose Down
DROP INDEX refresh_tokens_live_family;
ALTER TABLE invitations DROP COLUMN revoked_at;
ALTER TABLE users DROP COLUMN session_version;
