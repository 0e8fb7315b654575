-- Daily sessions from the lake, by session start date and login state: dw.agg_daily_sessions's numbers, from the
-- lake's sessions (the warehouse's, with the ETL's stored flags: engaged, converted, first visit).
-- Engagement rate = engaged_sessions / sessions. Trino (Athena) SQL.
SELECT session_date AS activity_date,
       user_login_state,
       count(*) AS sessions,
       count(*) FILTER (WHERE is_engaged) AS engaged_sessions,
       count(*) FILTER (WHERE is_converted) AS converted_sessions,
       count(*) FILTER (WHERE is_first_visit) AS first_visit_sessions,
       count(DISTINCT client_id) AS clients,
       sum(page_view_count) AS page_views,
       sum(duration_seconds) AS total_duration_seconds,
       sum(revenue) AS revenue
FROM sessions
GROUP BY 1, 2
