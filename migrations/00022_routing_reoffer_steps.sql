-- Routing never strands a contact (issue 16, items 1 and 8): the agent
-- that missed a contact is offered it again after reoffer_after_seconds
-- when no other agent is eligible; a returning customer's contact waits
-- preferred_agent_seconds for the agent who last handled them (0: never);
-- skill requirements widen in steps with the wait, skill_steps =
-- [{"after_seconds": 30, "min_level": 5}, ...] (relax_after_seconds stays
-- the step to level 0).

-- +goose Up
ALTER TABLE queues
    ADD COLUMN reoffer_after_seconds integer NOT NULL DEFAULT 10 CHECK (reoffer_after_seconds BETWEEN 0 AND 3600),
    ADD COLUMN preferred_agent_seconds integer NOT NULL DEFAULT 0 CHECK (preferred_agent_seconds BETWEEN 0 AND 3600),
    ADD COLUMN skill_steps jsonb NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(skill_steps) = 'array' AND jsonb_array_length(skill_steps) <= 10);

-- +goose Down
ALTER TABLE queues DROP COLUMN skill_steps, DROP COLUMN preferred_agent_seconds, DROP COLUMN reoffer_after_seconds;
