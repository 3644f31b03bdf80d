-- +goose Up
-- Chargeback reports (owned by billing/chargeback): finance asks for the
-- cost of the contacts metered in a period, per cost centre, department,
-- queue, channel, direction, campaign or agent team; the billing worker
-- produces the files in the background and keeps them for a retention
-- period.
--
-- Invariant: a finished report's lines (per contact and per group) sum to
-- its total, and its total is the exact value of the period's meter
-- records (bundle value drawn plus overage) rounded once to minor units.

-- The queue's cost centre, snapshotted when the contact is metered (like
-- the department's): allocation precedence is campaign, then the queue's
-- cost centre, then the agent's department's, then "unallocated".
ALTER TABLE meter_records ADD COLUMN queue_cost_centre text NOT NULL DEFAULT '';

CREATE TABLE reports (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    kind          text NOT NULL DEFAULT 'chargeback' CHECK (kind IN ('chargeback')),
    -- 'request': someone asked for it; 'monthly': the worker's run on the 1st
    trigger       text NOT NULL CHECK (trigger IN ('request', 'monthly')),
    -- the period [period_from, period_to), by metering time
    period_from   timestamptz NOT NULL,
    period_to     timestamptz NOT NULL,
    dimension     text NOT NULL CHECK (dimension IN ('cost_centre', 'department', 'queue', 'channel', 'direction',
                                                     'campaign', 'agent_team')),
    currency      char(3) NOT NULL,
    status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress      integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    rows_done     bigint NOT NULL DEFAULT 0 CHECK (rows_done >= 0),
    rows_total    bigint NOT NULL DEFAULT 0 CHECK (rows_total >= 0),
    -- totals, in minor units of currency (set when done)
    contacts      bigint,
    total_minor   bigint,
    bundle_minor  bigint,
    overage_minor bigint,
    -- groups, bundles and the reconciliation, as the page and API show them
    summary       jsonb,
    error         text NOT NULL DEFAULT '',
    created_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    expires_at    timestamptz NOT NULL,
    notified_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK (period_to > period_from),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX reports_created ON reports (tenant_id, created_at DESC, id DESC);
CREATE INDEX reports_expiry ON reports (tenant_id, expires_at);
-- One automatic report per tenant and month, however many workers run.
CREATE UNIQUE INDEX reports_monthly ON reports (tenant_id, period_from) WHERE trigger = 'monthly';

-- A report's files: the per-contact CSV, the groups CSV and the PDF. The
-- bytes are gzip-compressed (encoding), kept in report_chunks (location
-- 'db') or in a file under REPORTS_DIR (location = its relative path).
CREATE TABLE report_files (
    tenant_id  uuid NOT NULL,
    report_id  uuid NOT NULL,
    format     text NOT NULL CHECK (format IN ('csv', 'groups', 'pdf')),
    encoding   text NOT NULL CHECK (encoding IN ('gzip', 'identity')),
    location   text NOT NULL DEFAULT 'db',
    size       bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
    raw_size   bigint NOT NULL DEFAULT 0 CHECK (raw_size >= 0),
    sha256     bytea,
    complete   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, report_id, format),
    FOREIGN KEY (tenant_id, report_id) REFERENCES reports (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE report_chunks (
    tenant_id uuid NOT NULL,
    report_id uuid NOT NULL,
    format    text NOT NULL,
    seq       integer NOT NULL CHECK (seq >= 0),
    data      bytea NOT NULL,
    PRIMARY KEY (tenant_id, report_id, format, seq),
    FOREIGN KEY (tenant_id, report_id, format) REFERENCES report_files (tenant_id, report_id, format) ON DELETE CASCADE
);
-- Already gzip: PostgreSQL need not try to compress it again.
ALTER TABLE report_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['reports', 'report_files', 'report_chunks'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE report_chunks, report_files, reports;
ALTER TABLE meter_records DROP COLUMN queue_cost_centre;
