-- +goose Up
-- Burn rate and this month's overage read records by metering time.
CREATE INDEX meter_records_metered ON meter_records (tenant_id, metered_at);

-- +goose Down
DROP INDEX meter_records_metered;
