-- Product engagement from the lake, per day, product and session login state: dw.agg_daily_product's numbers.
-- An event's session is the lake's session that holds it (lake_hourly_activity.sql); revenue is the ETL's stored
-- events.revenue. Trino (Athena) SQL; placeholders in braces are rules.SQL's.
SELECT CAST(e.event_timestamp AS date) AS activity_date,
       e.product_id,
       coalesce(e.product_category, '(none)') AS product_category,
       coalesce(e.product_brand, '(none)') AS product_brand,
       s.user_login_state,
       max(e.product_name) AS product_name,
       count(*) FILTER (WHERE e.event_name = 'view_item') AS views,
       count(*) FILTER (WHERE e.event_name = 'add_to_cart') AS add_to_carts,
       count(*) FILTER (WHERE e.event_name = {purchase}) AS purchases,
       coalesce(sum(coalesce(e.quantity, 1)) FILTER (WHERE e.event_name = {purchase}), 0) AS units,
       sum(e.revenue) AS revenue,
       count(DISTINCT s.session_id) FILTER (WHERE e.event_name = 'view_item') AS viewing_sessions
FROM events e
JOIN sessions s ON s.client_id = e.client_id AND e.event_timestamp BETWEEN s.session_start AND s.session_end
WHERE e.product_id IS NOT NULL AND e.event_name IN ('view_item', 'add_to_cart', {purchase})
GROUP BY 1, 2, 3, 4, 5
