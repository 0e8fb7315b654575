# Overview and time trends: totals with change against the previous period, activity per hour and per day,
# weekday x hour heatmap. Reads dw.agg_hourly_activity and dw.agg_daily_sessions; distinct visitors (a distinct
# count cannot be summed from per-day counts) from dw.agg_daily_client_returns: the clients active in the period
# are those active on a day of it whose previous active day is before the period (sql/dw/0005_*). Its login-state
# key is '(all)' for all sessions, like the filter value.
# Category and brand do not apply here (activity is not per product); the login state does. With a channel, device
# or segment filter (dims_filtered) the numbers come from dw.agg_hourly_dims instead: the same definitions (events
# and page views per event hour, sessions, conversions and revenue per session start), and distinct visitors from
# dw.agg_daily_users_dims (sql/dw/0047: dw.agg_daily_client_returns's rows per filter value, '(all)' for any): the
# clients with a session of those keys in the period.

SQL_OVERVIEW_TOTALS <- "
SELECT
  (SELECT coalesce(sum(events), 0) FROM dw.agg_hourly_activity
    WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)) AS events,
  (SELECT coalesce(sum(page_views), 0) FROM dw.agg_hourly_activity
    WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)) AS page_views,
  d.sessions, d.converted_sessions, d.revenue,
  (SELECT coalesce(sum(clients), 0) FROM dw.agg_daily_client_returns
    WHERE user_login_state = $3 AND activity_date BETWEEN $1::date AND $2::date
      AND previous_date < $1::date) AS users
FROM (SELECT coalesce(sum(sessions), 0) AS sessions, coalesce(sum(converted_sessions), 0) AS converted_sessions,
             coalesce(sum(revenue), 0) AS revenue
        FROM dw.agg_daily_sessions
       WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)) d"

SQL_OVERVIEW_HOURLY <- "
SELECT activity_hour, sum(events) AS events, sum(sessions_started) AS sessions, sum(active_sessions) AS active_sessions
  FROM dw.agg_hourly_activity
 WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
 GROUP BY activity_hour ORDER BY activity_hour"

SQL_OVERVIEW_DAILY <- "
SELECT h.activity_date, h.events, coalesce(s.sessions, 0) AS sessions, coalesce(s.revenue, 0) AS revenue
  FROM (SELECT activity_date, sum(events) AS events FROM dw.agg_hourly_activity
         WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
         GROUP BY activity_date) h
  LEFT JOIN (SELECT activity_date, sum(sessions) AS sessions, sum(revenue) AS revenue FROM dw.agg_daily_sessions
              WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
              GROUP BY activity_date) s USING (activity_date)
 ORDER BY h.activity_date"

SQL_OVERVIEW_HEATMAP <- "
SELECT extract(isodow FROM activity_hour AT TIME ZONE 'UTC')::int AS weekday,
       extract(hour FROM activity_hour AT TIME ZONE 'UTC')::int AS hour,
       sum(events) AS events
  FROM dw.agg_hourly_activity
 WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
 GROUP BY 1, 2"

overview_params <- function(f) list(f$start, f$end, f$login_state)

overview_totals <- function(q, f) {
  x <- overview_query(f, SQL_OVERVIEW_TOTALS, SQL_DIMS_OVERVIEW_TOTALS)
  row <- q(x$sql, x$params)
  list(events = num0(row$events), page_views = num0(row$page_views), sessions = num0(row$sessions),
       converted_sessions = num0(row$converted_sessions), revenue = num0(row$revenue),
       users = num0(row$users))
}

# Current and previous totals -> one row per KPI with value, previous value and relative change.
overview_kpis <- function(current, previous) {
  conv <- function(t) safe_ratio(t$converted_sessions, t$sessions)
  data.frame(
    metric = c("events", "sessions", "users", "conversion_rate", "revenue"),
    label = c("Events", "Sessions", "Users (distinct visitors)", "Conversion rate", "Revenue"),
    value = c(current$events, current$sessions, current$users, conv(current), current$revenue),
    previous = c(previous$events, previous$sessions, previous$users, conv(previous), previous$revenue),
    stringsAsFactors = FALSE
  ) |> transform(
    # Rates change in percentage points, counts and money relatively.
    change = ifelse(metric == "conversion_rate", value - previous, pct_change(value, previous)),
    change_kind = ifelse(metric == "conversion_rate", "points", "relative")
  )
}

overview_hourly <- function(q, f) {
  x <- overview_query(f, SQL_OVERVIEW_HOURLY, SQL_DIMS_OVERVIEW_HOURLY)
  q(x$sql, x$params)
}
overview_daily <- function(q, f) {
  x <- overview_query(f, SQL_OVERVIEW_DAILY, SQL_DIMS_OVERVIEW_DAILY)
  q(x$sql, x$params)
}

WEEKDAYS <- c("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Complete 7 x 24 grid (missing cells = 0) for the heatmap.
overview_heatmap <- function(q, f) {
  x <- overview_query(f, SQL_OVERVIEW_HEATMAP, SQL_DIMS_OVERVIEW_HEATMAP)
  d <- q(x$sql, x$params)
  grid <- expand.grid(weekday = 1:7, hour = 0:23)
  m <- merge(grid, d, all.x = TRUE)
  m$events[is.na(m$events)] <- 0
  m$weekday_label <- factor(WEEKDAYS[m$weekday], levels = rev(WEEKDAYS))
  m
}

# --- with a channel, device or segment filter (dw.agg_hourly_dims; logic/filters.R) ---

SQL_DIMS_OVERVIEW_TOTALS <- paste0("
SELECT coalesce(sum(events), 0) AS events, coalesce(sum(page_views), 0) AS page_views,
       coalesce(sum(sessions), 0) AS sessions, coalesce(sum(converted_sessions), 0) AS converted_sessions,
       coalesce(sum(revenue), 0) AS revenue,
       (SELECT coalesce(sum(clients), 0) FROM dw.agg_daily_users_dims
         WHERE user_login_state = $3 AND channel_group = $4 AND device_category = $5 AND segment = $6
           AND activity_date BETWEEN $1::date AND $2::date AND previous_date < $1::date) AS users
  FROM dw.agg_hourly_dims
 WHERE ", DIMS_WHERE)

SQL_DIMS_OVERVIEW_HOURLY <- paste0("
SELECT activity_hour, sum(events) AS events, sum(sessions) AS sessions
  FROM dw.agg_hourly_dims
 WHERE ", DIMS_WHERE, "
 GROUP BY activity_hour ORDER BY activity_hour")

SQL_DIMS_OVERVIEW_DAILY <- paste0("
SELECT activity_date, sum(events) AS events, sum(sessions) AS sessions, sum(revenue) AS revenue
  FROM dw.agg_hourly_dims
 WHERE ", DIMS_WHERE, "
 GROUP BY activity_date ORDER BY activity_date")

SQL_DIMS_OVERVIEW_HEATMAP <- paste0("
SELECT extract(isodow FROM activity_hour AT TIME ZONE 'UTC')::int AS weekday,
       extract(hour FROM activity_hour AT TIME ZONE 'UTC')::int AS hour,
       sum(events) AS events
  FROM dw.agg_hourly_dims
 WHERE ", DIMS_WHERE, "
 GROUP BY 1, 2")

# The query and its parameters for the filters: the unfiltered aggregates', or dw.agg_hourly_dims's.
overview_query <- function(f, plain, dims) {
  if (dims_filtered(f)) list(sql = dims, params = dims_params(f)) else list(sql = plain, params = overview_params(f))
}
