-- Warehouse schemas and ETL bookkeeping. Documented in docs/warehouse.md.
-- Grant-free on purpose: the dw_db role (hosts) creates dw_owner / etl_writer / dashboard_reader and grants.
-- Schema `dw` holds the analytic tables dashboards read; schema `etl` holds the ETL's own bookkeeping.

CREATE SCHEMA dw;
CREATE SCHEMA etl;

-- One row per ETL run (scheduled Lambda invocation, CLI, local scheduler). Written in its own short
-- transactions, so a run that dies leaves status 'running'; the next run marks it 'abandoned'.
CREATE TABLE etl.runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    status          text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'abandoned', 'skipped_locked')),
    trigger         text NOT NULL DEFAULT 'cli',
    files_seen      integer NOT NULL DEFAULT 0,   -- pending raw objects found at the start of the run
    files_loaded    integer NOT NULL DEFAULT 0,
    files_remaining integer NOT NULL DEFAULT 0,   -- left for the next run (time limit)
    lines_read      bigint NOT NULL DEFAULT 0,
    events_loaded   bigint NOT NULL DEFAULT 0,
    duplicates      bigint NOT NULL DEFAULT 0,    -- event_ids already in the DW or repeated in the batch
    rejects         bigint NOT NULL DEFAULT 0,
    rejects_by_reason jsonb NOT NULL DEFAULT '{}'::jsonb,
    days_refreshed  integer NOT NULL DEFAULT 0,
    message         text
);
CREATE INDEX runs_started_at_idx ON etl.runs (started_at);

-- Manifest: one row per raw S3 object that was loaded. Committed in the same transaction as the object's
-- events, rejects and sessions, so an object is either fully loaded and listed here, or neither.
CREATE TABLE etl.files (
    bucket          text NOT NULL,
    object_key      text NOT NULL,
    etag            text,
    size_bytes      bigint NOT NULL,
    last_modified   timestamptz,
    run_id          bigint NOT NULL,
    loaded_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    lines           integer NOT NULL,
    events_loaded   integer NOT NULL,
    duplicates      integer NOT NULL,
    rejects         integer NOT NULL,
    PRIMARY KEY (bucket, object_key)
);

-- Lines that could not become events: malformed JSON, missing/invalid fields, stale or future timestamps.
-- (source_file, line_number) is unique, so a re-run never duplicates a reject.
CREATE TABLE etl.rejects (
    source_file     text NOT NULL,                -- s3://bucket/key
    line_number     integer NOT NULL,             -- 1-based line in the NDJSON object
    reason          text NOT NULL,
    detail          text,
    event_id        text,                         -- when the line had a readable one
    raw_line        text NOT NULL,
    run_id          bigint NOT NULL,
    rejected_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (source_file, line_number)
);
CREATE INDEX rejects_reason_idx ON etl.rejects (reason);

-- UTC days whose aggregates must be recomputed. Filled in the load transaction, emptied by the aggregate
-- refresh transaction; a run killed in between leaves them here and the next run refreshes them first.
CREATE TABLE etl.dirty_days (
    activity_date   date PRIMARY KEY
);
