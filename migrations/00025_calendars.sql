-- Calendars of holidays and exceptions: named per tenant, shared by
-- queues. An entry for a date overrides the queue's weekly business hours
-- on that date, in the queue's time zone: closed all day (opens and closes
-- null) or open only from opens to closes.

-- +goose Up
CREATE TABLE calendars (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX calendars_name ON calendars (tenant_id, lower(name));

CREATE TABLE calendar_entries (
    tenant_id   uuid NOT NULL,
    calendar_id uuid NOT NULL,
    day         date NOT NULL,
    opens       time,
    closes      time,
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 100),
    PRIMARY KEY (tenant_id, calendar_id, day),
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES calendars (tenant_id, id) ON DELETE CASCADE,
    CHECK ((opens IS NULL AND closes IS NULL) OR (opens IS NOT NULL AND closes IS NOT NULL AND opens < closes))
);

-- A queue follows at most one calendar; one in use cannot be deleted.
ALTER TABLE queues ADD COLUMN calendar_id uuid;
ALTER TABLE queues ADD CONSTRAINT queues_calendar_fk FOREIGN KEY (tenant_id, calendar_id)
    REFERENCES calendars (tenant_id, id) ON DELETE RESTRICT;
CREATE INDEX queues_calendar ON queues (tenant_id, calendar_id) WHERE calendar_id IS NOT NULL;

ALTER TABLE calendars ENABLE ROW LEVEL SECURITY;
ALTER TABLE calendars FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calendars
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE calendar_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE calendar_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calendar_entries
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- +goose Down
DROP INDEX queues_calendar;
ALTER TABLE queues DROP COLUMN calendar_id;
DROP TABLE calendar_entries, calendars;
