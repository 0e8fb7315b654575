-- The full recompute of the aggregates for a range of days [%(d0)s, %(d1)s) from dw.events / dw.sessions
-- (rebuild.py): the rebuild command, and the oracle the tests compare the incremental aggregates with. The
-- business rules ({placeholders}) come from clickstream_etl/rules.py.

-- name: day_events  the range's events with their session's login state, in a temp table both halves read
CREATE TEMP TABLE etl_day_events ON COMMIT DROP AS
SELECT e.event_id, e.event_timestamp, (e.event_timestamp AT TIME ZONE 'UTC')::date AS activity_date,
       e.event_name, e.client_id, e.user_id, e.session_id, e.is_first_visit, e.product_id, e.product_name,
       coalesce(e.product_category, '(none)') AS product_category,
       coalesce(e.product_brand, '(none)') AS product_brand,
       e.revenue,
       coalesce(e.quantity, 1) AS units,
       s.user_login_state, e.event_timestamp = s.session_start AS starts_session
FROM dw.events e JOIN dw.sessions s USING (session_id)
WHERE e.event_timestamp >= %(d0)s::date AND e.event_timestamp < %(d1)s::date;

-- name: activity  one half: hourly activity, users, the funnel
DELETE FROM dw.agg_user_hours WHERE activity_hour >= %(d0)s::date::timestamptz AND activity_hour < %(d1)s::date::timestamptz;

INSERT INTO dw.agg_user_hours
    SELECT date_trunc('hour', event_timestamp), user_login_state, user_id, count(*)
    FROM etl_day_events WHERE user_id IS NOT NULL GROUP BY 1, 2, 3;

DELETE FROM dw.agg_hourly_activity WHERE activity_date >= %(d0)s AND activity_date < %(d1)s;

INSERT INTO dw.agg_hourly_activity
    SELECT date_trunc('hour', event_timestamp), min(activity_date), user_login_state,
           count(*),
           count(*) FILTER (WHERE {page_view}),
           count(*) FILTER (WHERE event_name = 'view_item'),
           count(*) FILTER (WHERE event_name = 'add_to_cart'),
           count(*) FILTER (WHERE event_name = 'begin_checkout'),
           count(*) FILTER (WHERE event_name = {purchase}),
           sum(revenue),
           count(DISTINCT client_id), count(DISTINCT user_id), count(DISTINCT session_id),
           count(*) FILTER (WHERE starts_session),
           count(*) FILTER (WHERE is_first_visit)
    FROM etl_day_events GROUP BY 1, 3;

DELETE FROM dw.agg_daily_funnel WHERE activity_date >= %(d0)s AND activity_date < %(d1)s;

INSERT INTO dw.agg_daily_funnel
    SELECT activity_date,
           CASE WHEN grouping(product_category) = 1 THEN '(all)' ELSE product_category END,
           CASE WHEN grouping(product_brand) = 1 THEN '(all)' ELSE product_brand END,
           user_login_state,
           count(DISTINCT session_id) FILTER (WHERE event_name = 'view_item'),
           count(DISTINCT session_id) FILTER (WHERE event_name = 'add_to_cart'),
           count(DISTINCT session_id) FILTER (WHERE event_name = 'begin_checkout'),
           count(DISTINCT session_id) FILTER (WHERE event_name = {purchase})
    FROM etl_day_events
    WHERE event_name IN ('view_item', 'add_to_cart', 'begin_checkout', {purchase})
    GROUP BY GROUPING SETS ((activity_date, user_login_state, product_category, product_brand),
                            (activity_date, user_login_state, product_category),
                            (activity_date, user_login_state));

-- name: engagement
-- the other half: products, daily sessions, page transitions (with a hash join: right after a load dw.events and
-- dw.sessions have no statistics for the new rows, and the planner would probe the sessions' primary key once
-- per page view)
DELETE FROM dw.agg_product_names WHERE activity_date >= %(d0)s AND activity_date < %(d1)s;

INSERT INTO dw.agg_product_names
    SELECT activity_date, product_id, product_category, product_brand, user_login_state, product_name,
           count(*)
    FROM etl_day_events
    WHERE product_id IS NOT NULL AND product_name IS NOT NULL
      AND event_name IN ('view_item', 'add_to_cart', {purchase})
    GROUP BY 1, 2, 3, 4, 5, 6;

DELETE FROM dw.agg_daily_product WHERE activity_date >= %(d0)s AND activity_date < %(d1)s;

INSERT INTO dw.agg_daily_product
    SELECT activity_date, product_id, product_category, product_brand, user_login_state, max(product_name),
           count(*) FILTER (WHERE event_name = 'view_item'),
           count(*) FILTER (WHERE event_name = 'add_to_cart'),
           count(*) FILTER (WHERE event_name = {purchase}),
           coalesce(sum(units) FILTER (WHERE event_name = {purchase}), 0),
           sum(revenue),
           count(DISTINCT session_id) FILTER (WHERE event_name = 'view_item')
    FROM etl_day_events
    WHERE product_id IS NOT NULL AND event_name IN ('view_item', 'add_to_cart', {purchase})
    GROUP BY activity_date, product_id, product_category, product_brand, user_login_state;

DELETE FROM dw.agg_daily_sessions WHERE activity_date >= %(d0)s AND activity_date < %(d1)s;

INSERT INTO dw.agg_daily_sessions
    SELECT session_date, user_login_state, count(*), count(*) FILTER (WHERE is_engaged),
           count(*) FILTER (WHERE is_converted), count(*) FILTER (WHERE is_first_visit),
           count(DISTINCT client_id), sum(page_view_count), sum(duration_seconds), sum(revenue)
    FROM dw.sessions WHERE session_date >= %(d0)s AND session_date < %(d1)s
    GROUP BY 1, 2;

DELETE FROM dw.agg_daily_page_transitions WHERE activity_date >= %(d0)s AND activity_date < %(d1)s;

SET LOCAL enable_nestloop = off;

INSERT INTO dw.agg_daily_page_transitions
    WITH pv AS (
      SELECT e.session_id, e.event_timestamp, {page_key_e} AS page_url_path,
             lag({page_key_e}) OVER w AS prev_page, lead({page_key_e}) OVER w AS next_page
      FROM dw.events e
      WHERE e.event_timestamp >= %(d0)s::date - 1 AND e.event_timestamp < %(d1)s::date + 1
        AND {page_view_e} AND e.page_url_path IS NOT NULL
      WINDOW w AS (PARTITION BY e.session_id ORDER BY e.event_timestamp, e.event_id)
    ), steps AS (
      SELECT session_id, event_timestamp, coalesce(prev_page, '(entrance)') AS from_page,
             page_url_path AS to_page
      FROM pv
      UNION ALL
      SELECT session_id, event_timestamp, page_url_path, '(exit)' FROM pv WHERE next_page IS NULL
    )
    SELECT (st.event_timestamp AT TIME ZONE 'UTC')::date, s.user_login_state, st.from_page, st.to_page,
           count(*)
    FROM steps st JOIN dw.sessions s USING (session_id)
    WHERE st.event_timestamp >= %(d0)s::date AND st.event_timestamp < %(d1)s::date
    GROUP BY 1, 2, 3, 4;

SET LOCAL enable_nestloop TO DEFAULT;

-- name: clear_dirty
DELETE FROM etl.dirty_days WHERE activity_date >= %(d0)s AND activity_date < %(d1)s;

-- name: client_returns
-- every (client, day, login state) from %(d0)s on, with the client's previous active day: from the days in the
-- window itself (lag), or, for its first day in the window, its newest session before %(d0)s (per login state
-- and for '(all)'; one index range scan per client, %(horizon)s days back)
DELETE FROM dw.agg_daily_client_returns WHERE activity_date >= %(d0)s;

INSERT INTO dw.agg_daily_client_returns (activity_date, user_login_state, previous_date, clients)
    WITH active AS (
        SELECT client_id, session_date, user_login_state FROM dw.sessions
         WHERE session_date >= %(d0)s GROUP BY 1, 2, 3
    ), keyed AS (
        SELECT client_id, session_date, user_login_state FROM active
        UNION ALL
        SELECT DISTINCT client_id, session_date, '(all)' FROM active
    ), earlier AS (
        SELECT s.client_id, s.user_login_state, max(s.session_date) AS p
          FROM (SELECT DISTINCT client_id FROM active) c
          JOIN dw.sessions s ON s.client_id = c.client_id
           AND s.session_start >= (%(d0)s::date - %(horizon)s)::timestamp AT TIME ZONE 'UTC'
           AND s.session_start < %(d0)s::date::timestamp AT TIME ZONE 'UTC'
         GROUP BY 1, 2
    ), earlier_keyed AS (
        SELECT client_id, user_login_state, p FROM earlier
        UNION ALL
        SELECT client_id, '(all)', max(p) FROM earlier GROUP BY 1
    ), prev AS (
        SELECT client_id, session_date, user_login_state,
               lag(session_date) OVER (PARTITION BY client_id, user_login_state ORDER BY session_date) AS p
          FROM keyed
    )
    SELECT v.session_date, v.user_login_state,
           CASE WHEN v.p IS NULL OR v.p <= v.session_date - %(horizon)s THEN '-infinity'::date ELSE v.p END,
           count(*)
      FROM (SELECT p.session_date, p.user_login_state, coalesce(p.p, e.p) AS p
              FROM prev p LEFT JOIN earlier_keyed e
                ON p.p IS NULL AND e.client_id = p.client_id AND e.user_login_state = p.user_login_state) v
     GROUP BY 1, 2, 3;
