-- The open funnel view_item -> add_to_cart -> begin_checkout -> purchase from the lake: dw.agg_daily_funnel's
-- numbers (sessions with a step that day, by event date; '(all)' rows count each session once across brands /
-- categories). An event's session is the lake's session that holds it (lake_hourly_activity.sql). Trino (Athena)
-- SQL; placeholders in braces are rules.SQL's.
SELECT activity_date,
       CASE WHEN grouping(product_category) = 1 THEN '(all)' ELSE product_category END AS product_category,
       CASE WHEN grouping(product_brand) = 1 THEN '(all)' ELSE product_brand END AS product_brand,
       user_login_state,
       count(DISTINCT session_id) FILTER (WHERE event_name = 'view_item') AS view_item_sessions,
       count(DISTINCT session_id) FILTER (WHERE event_name = 'add_to_cart') AS add_to_cart_sessions,
       count(DISTINCT session_id) FILTER (WHERE event_name = 'begin_checkout') AS begin_checkout_sessions,
       count(DISTINCT session_id) FILTER (WHERE event_name = {purchase}) AS purchase_sessions
FROM (
    SELECT CAST(e.event_timestamp AS date) AS activity_date, e.event_name, s.session_id,
           coalesce(e.product_category, '(none)') AS product_category,
           coalesce(e.product_brand, '(none)') AS product_brand, s.user_login_state
    FROM events e
    JOIN sessions s ON s.client_id = e.client_id AND e.event_timestamp BETWEEN s.session_start AND s.session_end
    WHERE e.event_name IN ('view_item', 'add_to_cart', 'begin_checkout', {purchase})
) f
GROUP BY GROUPING SETS ((activity_date, user_login_state, product_category, product_brand),
                        (activity_date, user_login_state, product_category),
                        (activity_date, user_login_state))
