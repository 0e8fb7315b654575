-- Channel, device and segment filters (issue 25 items 4 and 6): what the dashboards read when one of them is set
-- (clickstream_etl/dims.py, queries/dims.sql; docs/warehouse.md, "Channel, device and segment filters").
--
-- A session's channel group and device category are its own (dw.sessions); its segment is its client's segment as
-- of the end of the day before the session's day (the UTC day of its start), by the rule of the daily segments
-- (queries/segments.sql) with the thresholds of etl.segment_rule; a client without an earlier session is 'new'.
-- That segment depends only on the client's own earlier sessions, so a day's rows change only when those do
-- (a late event), which the incremental apply recomputes exactly.

-- The thresholds the per-session segment uses: the ETL's (segments.Thresholds), written by each daily segment
-- step; the defaults until the first one (tests/etl/test_dims.py checks they are segments.Thresholds()'s).
CREATE TABLE etl.segment_rule (
    id                    boolean PRIMARY KEY DEFAULT true CHECK (id),
    new_days              integer NOT NULL,
    at_risk_days          integer NOT NULL,
    lost_days             integer NOT NULL,
    window_days           integer NOT NULL,
    loyal_min_active_days integer NOT NULL,
    loyal_min_purchases   integer NOT NULL
);
INSERT INTO etl.segment_rule (new_days, at_risk_days, lost_days, window_days, loyal_min_active_days,
                              loyal_min_purchases)
VALUES (7, 30, 90, 90, 4, 2);

-- Per UTC hour, session login state, channel group, device category and segment (missing channel or device:
-- '(unknown)'): events and page views of the hour; sessions that started in it, those of them that converted and
-- their revenue (as dw.agg_daily_sessions, by session start); and per funnel step the sessions whose first event of
-- that step on that UTC day falls in the hour (so a day's sum is the sessions reaching the step that day, as
-- dw.agg_daily_funnel). Every measure is per session, and a session has one value of each key: summed over any
-- keys, the rows give the unfiltered aggregates' numbers exactly.
CREATE TABLE dw.agg_hourly_dims (
    activity_hour           timestamptz NOT NULL,
    activity_date           date NOT NULL,
    user_login_state        text NOT NULL,
    channel_group           text NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    device_category         text NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment                 text NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    events                  bigint NOT NULL,
    page_views              bigint NOT NULL,
    sessions                bigint NOT NULL,
    converted_sessions      bigint NOT NULL,
    revenue                 numeric(38, 2) NOT NULL,
    view_item_sessions      bigint NOT NULL,
    add_to_cart_sessions    bigint NOT NULL,
    begin_checkout_sessions bigint NOT NULL,
    purchase_sessions       bigint NOT NULL,
    PRIMARY KEY (activity_hour, user_login_state, channel_group, device_category, segment)
);
-- The dashboards select a date range: covering, so they read the index only.
CREATE INDEX agg_hourly_dims_date_idx ON dw.agg_hourly_dims (activity_date)
    INCLUDE (activity_hour, user_login_state, channel_group, device_category, segment, events, page_views, sessions,
             converted_sessions, revenue, view_item_sessions, add_to_cart_sessions, begin_checkout_sessions,
             purchase_sessions);

-- Each client's rows of dw.agg_hourly_dims (same keys and measures): the incremental apply recomputes a pending
-- client's rows from the day of its window start on, adds the difference to the aggregate and replaces them.
CREATE TABLE dw.agg_dims_members (
    client_id               text NOT NULL CONSTRAINT client_id_max_bytes CHECK (octet_length(client_id) <= 512),
    activity_hour           timestamptz NOT NULL,
    user_login_state        text NOT NULL,
    channel_group           text NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    device_category         text NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment                 text NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    events                  bigint NOT NULL,
    page_views              bigint NOT NULL,
    sessions                bigint NOT NULL,
    converted_sessions      bigint NOT NULL,
    revenue                 numeric(38, 2) NOT NULL,
    view_item_sessions      bigint NOT NULL,
    add_to_cart_sessions    bigint NOT NULL,
    begin_checkout_sessions bigint NOT NULL,
    purchase_sessions       bigint NOT NULL,
    PRIMARY KEY (client_id, activity_hour, user_login_state, channel_group, device_category, segment)
);

-- A warehouse that already holds events: its first day is marked dirty, so the next run's recompute
-- (clickstream_etl.rebuild.rebuild_dirty_days), which rebuilds these tables from the first dirty day on, fills them.
INSERT INTO etl.dirty_days (activity_date)
SELECT (min(event_timestamp) AT TIME ZONE 'UTC')::date FROM dw.events HAVING min(event_timestamp) IS NOT NULL
ON CONFLICT DO NOTHING;
