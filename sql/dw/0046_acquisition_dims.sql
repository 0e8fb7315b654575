-- The Acquisition dashboard under the device and segment filters (issue 25 items 4 and 6; clickstream_etl/
-- acquisition_dims.py, queries/acquisition_dims.sql; docs/warehouse.md, "Acquisition by device and segment").
-- dw.agg_daily_acquisition's measures per UTC day of the session's start, login state, the session's channel group,
-- source, medium and campaign (channel group 'Unassigned', the others '(not set)' without acquisition: rules.SQL),
-- and its device category ('(unknown)' without one) and segment (its client's as of the end of the day before the
-- session's day, as dw.agg_hourly_dims: sql/dw/0041). Summed over device and segment, the rows are
-- dw.agg_daily_acquisition's exactly. The unfiltered dashboard keeps reading dw.agg_daily_acquisition.
CREATE TABLE dw.agg_daily_acquisition_dims (
    activity_date        date    NOT NULL,
    user_login_state     text    NOT NULL CHECK (user_login_state IN ('logged_in', 'logged_out')),
    channel_group        text    NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    source               text    NOT NULL CONSTRAINT source_max_bytes CHECK (octet_length(source) <= 400),
    medium               text    NOT NULL CONSTRAINT medium_max_bytes CHECK (octet_length(medium) <= 400),
    campaign             text    NOT NULL CONSTRAINT campaign_max_bytes CHECK (octet_length(campaign) <= 400),
    device_category      text    NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment              text    NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    sessions             bigint  NOT NULL,
    engaged_sessions     bigint  NOT NULL,
    converted_sessions   bigint  NOT NULL,
    first_visit_sessions bigint  NOT NULL,
    revenue              numeric NOT NULL,
    PRIMARY KEY (activity_date, user_login_state, channel_group, source, medium, campaign, device_category, segment)
);

-- Each client's rows of it (same keys and measures): the incremental apply recomputes a pending client's rows from
-- the day of its window start on, adds the difference to the aggregate and replaces them (as dw.agg_dims_members).
CREATE TABLE dw.agg_acquisition_dims_members (
    client_id            text    NOT NULL CONSTRAINT client_id_max_bytes CHECK (octet_length(client_id) <= 512),
    activity_date        date    NOT NULL,
    user_login_state     text    NOT NULL CHECK (user_login_state IN ('logged_in', 'logged_out')),
    channel_group        text    NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    source               text    NOT NULL CONSTRAINT source_max_bytes CHECK (octet_length(source) <= 400),
    medium               text    NOT NULL CONSTRAINT medium_max_bytes CHECK (octet_length(medium) <= 400),
    campaign             text    NOT NULL CONSTRAINT campaign_max_bytes CHECK (octet_length(campaign) <= 400),
    device_category      text    NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment              text    NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    sessions             bigint  NOT NULL,
    engaged_sessions     bigint  NOT NULL,
    converted_sessions   bigint  NOT NULL,
    first_visit_sessions bigint  NOT NULL,
    revenue              numeric NOT NULL,
    PRIMARY KEY (client_id, activity_date, user_login_state, channel_group, source, medium, campaign, device_category,
                 segment)
);

-- A warehouse that already holds sessions: its first day is marked dirty, so the next run's recompute
-- (clickstream_etl.rebuild.rebuild_dirty_days), which rebuilds these tables from the first dirty day on, fills them.
INSERT INTO etl.dirty_days (activity_date)
SELECT min(session_date) FROM dw.sessions HAVING min(session_date) IS NOT NULL
ON CONFLICT DO NOTHING;
