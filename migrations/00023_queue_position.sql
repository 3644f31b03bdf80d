-- The customer's place in line (issue 16, items 4 and 6): how often the
-- hold loop tells a waiting caller their position and expected wait, and
-- which calls ended in a voicemail (their contact stays queued when the
-- caller hangs up: the recording waits for an agent).

-- +goose Up
ALTER TABLE queues ADD COLUMN announce_every_seconds integer NOT NULL DEFAULT 60
    CHECK (announce_every_seconds BETWEEN 0 AND 3600);
ALTER TABLE voice_calls ADD COLUMN voicemail boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE voice_calls DROP COLUMN voicemail;
ALTER TABLE queues DROP COLUMN announce_every_seconds;
