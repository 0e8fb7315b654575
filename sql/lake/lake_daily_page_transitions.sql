-- Page transitions from the lake: dw.agg_daily_page_transitions's numbers (a page view of to_page directly after
-- one of from_page in the same session, on the date of the to_page view; '(entrance)' / '(exit)'). An event's
-- session is the lake's session that holds it (lake_hourly_activity.sql). Trino (Athena) SQL; placeholders in
-- braces are rules.SQL's.
WITH pv AS (
    SELECT s.session_id, s.user_login_state, e.event_timestamp, {page_key_e} AS page_url_path,
           lag({page_key_e}) OVER (PARTITION BY s.session_id ORDER BY e.event_timestamp, e.event_id) AS prev_page,
           lead({page_key_e}) OVER (PARTITION BY s.session_id ORDER BY e.event_timestamp, e.event_id) AS next_page
    FROM events e
    JOIN sessions s ON s.client_id = e.client_id AND e.event_timestamp BETWEEN s.session_start AND s.session_end
    WHERE {page_view_e} AND e.page_url_path IS NOT NULL
), steps AS (
    SELECT user_login_state, event_timestamp, coalesce(prev_page, '(entrance)') AS from_page,
           page_url_path AS to_page
    FROM pv
    UNION ALL
    SELECT user_login_state, event_timestamp, page_url_path, '(exit)' FROM pv WHERE next_page IS NULL
)
SELECT CAST(event_timestamp AS date) AS activity_date, user_login_state, from_page, to_page,
       count(*) AS transitions
FROM steps
GROUP BY 1, 2, 3, 4
