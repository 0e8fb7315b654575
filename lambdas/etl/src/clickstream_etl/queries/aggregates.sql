-- The incremental aggregates (aggregates.py): what each apply part adds to the aggregate tables, from the
-- pending clients' facts before (-1) and now (+1) in etl_facts / etl_sfacts / etl_cr. The business rules
-- ({placeholders}) come from clickstream_etl/rules.py.

-- name: activity_users
-- distinct users of an hour: member counts, then +1 for a member that appears, -1 for one that goes
WITH d AS (
        SELECT date_trunc('hour', event_timestamp) AS h, user_login_state AS l, user_id AS u, sum(sign) AS n
          FROM etl_facts WHERE user_id IS NOT NULL GROUP BY 1, 2, 3 HAVING sum(sign) <> 0
    ), up AS (
        INSERT INTO dw.agg_user_hours AS m (activity_hour, user_login_state, user_id, events)
        SELECT h, l, u, n FROM d
        ON CONFLICT (activity_hour, user_login_state, user_id) DO UPDATE SET events = m.events + excluded.events
        RETURNING m.activity_hour, m.user_login_state, m.user_id, m.events
    )
    INSERT INTO etl_user_delta
    SELECT up.activity_hour, up.user_login_state,
           sum(CASE WHEN up.events = d.n AND up.events > 0 THEN 1 WHEN up.events = 0 THEN -1 ELSE 0 END)
      FROM up JOIN d ON d.h = up.activity_hour AND d.l = up.user_login_state AND d.u = up.user_id
     GROUP BY 1, 2;

DELETE FROM dw.agg_user_hours m
    USING (SELECT DISTINCT date_trunc('hour', event_timestamp) AS h, user_login_state AS l, user_id AS u
             FROM etl_facts WHERE user_id IS NOT NULL) d
    WHERE m.activity_hour = d.h AND m.user_login_state = d.l AND m.user_id = d.u AND m.events = 0;

-- name: activity_hourly
-- hourly activity: events first summed per (hour, login state, sign, client, session), about one row per session
-- and hour, so the distinct counts after it sort a tenth of the rows; run with sorts discouraged
WITH p AS (
        SELECT date_trunc('hour', event_timestamp) AS h, user_login_state AS l, sign, client_id, session_id,
               min((event_timestamp AT TIME ZONE 'UTC')::date) AS dte, count(*) AS events,
               count(*) FILTER (WHERE {page_view}) AS page_views,
               count(*) FILTER (WHERE event_name = 'view_item') AS view_items,
               count(*) FILTER (WHERE event_name = 'add_to_cart') AS add_to_carts,
               count(*) FILTER (WHERE event_name = 'begin_checkout') AS begin_checkouts,
               count(*) FILTER (WHERE event_name = {purchase}) AS purchases,
               sum(revenue) AS revenue,
               count(*) FILTER (WHERE starts_session) AS started,
               count(*) FILTER (WHERE is_first_visit) AS first_visits
          FROM etl_facts GROUP BY 1, 2, 3, 4, 5
    ), d AS (
        SELECT h, min(dte) AS dte, l, sum(sign * events) AS events, sum(sign * page_views) AS page_views,
               sum(sign * view_items) AS view_items, sum(sign * add_to_carts) AS add_to_carts,
               sum(sign * begin_checkouts) AS begin_checkouts, sum(sign * purchases) AS purchases,
               sum(sign * revenue) AS revenue,
               count(DISTINCT client_id) FILTER (WHERE sign > 0)
                 - count(DISTINCT client_id) FILTER (WHERE sign < 0) AS clients,
               sum(sign) AS sessions,
               sum(sign * started) AS started, sum(sign * first_visits) AS first_visits
          FROM p GROUP BY h, l
    )
    INSERT INTO dw.agg_hourly_activity AS a
    SELECT d.h, d.dte, d.l, d.events, d.page_views, d.view_items, d.add_to_carts, d.begin_checkouts, d.purchases,
           d.revenue, d.clients, coalesce(u.du, 0), d.sessions, d.started, d.first_visits
      FROM d LEFT JOIN etl_user_delta u ON u.h = d.h AND u.l = d.l
    ON CONFLICT (activity_hour, user_login_state) DO UPDATE SET
      events = a.events + excluded.events, page_views = a.page_views + excluded.page_views,
      view_items = a.view_items + excluded.view_items, add_to_carts = a.add_to_carts + excluded.add_to_carts,
      begin_checkouts = a.begin_checkouts + excluded.begin_checkouts,
      purchases = a.purchases + excluded.purchases, revenue = a.revenue + excluded.revenue,
      active_clients = a.active_clients + excluded.active_clients,
      active_users = a.active_users + excluded.active_users,
      active_sessions = a.active_sessions + excluded.active_sessions,
      sessions_started = a.sessions_started + excluded.sessions_started,
      first_visits = a.first_visits + excluded.first_visits;

-- name: activity_hourly_clean
DELETE FROM dw.agg_hourly_activity a
    USING (SELECT DISTINCT date_trunc('hour', event_timestamp) AS h, user_login_state AS l FROM etl_facts) d
    WHERE a.activity_hour = d.h AND a.user_login_state = d.l AND a.events = 0;

-- name: activity_transitions
-- page transitions between consecutive page views of a session, by page ({page_key}: rules.page_key_sql) (a session is wholly before or after the window
-- start, so the partial ones at its start are alike in both captures and cancel)
INSERT INTO dw.agg_daily_page_transitions AS a
    WITH pv AS (
      SELECT sign, session_id, user_login_state, event_timestamp, {page_key} AS page_url_path,
             lag({page_key}) OVER w AS prev_page, lead({page_key}) OVER w AS next_page
        FROM etl_facts
       WHERE {page_view} AND page_url_path IS NOT NULL
      WINDOW w AS (PARTITION BY sign, session_id ORDER BY event_timestamp, event_id)
    ), steps AS (
      SELECT sign, user_login_state, event_timestamp, coalesce(prev_page, '(entrance)') AS from_page,
             page_url_path AS to_page
        FROM pv
      UNION ALL
      SELECT sign, user_login_state, event_timestamp, page_url_path, '(exit)' FROM pv WHERE next_page IS NULL
    )
    SELECT (event_timestamp AT TIME ZONE 'UTC')::date, user_login_state, from_page, to_page, sum(sign)
      FROM steps GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0
    ON CONFLICT (activity_date, user_login_state, from_page, to_page) DO UPDATE SET
      transitions = a.transitions + excluded.transitions;

DELETE FROM dw.agg_daily_page_transitions
    WHERE activity_date IN (SELECT DISTINCT (event_timestamp AT TIME ZONE 'UTC')::date FROM etl_facts
                             WHERE {page_view})
      AND transitions = 0;

-- name: products
-- funnel: distinct sessions per step, counted apart before and after; products per session first, their keys
-- kept in etl_product_keys for the clean-up
INSERT INTO dw.agg_daily_funnel AS a
    WITH f AS (
      SELECT DISTINCT sign, (event_timestamp AT TIME ZONE 'UTC')::date AS dte, user_login_state, product_category,
             product_brand, event_name, session_id
        FROM etl_facts WHERE event_name IN ('view_item', 'add_to_cart', 'begin_checkout', {purchase})
    )
    SELECT dte,
           CASE WHEN grouping(product_category) = 1 THEN '(all)' ELSE product_category END,
           CASE WHEN grouping(product_brand) = 1 THEN '(all)' ELSE product_brand END,
           user_login_state,
           count(DISTINCT session_id) FILTER (WHERE sign > 0 AND event_name = 'view_item')
             - count(DISTINCT session_id) FILTER (WHERE sign < 0 AND event_name = 'view_item'),
           count(DISTINCT session_id) FILTER (WHERE sign > 0 AND event_name = 'add_to_cart')
             - count(DISTINCT session_id) FILTER (WHERE sign < 0 AND event_name = 'add_to_cart'),
           count(DISTINCT session_id) FILTER (WHERE sign > 0 AND event_name = 'begin_checkout')
             - count(DISTINCT session_id) FILTER (WHERE sign < 0 AND event_name = 'begin_checkout'),
           count(DISTINCT session_id) FILTER (WHERE sign > 0 AND event_name = {purchase})
             - count(DISTINCT session_id) FILTER (WHERE sign < 0 AND event_name = {purchase})
      FROM f
     GROUP BY GROUPING SETS ((dte, user_login_state, product_category, product_brand),
                             (dte, user_login_state, product_category),
                             (dte, user_login_state))
    ON CONFLICT (activity_date, product_category, product_brand, user_login_state) DO UPDATE SET
      view_item_sessions = a.view_item_sessions + excluded.view_item_sessions,
      add_to_cart_sessions = a.add_to_cart_sessions + excluded.add_to_cart_sessions,
      begin_checkout_sessions = a.begin_checkout_sessions + excluded.begin_checkout_sessions,
      purchase_sessions = a.purchase_sessions + excluded.purchase_sessions;

DELETE FROM dw.agg_daily_funnel
    WHERE activity_date IN (SELECT DISTINCT (event_timestamp AT TIME ZONE 'UTC')::date FROM etl_facts)
      AND view_item_sessions = 0 AND add_to_cart_sessions = 0 AND begin_checkout_sessions = 0
      AND purchase_sessions = 0;

CREATE TEMP TABLE etl_product_keys (activity_date date NOT NULL, product_id text NOT NULL,
    product_category text NOT NULL, product_brand text NOT NULL, user_login_state text NOT NULL)
    ON COMMIT DROP;

WITH up AS (
    INSERT INTO dw.agg_daily_product AS a
    WITH p AS (
      SELECT (event_timestamp AT TIME ZONE 'UTC')::date AS dte, product_id, product_category, product_brand,
             user_login_state, sign, session_id,
             count(*) FILTER (WHERE event_name = 'view_item') AS views,
             count(*) FILTER (WHERE event_name = 'add_to_cart') AS add_to_carts,
             count(*) FILTER (WHERE event_name = {purchase}) AS purchases,
             coalesce(sum(units) FILTER (WHERE event_name = {purchase}), 0) AS units,
             sum(revenue) AS revenue
        FROM etl_facts
       WHERE product_id IS NOT NULL AND event_name IN ('view_item', 'add_to_cart', {purchase})
       GROUP BY 1, 2, 3, 4, 5, 6, 7
    )
    SELECT dte, product_id, product_category, product_brand, user_login_state, NULL,
           sum(sign * views), sum(sign * add_to_carts), sum(sign * purchases), sum(sign * units),
           sum(sign * revenue), coalesce(sum(sign) FILTER (WHERE views > 0), 0)
      FROM p
     GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (activity_date, product_id, product_category, product_brand, user_login_state) DO UPDATE SET
      views = a.views + excluded.views, add_to_carts = a.add_to_carts + excluded.add_to_carts,
      purchases = a.purchases + excluded.purchases, units = a.units + excluded.units,
      revenue = a.revenue + excluded.revenue, viewing_sessions = a.viewing_sessions + excluded.viewing_sessions
    RETURNING a.activity_date, a.product_id, a.product_category, a.product_brand, a.user_login_state
    )
    INSERT INTO etl_product_keys SELECT * FROM up;

INSERT INTO dw.agg_product_names AS m
    SELECT (event_timestamp AT TIME ZONE 'UTC')::date, product_id, product_category, product_brand,
           user_login_state, product_name, sum(sign)
      FROM etl_facts
     WHERE product_id IS NOT NULL AND product_name IS NOT NULL
       AND event_name IN ('view_item', 'add_to_cart', {purchase})
     GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(sign) <> 0
    ON CONFLICT (activity_date, product_id, product_category, product_brand, user_login_state, product_name)
    DO UPDATE SET events = m.events + excluded.events;

DELETE FROM dw.agg_product_names m USING etl_product_keys k
    WHERE (m.activity_date, m.product_id, m.product_category, m.product_brand, m.user_login_state)
        = (k.activity_date, k.product_id, k.product_category, k.product_brand, k.user_login_state)
      AND m.events = 0;

DELETE FROM dw.agg_daily_product a USING etl_product_keys k
    WHERE (a.activity_date, a.product_id, a.product_category, a.product_brand, a.user_login_state)
        = (k.activity_date, k.product_id, k.product_category, k.product_brand, k.user_login_state)
      AND a.views = 0 AND a.add_to_carts = 0 AND a.purchases = 0;

UPDATE dw.agg_daily_product a SET product_name = n.product_name
     FROM (SELECT k.*, (SELECT max(m.product_name) FROM dw.agg_product_names m
                         WHERE (m.activity_date, m.product_id, m.product_category, m.product_brand,
                                m.user_login_state)
                             = (k.activity_date, k.product_id, k.product_category, k.product_brand,
                                k.user_login_state)) AS product_name
             FROM etl_product_keys k) n
    WHERE (a.activity_date, a.product_id, a.product_category, a.product_brand, a.user_login_state)
        = (n.activity_date, n.product_id, n.product_category, n.product_brand, n.user_login_state)
      AND a.product_name IS DISTINCT FROM n.product_name;

-- name: sessions  sessions per day of start, and the client returns
INSERT INTO dw.agg_daily_sessions AS a
    SELECT session_date, user_login_state, sum(sign),
           coalesce(sum(sign) FILTER (WHERE is_engaged), 0), coalesce(sum(sign) FILTER (WHERE is_converted), 0),
           coalesce(sum(sign) FILTER (WHERE is_first_visit), 0),
           count(DISTINCT client_id) FILTER (WHERE sign > 0) - count(DISTINCT client_id) FILTER (WHERE sign < 0),
           sum(sign * page_view_count), sum(sign * duration_seconds), sum(sign * revenue)
      FROM etl_sfacts GROUP BY 1, 2
    ON CONFLICT (activity_date, user_login_state) DO UPDATE SET
      sessions = a.sessions + excluded.sessions, engaged_sessions = a.engaged_sessions + excluded.engaged_sessions,
      converted_sessions = a.converted_sessions + excluded.converted_sessions,
      first_visit_sessions = a.first_visit_sessions + excluded.first_visit_sessions,
      clients = a.clients + excluded.clients, page_views = a.page_views + excluded.page_views,
      total_duration_seconds = a.total_duration_seconds + excluded.total_duration_seconds,
      revenue = a.revenue + excluded.revenue;

DELETE FROM dw.agg_daily_sessions
    WHERE activity_date IN (SELECT DISTINCT session_date FROM etl_sfacts) AND sessions = 0;

INSERT INTO dw.agg_daily_client_returns AS a (activity_date, user_login_state, previous_date, clients)
    SELECT activity_date, user_login_state, previous_date, sum(sign) FROM etl_cr
     GROUP BY 1, 2, 3 HAVING sum(sign) <> 0
    ON CONFLICT (user_login_state, activity_date, previous_date) DO UPDATE SET
      clients = a.clients + excluded.clients;

DELETE FROM dw.agg_daily_client_returns a USING (SELECT DISTINCT activity_date, user_login_state FROM etl_cr) k
    WHERE a.user_login_state = k.user_login_state AND a.activity_date = k.activity_date AND a.clients = 0;

-- name: client_returns
-- dw.agg_daily_client_returns rows from the first day of each client's window on, before and after, for the
-- clients whose active days changed; its active days before that day did not change: its latest one per login
-- state is read now
INSERT INTO etl_cr
WITH c AS (
    SELECT client_id, win_start::date AS d0 FROM etl.delta_clients
), act AS (
    SELECT DISTINCT sign, client_id, session_date AS d, user_login_state AS l FROM etl_sfacts
), changed AS (
    SELECT DISTINCT client_id FROM act GROUP BY client_id, d, l HAVING count(DISTINCT sign) = 1
), prior AS (
    SELECT c.client_id, p.l, p.d
      FROM c JOIN changed USING (client_id)
      CROSS JOIN LATERAL (
          SELECT s.user_login_state AS l, max(s.session_date) AS d FROM dw.sessions s
           WHERE s.client_id = c.client_id
             AND s.session_start >= (c.d0 - %(horizon)s)::timestamp AT TIME ZONE 'UTC'
             AND s.session_start < c.d0::timestamp AT TIME ZONE 'UTC'
           GROUP BY 1) p
), keyed AS (
    SELECT sign, client_id, d, l FROM act JOIN changed USING (client_id)
    UNION
    SELECT sign, client_id, d, '(all)' FROM act JOIN changed USING (client_id)
    UNION
    SELECT g.sign, p.client_id, p.d, p.l FROM prior p CROSS JOIN (VALUES (-1), (1)) g(sign)
    UNION
    SELECT g.sign, p.client_id, max(p.d), '(all)' FROM prior p CROSS JOIN (VALUES (-1), (1)) g(sign) GROUP BY 1, 2
), prev AS (
    SELECT sign, client_id, d, l, lag(d) OVER (PARTITION BY sign, client_id, l ORDER BY d) AS p FROM keyed
)
SELECT sign, d, l, CASE WHEN p IS NULL OR p <= d - %(horizon)s THEN '-infinity'::date ELSE p END
  FROM prev JOIN c USING (client_id) WHERE d >= c.d0;
