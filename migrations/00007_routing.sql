-- Routing: what the admin sets up (skills, queues with their skill
-- requirements, agents' routing profiles, disposition codes) and the
-- durable record of every contact (its state, its timeline of events).
-- The live routing state (who is available, what waits, what is offered
-- to whom) lives in Redis; these tables are what survives it.

-- +goose Up
CREATE TABLE skills (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX skills_name ON skills (tenant_id, lower(name));

CREATE TABLE queues (
    tenant_id           uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    channels            text[] NOT NULL CHECK (cardinality(channels) > 0
                            AND channels <@ ARRAY['chat', 'email', 'voice', 'sms', 'social', 'fax']),
    priority            integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 100),
    strategy            text NOT NULL DEFAULT 'longest_idle'
                            CHECK (strategy IN ('longest_idle', 'best_skill', 'round_robin', 'least_occupied')),
    -- service level target: sl_percent % answered within sl_seconds
    sl_percent          integer NOT NULL DEFAULT 80 CHECK (sl_percent BETWEEN 1 AND 100),
    sl_seconds          integer NOT NULL DEFAULT 20 CHECK (sl_seconds BETWEEN 1 AND 86400),
    -- skill requirements are dropped once a contact waited this long
    relax_after_seconds integer CHECK (relax_after_seconds BETWEEN 1 AND 86400),
    offer_timeout_seconds integer NOT NULL DEFAULT 20 CHECK (offer_timeout_seconds BETWEEN 5 AND 600),
    max_misses          integer NOT NULL DEFAULT 3 CHECK (max_misses BETWEEN 1 AND 100),
    max_wait_seconds    integer CHECK (max_wait_seconds BETWEEN 1 AND 86400),
    overflow_queue_id   uuid,
    cost_centre         text NOT NULL DEFAULT '' CHECK (length(cost_centre) <= 50),
    -- {"timezone": "Europe/Berlin", "days": {"mon": ["08:00", "18:00"], ...}}; null: always open
    business_hours      jsonb,
    closed_message      text NOT NULL DEFAULT '' CHECK (length(closed_message) <= 1000),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, overflow_queue_id) REFERENCES queues (tenant_id, id) ON DELETE SET NULL (overflow_queue_id),
    CHECK (overflow_queue_id IS DISTINCT FROM id)
);
CREATE UNIQUE INDEX queues_name ON queues (tenant_id, lower(name));

CREATE TABLE queue_skills (
    tenant_id uuid NOT NULL,
    queue_id  uuid NOT NULL,
    skill_id  uuid NOT NULL,
    min_level integer NOT NULL CHECK (min_level BETWEEN 1 AND 10),
    PRIMARY KEY (tenant_id, queue_id, skill_id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, skill_id) REFERENCES skills (tenant_id, id) ON DELETE RESTRICT
);

-- An agent's routing profile: skills with levels and capacity per channel.
CREATE TABLE agent_skills (
    tenant_id uuid NOT NULL,
    user_id   uuid NOT NULL,
    skill_id  uuid NOT NULL,
    level     integer NOT NULL CHECK (level BETWEEN 1 AND 10),
    PRIMARY KEY (tenant_id, user_id, skill_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, skill_id) REFERENCES skills (tenant_id, id) ON DELETE RESTRICT
);

CREATE TABLE agent_capacity (
    tenant_id uuid NOT NULL,
    user_id   uuid NOT NULL,
    channel   text NOT NULL CHECK (channel IN ('chat', 'email', 'voice', 'sms', 'social', 'fax')),
    capacity  integer NOT NULL CHECK (capacity BETWEEN 1 AND 50),
    PRIMARY KEY (tenant_id, user_id, channel),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE dispositions (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    code       text NOT NULL CHECK (code ~ '^[a-z0-9_-]{1,40}$'),
    label      text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    resolved   boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, code)
);

-- One customer interaction. Its state follows the routing rules:
-- new -> queued -> offered -> accepted -> wrap_up -> closed, or abandoned,
-- expired, rejected_no_credit. Transfers keep the row (and its metering).
CREATE TABLE contacts (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('chat', 'email', 'voice', 'sms', 'social', 'fax')),
    direction     text NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound')),
    state         text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'queued', 'offered', 'accepted', 'wrap_up',
                      'closed', 'abandoned', 'expired', 'rejected_no_credit')),
    queue_id      uuid,
    agent_id      uuid,
    customer_ref  text NOT NULL DEFAULT '' CHECK (length(customer_ref) <= 200),
    campaign      text NOT NULL DEFAULT '' CHECK (length(campaign) <= 100),
    disposition   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    queued_at     timestamptz,
    first_offered_at timestamptz,
    accepted_at   timestamptz,
    wrap_up_at    timestamptz,
    closed_at     timestamptz,
    metered_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE SET NULL (queue_id)
);
CREATE INDEX contacts_created ON contacts (tenant_id, created_at);
CREATE INDEX contacts_open ON contacts (tenant_id, state) WHERE state IN ('new', 'queued', 'offered', 'accepted', 'wrap_up');

-- The timeline: every state change, offer, transfer and note, in order.
CREATE TABLE contact_events (
    tenant_id  uuid NOT NULL,
    contact_id uuid NOT NULL,
    seq        integer NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    kind       text NOT NULL CHECK (length(kind) BETWEEN 1 AND 40),
    agent_id   uuid,
    queue_id   uuid,
    details    jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, contact_id, seq),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_events_at ON contact_events (tenant_id, at);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['skills', 'queues', 'queue_skills', 'agent_skills', 'agent_capacity', 'dispositions',
                             'contacts', 'contact_events'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE contact_events, contacts, dispositions, agent_capacity, agent_skills, queue_skills, queues, skills;
