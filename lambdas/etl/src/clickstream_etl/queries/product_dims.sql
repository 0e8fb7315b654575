-- The Products dashboard under the channel, device and segment filters (product_dims.py; sql/dw/0047): each client's
-- rows of dw.agg_daily_product_dims from the day d0 on (the members: each key its value; the aggregate also has
-- every combination with '(all)' for any value), from its product events from d0 on and their sessions with
-- segments that the dims step has just made (etl_dims_sd, etl_dims_clients: queries/dims.sql, 'members', which
-- runs first), and what the incremental apply and the rebuild write.

-- name: members  the one definition: the clients' rows (etl_prodd_now), as dw.agg_daily_product counts them
-- (queries/aggregates.sql, 'products'; category and brand '(none)' when missing), per session keys
DROP TABLE IF EXISTS etl_prodd_now;

CREATE TEMP TABLE etl_prodd_now ON COMMIT DROP AS
WITH p AS (
    SELECT e.client_id, (e.event_timestamp AT TIME ZONE 'UTC')::date AS activity_date, e.product_id,
           coalesce(e.product_category, '(none)') AS product_category,
           coalesce(e.product_brand, '(none)') AS product_brand, sd.user_login_state, sd.channel_group,
           sd.device_category, sd.segment, e.session_id,
           count(*) FILTER (WHERE e.event_name = 'view_item') AS views,
           count(*) FILTER (WHERE e.event_name = 'add_to_cart') AS add_to_carts,
           count(*) FILTER (WHERE e.event_name = {purchase}) AS purchases,
           coalesce(sum(coalesce(e.quantity, 1)) FILTER (WHERE e.event_name = {purchase}), 0) AS units,
           sum(e.revenue) AS revenue
      FROM etl_dims_clients c
      JOIN dw.events e ON e.client_id = c.client_id AND e.event_timestamp >= c.d0::timestamp AT TIME ZONE 'UTC'
      JOIN etl_dims_sd sd ON sd.session_id = e.session_id
     WHERE e.product_id IS NOT NULL AND e.event_name IN ('view_item', 'add_to_cart', {purchase})
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
)
SELECT client_id, activity_date, product_id, product_category, product_brand, user_login_state, channel_group, device_category, segment, sum(views) AS views, sum(add_to_carts) AS add_to_carts, sum(purchases) AS purchases,
       sum(units) AS units, sum(revenue) AS revenue, count(*) FILTER (WHERE views > 0) AS viewing_sessions
  FROM p
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

-- name: apply  the difference between the clients' rows now and as kept, added to the aggregate; then their rows
DROP TABLE IF EXISTS etl_prodd_delta;

CREATE TEMP TABLE etl_prodd_delta ON COMMIT DROP AS
SELECT x.activity_date, x.product_id, x.product_category, x.product_brand, x.user_login_state,
       CASE WHEN b & 1 = 0 THEN x.channel_group ELSE '(all)' END AS channel_group,
       CASE WHEN b & 2 = 0 THEN x.device_category ELSE '(all)' END AS device_category,
       CASE WHEN b & 4 = 0 THEN x.segment ELSE '(all)' END AS segment,
       sum(views) AS views, sum(add_to_carts) AS add_to_carts, sum(purchases) AS purchases, sum(units) AS units,
       sum(revenue) AS revenue, sum(viewing_sessions) AS viewing_sessions
  FROM (SELECT activity_date, product_id, product_category, product_brand, user_login_state, channel_group, device_category, segment, views, add_to_carts, purchases, units, revenue, viewing_sessions FROM etl_prodd_now
        UNION ALL
        SELECT m.activity_date, m.product_id, m.product_category, m.product_brand, m.user_login_state,
               m.channel_group, m.device_category, m.segment, -m.views, -m.add_to_carts, -m.purchases, -m.units,
               -m.revenue, -m.viewing_sessions
          FROM etl_dims_clients c
          JOIN dw.agg_product_dims_members m ON m.client_id = c.client_id AND m.activity_date >= c.d0) x
 CROSS JOIN generate_series(0, 7) b  -- each key as it is or '(all)': the 8 combinations (sql/dw/0047)
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
HAVING sum(views) <> 0 OR sum(add_to_carts) <> 0 OR sum(purchases) <> 0 OR sum(units) <> 0 OR sum(revenue) <> 0
    OR sum(viewing_sessions) <> 0;

INSERT INTO dw.agg_daily_product_dims AS a
    SELECT * FROM etl_prodd_delta
    ON CONFLICT (activity_date, product_id, product_category, product_brand, user_login_state, channel_group, device_category, segment) DO UPDATE SET
      views = a.views + excluded.views, add_to_carts = a.add_to_carts + excluded.add_to_carts,
      purchases = a.purchases + excluded.purchases, units = a.units + excluded.units,
      revenue = a.revenue + excluded.revenue, viewing_sessions = a.viewing_sessions + excluded.viewing_sessions;

-- a row without product events has nothing else
DELETE FROM dw.agg_daily_product_dims a USING etl_prodd_delta d
    WHERE (a.activity_date, a.product_id, a.product_category, a.product_brand, a.user_login_state, a.channel_group,
           a.device_category, a.segment)
        = (d.activity_date, d.product_id, d.product_category, d.product_brand, d.user_login_state, d.channel_group,
           d.device_category, d.segment) AND a.views = 0 AND a.add_to_carts = 0 AND a.purchases = 0;

DELETE FROM dw.agg_product_dims_members m USING etl_dims_clients c
    WHERE m.client_id = c.client_id AND m.activity_date >= c.d0;

INSERT INTO dw.agg_product_dims_members SELECT * FROM etl_prodd_now;

-- name: rebuild  both tables from %(d0)s on, from scratch (etl_dims_clients: every client, queries/dims.sql)
DELETE FROM dw.agg_product_dims_members WHERE activity_date >= %(d0)s;

DELETE FROM dw.agg_daily_product_dims WHERE activity_date >= %(d0)s;

INSERT INTO dw.agg_product_dims_members SELECT * FROM etl_prodd_now;

INSERT INTO dw.agg_daily_product_dims
    SELECT x.activity_date, x.product_id, x.product_category, x.product_brand, x.user_login_state,
           CASE WHEN b & 1 = 0 THEN x.channel_group ELSE '(all)' END,
           CASE WHEN b & 2 = 0 THEN x.device_category ELSE '(all)' END,
           CASE WHEN b & 4 = 0 THEN x.segment ELSE '(all)' END,
           sum(views), sum(add_to_carts), sum(purchases), sum(units), sum(revenue), sum(viewing_sessions)
      FROM etl_prodd_now x CROSS JOIN generate_series(0, 7) b
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
