-- The Products dashboard under the channel, device and segment filters (issue 25 items 4 and 6;
-- clickstream_etl/product_dims.py, queries/product_dims.sql; docs/warehouse.md, "Products by channel, device and
-- segment"). dw.agg_daily_product's measures (views, add-to-carts, purchases, units, revenue of the product events of
-- a UTC day, and the sessions that viewed the product that day) per login state of the event's session and that
-- session's channel group, device category and segment (as dw.agg_hourly_dims: sql/dw/0041, 0045). Summed over the
-- three, the rows are dw.agg_daily_product's exactly (product_name aside: the dashboard takes it from there). The
-- product columns come from dw.events, whose bounds (sql/dw/0011) hold for them. The unfiltered dashboard keeps
-- reading dw.agg_daily_product.
CREATE TABLE dw.agg_daily_product_dims (
    activity_date    date           NOT NULL,
    product_id       text           NOT NULL,
    product_category text           NOT NULL,
    product_brand    text           NOT NULL,
    user_login_state text           NOT NULL CHECK (user_login_state IN ('logged_in', 'logged_out')),
    channel_group    text           NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    device_category  text           NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment          text           NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    views            bigint         NOT NULL,
    add_to_carts     bigint         NOT NULL,
    purchases        bigint         NOT NULL,
    units            bigint         NOT NULL,
    revenue          numeric(38, 2) NOT NULL,
    viewing_sessions bigint         NOT NULL,
    PRIMARY KEY (activity_date, product_id, product_category, product_brand, user_login_state, channel_group,
                 device_category, segment)
);

-- Each client's rows of it (same keys and measures): the incremental apply recomputes a pending client's rows from
-- the day of its window start on, adds the difference and replaces them (as dw.agg_dims_members).
CREATE TABLE dw.agg_product_dims_members (
    client_id        text           NOT NULL CONSTRAINT client_id_max_bytes CHECK (octet_length(client_id) <= 512),
    activity_date    date           NOT NULL,
    product_id       text           NOT NULL,
    product_category text           NOT NULL,
    product_brand    text           NOT NULL,
    user_login_state text           NOT NULL CHECK (user_login_state IN ('logged_in', 'logged_out')),
    channel_group    text           NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    device_category  text           NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment          text           NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    views            bigint         NOT NULL,
    add_to_carts     bigint         NOT NULL,
    purchases        bigint         NOT NULL,
    units            bigint         NOT NULL,
    revenue          numeric(38, 2) NOT NULL,
    viewing_sessions bigint         NOT NULL,
    PRIMARY KEY (client_id, activity_date, product_id, product_category, product_brand, user_login_state,
                 channel_group, device_category, segment)
);

-- A warehouse that already holds events: its first day is marked dirty, so the next run's recompute
-- (clickstream_etl.rebuild.rebuild_dirty_days), which rebuilds these tables from the first dirty day on, fills them.
INSERT INTO etl.dirty_days (activity_date)
SELECT (min(event_timestamp) AT TIME ZONE 'UTC')::date FROM dw.events HAVING min(event_timestamp) IS NOT NULL
ON CONFLICT DO NOTHING;
