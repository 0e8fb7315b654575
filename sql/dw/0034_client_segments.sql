-- Recency/frequency/monetary segments of clients (issue 25), recomputed once a day by the ETL
-- (clickstream_etl/segments.py, queries/segments.sql; docs/warehouse.md, "Client segments").
--
-- dw.client_segments: every client with a session, as of the end of the day as_of (UTC), with its segment and the
-- values that decided it (the latest day computed only; a day's recompute replaces the table).
CREATE TABLE dw.client_segments (
    client_id        text    PRIMARY KEY CONSTRAINT client_id_max_bytes CHECK (octet_length(client_id) <= 512),
    as_of            date    NOT NULL,
    segment          text    NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    first_visit_date date,                       -- UTC date of the session holding the client's first visit
    last_active_date date    NOT NULL,           -- UTC date of its latest session start (recency = as_of - this)
    active_days      integer NOT NULL,           -- days with a session start in the window (frequency)
    purchases        integer NOT NULL,           -- purchase events in the window
    revenue          numeric NOT NULL            -- revenue in the window (monetary)
);
CREATE INDEX client_segments_segment_idx ON dw.client_segments (segment);

-- The segment overview the dashboards read: per day computed and segment, its clients, those that purchased in the
-- window, and their revenue in the window. One row per segment per day, kept for every day computed.
CREATE TABLE dw.agg_daily_segments (
    as_of      date    NOT NULL,
    segment    text    NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    clients    bigint  NOT NULL,
    purchasers bigint  NOT NULL,
    revenue    numeric NOT NULL,
    PRIMARY KEY (as_of, segment)
);

-- The days computed, with the thresholds used and the newest session start the warehouse held then: a run
-- computes the last closed day once, or again while the warehouse had not reached the end of that day yet.
CREATE TABLE etl.segment_days (
    as_of        date        PRIMARY KEY,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    clients      bigint      NOT NULL,
    thresholds   jsonb       NOT NULL,
    data_through timestamptz
);
