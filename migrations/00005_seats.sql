-- Seats: department reservations (the pool's shape) and the usage that
-- the worker samples from the Redis leases each minute, rolled up to the
-- hourly and daily peaks behind the seats chart, the sizing advice and
-- the chargeback of seat costs. The leases themselves live in Redis.

-- +goose Up
-- Seats only this department may use; the rest of the limit floats.
CREATE TABLE seat_reservations (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    department_id uuid NOT NULL,
    seats         integer NOT NULL CHECK (seats > 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, department_id),
    FOREIGN KEY (tenant_id, department_id) REFERENCES departments (tenant_id, id) ON DELETE CASCADE
);

-- One row per tenant and minute: the most seats held at once in that
-- minute (peaks between samples are tracked in Redis), the limit then,
-- and the logins refused for want of a seat. Kept for a few days.
CREATE TABLE seat_samples (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    minute     timestamptz NOT NULL,
    peak       integer NOT NULL CHECK (peak >= 0),
    seat_limit integer NOT NULL CHECK (seat_limit >= 0),
    refused    integer NOT NULL DEFAULT 0 CHECK (refused >= 0),
    PRIMARY KEY (tenant_id, minute)
);

-- Roll-ups kept for good: peak and limit per hour and per day, and the
-- seat-minutes used (the sum of the minute peaks), for chargeback.
CREATE TABLE seat_usage_hourly (
    tenant_id    uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    hour         timestamptz NOT NULL,
    peak         integer NOT NULL,
    seat_limit   integer NOT NULL,
    refused      integer NOT NULL,
    seat_minutes bigint NOT NULL,
    PRIMARY KEY (tenant_id, hour)
);

CREATE TABLE seat_usage_daily (
    tenant_id    uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    day          date NOT NULL,
    peak         integer NOT NULL,
    seat_limit   integer NOT NULL,
    refused      integer NOT NULL,
    seat_minutes bigint NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['seat_reservations', 'seat_samples', 'seat_usage_hourly', 'seat_usage_daily'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE seat_usage_daily, seat_usage_hourly, seat_samples, seat_reservations;
