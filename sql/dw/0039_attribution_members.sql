-- Attribution's working tables (issue 25; clickstream_etl/attribution.py, queries/attribution.sql;
-- docs/warehouse.md, "Attribution"). dw.agg_daily_attribution (migration 0038) is their sum.

-- The lookback window the credits were computed with, in days: one row. The ETL's setting
-- ATTRIBUTION_LOOKBACK_DAYS (30 by default) is written here by a run (attribution.configure), which recomputes the
-- credits of every purchase in dw.events when it differs or when `credited` is still false (the first run after this
-- migration, on a warehouse that may already hold purchases), so the incremental apply and the rebuild always use
-- the lookback the kept credits have.
CREATE TABLE etl.attribution_settings (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    lookback_days integer NOT NULL CHECK (lookback_days BETWEEN 1 AND 366),
    credited      boolean NOT NULL DEFAULT false
);

INSERT INTO etl.attribution_settings (lookback_days) VALUES (30);

-- Each purchase's present credits: per model, one row per credited session (one for first_touch and
-- last_non_direct, one per session of the window for linear), with that session's channel group, source, medium
-- and campaign, and the share of the purchase and of its revenue. dw.agg_daily_attribution is their sum per day,
-- model and channel; an apply replaces the credits of a changed client's purchases from its window start on and
-- adds the difference, so applying it again changes nothing. Dashboards do not read it.
CREATE TABLE dw.agg_attribution_members (
    client_id     text        NOT NULL CONSTRAINT client_id_max_bytes CHECK (octet_length(client_id) <= 512),
    purchase_at   timestamptz NOT NULL,
    event_id      uuid        NOT NULL,
    model         text        NOT NULL CHECK (model IN ('first_touch', 'last_non_direct', 'linear')),
    session_id    uuid        NOT NULL,
    activity_date date        NOT NULL,
    channel_group text        NOT NULL,
    source        text        NOT NULL,
    medium        text        NOT NULL,
    campaign      text        NOT NULL,
    purchases     numeric     NOT NULL,
    revenue       numeric     NOT NULL,
    PRIMARY KEY (client_id, purchase_at, event_id, model, session_id)
);

CREATE INDEX agg_attribution_members_date_idx ON dw.agg_attribution_members (activity_date);
