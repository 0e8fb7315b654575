-- Quarantined raw objects: an object whose own data made its load fail (any error that is not transient: an
-- index row too large, a value out of range, an error of the ETL's code on that input, ...). The object stays in
-- S3 untouched and out of etl.files; runs skip it while it is open here; `python -m clickstream_etl replay` loads
-- it after a fix, committing its etl.files row and resolved_at in one transaction (docs/warehouse.md).
CREATE TABLE etl.quarantine (
    bucket          text NOT NULL,
    object_key      text NOT NULL,
    etag            text,
    size_bytes      bigint,
    error_class     text NOT NULL,                -- e.g. psycopg2.errors.ProgramLimitExceeded
    error_message   text NOT NULL,
    first_seen_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts        integer NOT NULL DEFAULT 1,   -- failed loads (the first and every failed replay)
    run_id          bigint NOT NULL,              -- the run of the last failed attempt
    resolved_at     timestamptz,                  -- set by the replay that loaded it
    resolved_run_id bigint,
    PRIMARY KEY (bucket, object_key)
);
CREATE INDEX quarantine_open_idx ON etl.quarantine (bucket, object_key) WHERE resolved_at IS NULL;

-- The ETL counts its quarantined objects per run (CloudWatch metric FilesQuarantined).
ALTER TABLE etl.runs ADD COLUMN files_quarantined integer NOT NULL DEFAULT 0;
