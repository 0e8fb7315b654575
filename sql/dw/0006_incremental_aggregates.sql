-- Incremental aggregates (docs/warehouse.md, "Aggregates"): the ETL run adds to the aggregate tables the change its
-- batches made, for the clients they touched (clickstream_etl.deltas), instead of a recompute of whole days after
-- the run, whose cost grew with the events already in the day. Two of the aggregates' values are not sums over the
-- touched clients' own events, so the ETL keeps a count per member to know when a member appears or goes:
--
-- * dw.agg_hourly_activity.active_users counts distinct user_ids, and one user can act from several browsers
--   (clients): dw.agg_user_hours keeps each (hour, session login state, user_id)'s event count; active_users is the
--   number of its rows, and changes by one when a row appears or drops to zero.
-- * dw.agg_daily_product.product_name is max(product_name), which a removal (a session's events moving to
--   'logged_in') cannot undo: dw.agg_product_names keeps each name's event count per product row.
--
-- Rows whose count reaches zero are deleted, so both tables equal a recompute from dw.events at any time
-- (clickstream_etl.load.refresh_aggregates rebuilds them with the other aggregates of the dirty days).

CREATE TABLE dw.agg_user_hours (
    activity_hour     timestamptz NOT NULL,
    user_login_state  text NOT NULL,   -- the session's, as in dw.agg_hourly_activity
    user_id           text NOT NULL,
    events            bigint NOT NULL,
    PRIMARY KEY (activity_hour, user_login_state, user_id)
);

CREATE TABLE dw.agg_product_names (
    activity_date      date NOT NULL,
    product_id         text NOT NULL,
    product_category   text NOT NULL,
    product_brand      text NOT NULL,
    user_login_state   text NOT NULL,
    product_name       text NOT NULL,
    events             bigint NOT NULL,   -- view_item, add_to_cart and purchase events with this name
    PRIMARY KEY (activity_date, product_id, product_category, product_brand, user_login_state, product_name)
);

-- Backfill from what is loaded (the aggregates themselves are already current).
INSERT INTO dw.agg_user_hours (activity_hour, user_login_state, user_id, events)
SELECT date_trunc('hour', e.event_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', s.user_login_state, e.user_id,
       count(*)
  FROM dw.events e JOIN dw.sessions s USING (session_id)
 WHERE e.user_id IS NOT NULL
 GROUP BY 1, 2, 3;

INSERT INTO dw.agg_product_names (activity_date, product_id, product_category, product_brand, user_login_state,
                                  product_name, events)
SELECT (e.event_timestamp AT TIME ZONE 'UTC')::date, e.product_id, coalesce(e.product_category, '(none)'),
       coalesce(e.product_brand, '(none)'), s.user_login_state, e.product_name, count(*)
  FROM dw.events e JOIN dw.sessions s USING (session_id)
 WHERE e.product_id IS NOT NULL AND e.product_name IS NOT NULL
   AND e.event_name IN ('view_item', 'add_to_cart', 'purchase')
 GROUP BY 1, 2, 3, 4, 5, 6;

-- Pending aggregate changes (clickstream_etl.deltas): each client a batch touched, from when (its window start),
-- and its facts in that window as they were before the run changed them. Written in the batches' transactions,
-- applied and emptied by the run's last step in one transaction (a killed run leaves them to the next run).
CREATE TABLE etl.delta_clients (
    client_id  text PRIMARY KEY,
    win_start  timestamptz NOT NULL
);
CREATE TABLE etl.delta_facts (   -- events from the start of the hour of win_start on, with the session's login
    client_id text NOT NULL, session_id uuid NOT NULL, event_id uuid NOT NULL, event_timestamp timestamptz NOT NULL,
    event_name text NOT NULL, user_id text, user_login_state text NOT NULL, is_first_visit boolean NOT NULL,
    starts_session boolean NOT NULL, product_id text, product_name text, product_category text NOT NULL,
    product_brand text NOT NULL, revenue numeric NOT NULL, units integer NOT NULL, page_url_path text
);
CREATE TABLE etl.delta_sfacts (  -- sessions from the start of the day of win_start on
    client_id text NOT NULL, session_date date NOT NULL, user_login_state text NOT NULL, is_engaged boolean NOT NULL,
    is_converted boolean NOT NULL, is_first_visit boolean NOT NULL, page_view_count integer NOT NULL,
    duration_seconds numeric NOT NULL, revenue numeric NOT NULL
);
