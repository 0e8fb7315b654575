-- Daily activity from the lake, per UTC hour and session login state: dw.agg_hourly_activity's numbers
-- (docs/warehouse.md "Aggregates"). Sum a date range's rows for its totals; the distinct counts are per hour.
-- An event's session is the lake's session that holds it (same client, between its start and end): the events
-- table keeps the session id assigned at load, which a later late event may have changed. Revenue and the
-- session's flags are the ETL's stored results (events.revenue, sessions); placeholders in braces are
-- rules.SQL's.
-- Trino (Athena) SQL; only the days whose sessions are in the lake (closed days, docs/lake.md) are complete.
SELECT date_trunc('hour', e.event_timestamp) AS activity_hour,
       CAST(e.event_timestamp AS date) AS activity_date,
       s.user_login_state,
       count(*) AS events,
       count(*) FILTER (WHERE {page_view_e}) AS page_views,
       count(*) FILTER (WHERE e.event_name = 'view_item') AS view_items,
       count(*) FILTER (WHERE e.event_name = 'add_to_cart') AS add_to_carts,
       count(*) FILTER (WHERE e.event_name = 'begin_checkout') AS begin_checkouts,
       count(*) FILTER (WHERE e.event_name = {purchase}) AS purchases,
       sum(e.revenue) AS revenue,
       count(DISTINCT e.client_id) AS active_clients,
       count(DISTINCT e.user_id) AS active_users,
       count(DISTINCT s.session_id) AS active_sessions,
       count(*) FILTER (WHERE e.event_timestamp = s.session_start) AS sessions_started,
       -- a client's first visit is the first event of its first-visit session (sessions.is_first_visit)
       count(DISTINCT s.session_id) FILTER (WHERE s.is_first_visit AND e.event_timestamp = s.session_start)
         AS first_visits
FROM events e
JOIN sessions s ON s.client_id = e.client_id AND e.event_timestamp BETWEEN s.session_start AND s.session_end
GROUP BY 1, 2, 3
