-- Channel, device and segment filters on the Journeys and Retention dashboards, and the common paths read from a
-- per-session table (clickstream_etl/journeys.py, queries/journeys.sql; docs/warehouse.md, "Journeys and
-- retention by channel, device and segment").
--
-- A session's channel group and device category are its own (dw.sessions; missing: channel group 'Unassigned',
-- device '(unknown)'); its segment is
-- its client's as of the end of the day before the session's day (the rule of dw.agg_hourly_dims, sql/dw/0041).

-- A path: the pages of a session's first page views (its first 1 to 5: the common paths' lengths), identified by a
-- 64-bit hash of the pages (dw.journey_path_id: the one definition), and the pages of each path id, so that a sample
-- of sessions is grouped by path from an index alone and only the most common paths' pages are read.
CREATE FUNCTION dw.journey_path_id(pages text[]) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ('x' || left(md5(pages::text), 16))::bit(64)::bigint $$;

CREATE TABLE dw.journey_paths (
    path_id bigint PRIMARY KEY,
    pages   text[] NOT NULL CHECK (cardinality(pages) BETWEEN 1 AND 5)
);

-- One row per session: its dimensions, its page views' pages in order ({page_key}: rules.page_key_sql) with the
-- UTC day of each, and the ids of the paths of its first 1, 2, ... 5 pages (fewer when it has fewer pages). The
-- Journeys dashboard's common paths read the newest sessions of the period from the indexes alone (the newest
-- first: session_start; under a channel/device/segment filter: the dimensions, then session_start). It is also the
-- per-session state the incremental apply diffs the transitions' aggregate against: a pending client's rows from
-- the day of its window start on are recomputed, the transitions of the rows before and after give the difference.
CREATE TABLE dw.session_journeys (
    session_id       uuid PRIMARY KEY,
    client_id        text NOT NULL CONSTRAINT client_id_max_bytes CHECK (octet_length(client_id) <= 512),
    session_start    timestamptz NOT NULL,
    session_date     date NOT NULL,
    user_login_state text NOT NULL,
    channel_group    text NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    device_category  text NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment          text NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    pages            text[] NOT NULL,
    page_dates       date[] NOT NULL,
    path_ids         bigint[] NOT NULL,
    CHECK (cardinality(pages) = cardinality(page_dates)),
    CHECK (cardinality(path_ids) = least(cardinality(pages), 5))
);
CREATE INDEX session_journeys_client_idx ON dw.session_journeys (client_id, session_start);
CREATE INDEX session_journeys_start_idx ON dw.session_journeys (session_start)
    INCLUDE (user_login_state, channel_group, device_category, segment, path_ids);
CREATE INDEX session_journeys_dims_idx
    ON dw.session_journeys (segment, channel_group, device_category, user_login_state, session_start)
    INCLUDE (path_ids);

-- A session's page transitions from its row: '(entrance)' -> its first page, each page -> the next, its last page ->
-- '(exit)', each on the day of the page view it leads to (the exit on the last one's): the one definition the
-- apply and the rebuild of dw.agg_daily_transitions_dims use.
CREATE FUNCTION dw.journey_transitions(pages text[], page_dates date[])
    RETURNS TABLE (activity_date date, from_page text, to_page text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT page_dates[i], coalesce(pages[i - 1], '(entrance)'), pages[i] FROM generate_subscripts(pages, 1) AS i
    UNION ALL
    SELECT page_dates[cardinality(pages)], pages[cardinality(pages)], '(exit)' WHERE cardinality(pages) > 0
$$;

-- Page transitions (as dw.agg_daily_page_transitions: '(entrance)' -> landing page, page -> '(exit)', on the UTC
-- day of the page view) per session login state, channel group, device category and segment. Summed over the
-- three dimensions, the rows equal dw.agg_daily_page_transitions.
CREATE TABLE dw.agg_daily_transitions_dims (
    activity_date    date NOT NULL,
    user_login_state text NOT NULL,
    channel_group    text NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    device_category  text NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment          text NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    from_page        text NOT NULL,
    to_page          text NOT NULL,
    transitions      bigint NOT NULL,
    PRIMARY KEY (activity_date, user_login_state, channel_group, device_category, segment, from_page, to_page)
);
-- Landing pages, page choices and next pages select one from_page over a date range; exit pages the '(exit)' rows.
-- Covering, so the dashboards read the index only.
CREATE INDEX agg_daily_transitions_dims_from_idx ON dw.agg_daily_transitions_dims (from_page, activity_date)
    INCLUDE (user_login_state, channel_group, device_category, segment, to_page, transitions);
CREATE INDEX agg_daily_transitions_dims_exit_idx ON dw.agg_daily_transitions_dims (activity_date)
    INCLUDE (user_login_state, channel_group, device_category, segment, from_page, transitions)
    WHERE to_page = '(exit)';

-- Weekly retention cohorts (dw.agg_weekly_retention's) by the dimensions of the cohort's session: for new clients
-- the session holding the first visit, for purchasers the first converted session. Summed over the dimensions, the
-- rows equal dw.agg_weekly_retention.
CREATE TABLE dw.agg_weekly_retention_dims (
    cohort          text NOT NULL CHECK (cohort IN ('clients', 'purchasers')),
    cohort_week     date NOT NULL,
    active_week     date NOT NULL,
    channel_group   text NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    device_category text NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment         text NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    clients         bigint NOT NULL,
    PRIMARY KEY (cohort, cohort_week, active_week, channel_group, device_category, segment),
    CHECK (active_week >= cohort_week)
);

-- Each client's rows of dw.agg_weekly_retention_dims (as dw.agg_retention_members, with the cohort session's
-- dimensions): the incremental apply replaces a pending client's rows and adds the difference.
CREATE TABLE dw.agg_retention_dims_members (
    client_id       text NOT NULL CONSTRAINT client_id_max_bytes CHECK (octet_length(client_id) <= 512),
    cohort          text NOT NULL CHECK (cohort IN ('clients', 'purchasers')),
    active_week     date NOT NULL,
    cohort_week     date NOT NULL,
    channel_group   text NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    device_category text NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment         text NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    PRIMARY KEY (client_id, cohort, active_week)
);

-- A warehouse that already holds events: its first day is marked dirty, so the next run's recompute
-- (clickstream_etl.rebuild.rebuild_dirty_days), which rebuilds these tables from the first dirty day on, fills them.
INSERT INTO etl.dirty_days (activity_date)
SELECT (min(event_timestamp) AT TIME ZONE 'UTC')::date FROM dw.events HAVING min(event_timestamp) IS NOT NULL
ON CONFLICT DO NOTHING;
