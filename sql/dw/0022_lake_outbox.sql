-- The lake's export bookkeeping (docs/lake.md; clickstream_etl.lake.export). Empty and unused while the lake is
-- off (LAKE_ENABLED=false): nothing writes these tables then.

-- The outbox: one row per raw object whose load added events, inserted in the load's own transaction, so a
-- committed load always has its row and a rolled-back one never does. seq orders the export: each Iceberg commit
-- of the lake's events table records in its snapshot summary (clickstream.outbox-seq) the last row it holds.
-- Rows stay after their export (one per raw object): a backfill adds only the objects they do not name.
CREATE TABLE etl.lake_outbox (
    seq          bigserial PRIMARY KEY,
    source_file  text NOT NULL UNIQUE,               -- s3://bucket/key, as dw.events.source_file
    events       integer NOT NULL CHECK (events >= 0),  -- events the object added (etl.files.events_loaded)
    queued_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Session days an export touched, to be written to the lake's sessions table once they can no longer change
-- (the freshness window and the session timeout have passed); forgotten after the Iceberg commit that wrote them.
CREATE TABLE etl.lake_session_days (
    day          date PRIMARY KEY,
    marked_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
