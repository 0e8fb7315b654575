-- What the ingest rejected, beside what the ETL rejected (etl.rejects), for the pipeline-health dashboard.
--
-- The ingest writes every event it refuses, with its reason, to rejected/YYYY/MM/DD/HH/rejected-<uuid>.json in the
-- raw bucket (docs/event-contract.md). Each ETL run reads the rejected/ objects it has not counted yet
-- (clickstream_etl.ingest_rejects) and, in one transaction per object, adds its lines to the hourly counts and
-- lists the object in the manifest below: an object is counted once, whatever the number of runs.
-- The dashboards read only the aggregate (dashboard_reader reads dw.*), never the objects.

-- Manifest of the rejected/ objects counted, like etl.files for events/.
CREATE TABLE etl.ingest_reject_files (
    bucket          text NOT NULL,
    object_key      text NOT NULL,
    etag            text,
    size_bytes      bigint NOT NULL,
    lines           integer NOT NULL,
    run_id          bigint NOT NULL,
    counted_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (bucket, object_key)
);

-- Events the ingest rejected, per hour they were received (UTC), reason code and field at fault
-- (e.g. missing_required_field / client_id). reason 'unreadable_line' counts a line of a rejected/ object that is
-- not a JSON object with a reason (written by other means than the ingest); field is '' when there is none.
CREATE TABLE dw.agg_hourly_ingest_rejects (
    received_hour   timestamptz NOT NULL,
    reason          text NOT NULL CONSTRAINT ingest_reject_reason_max_bytes CHECK (octet_length(reason) <= 128),
    field           text NOT NULL CONSTRAINT ingest_reject_field_max_bytes CHECK (octet_length(field) <= 256),
    rejects         bigint NOT NULL,
    PRIMARY KEY (received_hour, reason, field)
);
