-- The Products dashboard under the channel, device and segment filters (issue 25 items 4 and 6;
-- clickstream_etl/product_dims.py, queries/product_dims.sql; docs/warehouse.md, "Products by channel, device and
-- segment"). dw.agg_daily_product's measures (views, add-to-carts, purchases, units, revenue of the product events of
-- a UTC day, and the sessions that viewed the product that day) per login state of the event's session and that
-- session's channel group, device category and segment (as dw.agg_hourly_dims: sql/dw/0041, 0045), each also
-- '(all)' for any value (the 8 combinations), so that any filter reads only its own rows through
-- agg_daily_product_dims_filter_idx; the rows with none '(all)' sum to dw.agg_daily_product's, and those with all
-- three '(all)' are dw.agg_daily_product's (product_name aside: the dashboard takes it from there). The product
-- columns come from dw.events, whose bounds (sql/dw/0011) hold for them. The unfiltered dashboard keeps reading
-- dw.agg_daily_product.
CREATE TABLE dw.agg_daily_product_dims (
    activity_date    date           NOT NULL,
    product_id       text           NOT NULL,
    product_category text           NOT NULL,
    product_brand    text           NOT NULL,
    user_login_state text           NOT NULL CHECK (user_login_state IN ('logged_in', 'logged_out')),
    channel_group    text           NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    device_category  text           NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment          text           NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost', '(all)')),
    views            bigint         NOT NULL,
    add_to_carts     bigint         NOT NULL,
    purchases        bigint         NOT NULL,
    units            bigint         NOT NULL,
    revenue          numeric(38, 2) NOT NULL,
    viewing_sessions bigint         NOT NULL,
    PRIMARY KEY (activity_date, product_id, product_category, product_brand, user_login_state, channel_group,
                 device_category, segment)
);
-- A filter's rows: the three keys (each a value or '(all)') and the date range; covering, so the dashboards read the
-- index only (a filter's rows are spread over the whole table).
CREATE INDEX agg_daily_product_dims_filter_idx ON dw.agg_daily_product_dims
    (channel_group, device_category, segment, activity_date)
    INCLUDE (product_id, product_category, product_brand, user_login_state, views, add_to_carts, purchases, units,
             revenue, viewing_sessions);

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

-- The overview's Users KPI under the channel, device and segment filters (issue 25 items 4 and 6; queries/
-- acquisition_dims.sql, 'users_*'; docs/warehouse.md, "Distinct users under the filters"): the same device as
-- dw.agg_daily_client_returns (sql/dw/0005) -- each client active on a day, counted with its previous active day,
-- '-infinity' when it had none in the 366 days before, so the clients active in [a, b] are the rows of days in
-- [a, b] whose previous day is before a -- per filter value: "active" under (login state, channel group, device
-- category, segment) is having started a session that day with those keys, each key '(all)' for any value (the
-- 16 combinations of a session's keys). One range scan of the primary key answers any filter:
--   SELECT sum(clients) FROM dw.agg_daily_users_dims WHERE (user_login_state, channel_group, device_category,
--     segment) = ($3, $4, $5, $6) AND activity_date BETWEEN a AND b AND previous_date < a
-- The clients' active days and keys are those of dw.agg_acquisition_dims_members (sql/dw/0046), from which the
-- apply and the rebuild compute it.
CREATE TABLE dw.agg_daily_users_dims (
    user_login_state text   NOT NULL CHECK (user_login_state IN ('logged_in', 'logged_out', '(all)')),
    channel_group    text   NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    device_category  text   NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment          text   NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost', '(all)')),
    activity_date    date   NOT NULL,
    previous_date    date   NOT NULL,
    clients          bigint NOT NULL,
    PRIMARY KEY (user_login_state, channel_group, device_category, segment, activity_date, previous_date)
);
